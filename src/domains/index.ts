import { DOMAIN_ENTRIES } from './entries.ts'
import type { AnyPlugin } from './plugin.ts'

/**
 * The plug-ins of the domains this build hosts (the list is `DOMAIN_ENTRIES` in entries.ts),
 * loaded with their rules: what a node hosts. Importing this loads every domain's rules.
 */
export const DOMAINS: readonly AnyPlugin[] = await Promise.all(
  DOMAIN_ENTRIES.map((entry) => entry.plugin()),
)
