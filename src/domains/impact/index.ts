import { type ImpactReducer, type ImpactSummary, impactDomain } from '../../core/impact/domain.ts'
import type { ImpactState } from '../../core/impact/state.ts'
import type { DomainPlugin } from '../plugin.ts'

/** Impact actions (Bitgreen's approval flow): the rules in src/core/impact, the node part here. */
export const impactPlugin: DomainPlugin<ImpactState, ImpactReducer, ImpactSummary> = {
  domain: impactDomain,
  node: async () => (await import('./node.ts')).impactNode,
  cli: async () => (await import('./cli/commands.ts')).impactCli,
}
