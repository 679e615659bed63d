import type { CliPart } from '../../plugin.ts'
import { addImpactDemo } from './impact-demo.ts'
import { addQueryCommands } from './query-commands.ts'
import { addRegistryCommands } from './registry-commands.ts'
import { addRequestCommands } from './request-commands.ts'

/**
 * `rwa impact …`: Bitgreen's extrinsics as verbs (client-signed with --key, each checked first on
 * the community recomputed here from its ops), the proxy's verbs through the node's routes, and a
 * query per store.
 */
export const impactCli: CliPart = {
  register(program) {
    const impact = program
      .command('impact')
      .description(
        'impact actions (Bitgreen): a community rewards approved actions; ops are signed here with --key',
      )
      .addHelpText(
        'after',
        '\nExample:\n  $ rwa impact create "Green Barcelona"\n  $ rwa impact create-category "Green Barcelona" 1 "Trees planted"\n  $ rwa impact requests "Green Barcelona" --status VOTING',
      )
    addRequestCommands(impact)
    addRegistryCommands(impact)
    addQueryCommands(impact)
    addImpactDemo(impact)
  },
}
