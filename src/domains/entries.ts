import { auditEntry } from './audit/entry.ts'
import { channelEntry } from './channel/entry.ts'
import { feedEntry } from './feed/entry.ts'
import { impactEntry } from './impact/entry.ts'
import { jsonEntry } from './json/entry.ts'
import type { DomainEntry } from './plugin.ts'
import { swapEntry } from './swap/entry.ts'

/**
 * The domains this build hosts, in order: the node, the HTTP API, the CLI, the chat and the
 * dashboard loop over this list. A new domain is its folders and one line here. Entries load
 * nothing until asked, so the `rwa` command line registers every domain's commands without
 * importing their rules (see `DOMAINS` in index.ts for the loaded plug-ins).
 */
export const DOMAIN_ENTRIES: readonly DomainEntry[] = [
  auditEntry,
  impactEntry,
  feedEntry,
  channelEntry,
  swapEntry,
  jsonEntry,
]
