import { auditPlugin } from './audit/index.ts'
import type { AnyPlugin } from './plugin.ts'

/**
 * The domains this build hosts, in order: the node, the HTTP API, the CLI, the chat and the
 * dashboard loop over this list. A new domain is its folders and one line here.
 */
export const DOMAINS: readonly AnyPlugin[] = [auditPlugin]
