import type { Command } from 'commander'
import { withNodeOptions } from '../../../cli/context.ts'
import type { DemoOptions } from './demo-run.ts'

/** Adds `rwa impact demo` to the `impact` command (the demo's code loads when it runs). */
export function addImpactDemo(impact: Command): void {
  withNodeOptions(
    impact
      .command('demo')
      .description(
        'run a small impact community on a node and its devnet: registry, requests, votes, decisions, settlement, withdrawals',
      ),
  )
    .option('--wait <seconds>', "how long to wait for the node's proxy service at each step", '90')
    .addHelpText(
      'after',
      '\nTwo actions, ten auditors in Barcelona and Lisbon (two of them careless), twenty requests\n(three false, two missing a field). Needs a node with a devnet (the default).\n\nExample:\n  $ rwa impact demo',
    )
    .action(async (o: DemoOptions) => (await import('./demo-run.ts')).impactDemo(o))
}
