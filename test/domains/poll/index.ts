import type { DomainPlugin } from '../../../src/domains/plugin.ts'
import { type PollReducer, type PollState, type PollSummary, pollDomain } from './rules.ts'

/** A test-only domain: polls. Registered by the tests that host it, never by src/domains/entries.ts. */
export const pollPlugin: DomainPlugin<PollState, PollReducer, PollSummary> = {
  domain: pollDomain,
  node: async () => (await import('./node.ts')).pollNode,
  cli: async () => (await import('./cli.ts')).pollCli,
}
