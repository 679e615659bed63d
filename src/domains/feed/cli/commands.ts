import type { CliPart } from '../../plugin.ts'
import { addFeedAdminCommands } from './admin-commands.ts'
import { registerAggregatorCommands } from './aggregator-commands.ts'
import { registerFeedsDemo } from './demo-run.ts'
import { registerOracleCommands } from './oracle-run.ts'
import { registerFeedQueryCommands } from './query-commands.ts'

/**
 * `rwa feed …` (the owner's changes, queries, the aggregator contract), `rwa oracle run` (an
 * oracle process) and `rwa feeds demo`.
 */
export const feedCli: CliPart = {
  register(program) {
    const feed = program
      .command('feed')
      .description(
        'price feeds: oracles attest, nodes aggregate (weighted median) and post threshold-signed reports on chain',
      )
      .addHelpText(
        'after',
        '\nExample:\n  $ rwa feed create ETH/USD --decimals 8 --oracle <key> --signer <key>:<address>\n  $ rwa oracle run --feed ETH/USD --simulate 2500\n  $ rwa feed latest ETH/USD',
      )
    addFeedAdminCommands(feed)
    registerFeedQueryCommands(feed)
    registerAggregatorCommands(feed)
    registerOracleCommands(program)
    registerFeedsDemo(program)
  },
}
