import {
  type JsonReducer,
  type JsonState,
  type JsonSummary,
  jsonDomain,
} from '../../core/json/domain.ts'
import type { DomainPlugin } from '../plugin.ts'

/** JSON documents (a BFT JSON CRDT): the rules in src/core/json, the node part here. */
export const jsonPlugin: DomainPlugin<JsonState, JsonReducer, JsonSummary> = {
  domain: jsonDomain,
  node: async () => (await import('./node.ts')).jsonNode,
  cli: async () => (await import('./cli/commands.ts')).jsonCli,
}
