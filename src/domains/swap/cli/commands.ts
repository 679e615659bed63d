import type { Command } from 'commander'
import type { NodeClient } from '../../../cli/client.ts'
import {
  bearerClient,
  contextOf,
  type GlobalOptions,
  printJson,
  withNodeOptions,
} from '../../../cli/context.ts'
import type { CliPart } from '../../plugin.ts'
import type { SwapOverview } from '../types.ts'
import { SwapCliError } from './errors.ts'

// `rwa swap …`: the operator's view of SWAP accounting (issue 22) through the node's routes:
// who owes whom for serving sync (`GET /swap`, `/swap/peers`), the cheques both ways
// (`/swap/cheques`), and the operator's moves: cashing a peer's cheque, and deposits into and
// withdrawals from the node's chequebook (`POST /swap/cash | deposit | withdraw`). Registering
// loads nothing heavy: each action imports what it uses.

type SwapOptions = GlobalOptions & { token?: string }

/** The SWAP words the commands use, after `rwa swap --help`. */
const SWAP_WORDS = `
SWAP words:
  balance               what a peer owes this node ("owes us") or this node owes it ("we owe"),
                        in the chequebook's token; serving sync to a peer adds to what it owes
  payment threshold     a debt this large is paid with a cheque
  disconnect threshold  a peer owing this much is cut off: not served until it pays
  refresh rate          what is forgiven of a debt each second, without a cheque
  cheque                a chequebook's signed promise to a beneficiary
  cumulative payout     all a chequebook has promised a beneficiary so far, over all its cheques
                        (each new cheque raises it; cashing pays what was not paid out yet)
  cashing               sending a received cheque to the chain to be paid
  bounced               the chequebook could not cover a cheque: its issuer is never served again

Examples:
  $ rwa swap peers
  $ rwa swap cheques
  $ rwa swap cash 12D3KooW…QAJU5SA
  $ rwa swap deposit "12.5 TT"`

/** `rwa swap peers | cheques | cash <peer> | deposit <amount> | withdraw <amount>`. */
export const swapCli: CliPart = {
  register(program) {
    addSwapCommands(program)
  },
}

/** Adds `rwa swap …` to the program. */
export function addSwapCommands(program: Command): void {
  const swap = program
    .command('swap')
    .description('SWAP: what this node and its peers owe each other for serving sync, and cheques')
    .addHelpText('after', SWAP_WORDS)
  cmd(
    swap,
    'peers',
    "each peer's balance (who owes whom), standing, thresholds (payment / disconnect) and traffic served and received",
    'peers',
  ).action(async (o: SwapOptions) => {
    const client = clientOf(o, false)
    const wire = await import('../wire.ts')
    if (contextOf(o).json)
      return printJson({ peers: wire.peersFromWire(await client.get('/swap/peers')) })
    const [overview, peers] = await Promise.all([
      client.get('/swap').then(wire.overviewFromWire),
      client.get('/swap/peers').then(wire.peersFromWire),
    ])
    const { formatPeers } = await import('./format.ts')
    console.log(formatPeers(overview, peers))
  })
  cmd(
    swap,
    'cheques',
    'the last cheque each way with each peer: cumulative payout, what it added, what was cashed (received) and whether it bounced',
    'cheques',
  ).action(async (o: SwapOptions) => {
    const client = clientOf(o, false)
    const wire = await import('../wire.ts')
    const cheques = wire.chequesFromWire(await client.get('/swap/cheques'))
    if (contextOf(o).json) return printJson(cheques)
    const { token } = wire.overviewFromWire(await client.get('/swap'))
    const { formatCheques } = await import('./format.ts')
    console.log(formatCheques(token, cheques))
  })
  addCashCommand(swap)
  addMoveCommand(swap, 'deposit', "move tokens from the node's Ethereum key into its chequebook")
  addMoveCommand(
    swap,
    'withdraw',
    "move tokens from the chequebook back to the node's Ethereum key (at most its liquid balance: what hard deposits do not reserve)",
  )
}

function addCashCommand(swap: Command): void {
  cmd(
    swap,
    'cash',
    "cash a peer's last cheque on chain: pays its cumulative payout less what its chequebook paid us before; a shortfall bounces the cheque (operator only)",
    'cash 12D3KooW…QAJU5SA',
  )
    .argument('<peer>', 'the peer: its id, or the short form "rwa swap peers" shows')
    .action(async (peerText: string, o: SwapOptions) => {
      const client = clientOf(o, true)
      const wire = await import('../wire.ts')
      const { matchPeer } = await import('./args.ts')
      const peer = wire.isPeerId(peerText.trim())
        ? peerText.trim()
        : matchPeer(
            peerText,
            wire.peersFromWire(await client.get('/swap/peers')).map((p) => p.peer),
          )
      const result = wire.cashFromWire(await client.post('/swap/cash', { peer }))
      if (contextOf(o).json) return printJson(result)
      const { formatCash, swapUnit } = await import('./format.ts')
      console.log(formatCash(result, swapUnit((await overviewOf(client)).token)))
    })
}

function addMoveCommand(swap: Command, verb: 'deposit' | 'withdraw', what: string): void {
  cmd(swap, verb, `${what} (operator only)`, `${verb} "12.5 TT"`)
    .argument(
      '<amount>',
      'base units ("12500000"), or a decimal with the token\'s symbol ("12.5 TT")',
    )
    .action(async (amountText: string, o: SwapOptions) => {
      const client = clientOf(o, true)
      const { amountArgument } = await import('./args.ts')
      const { formatMove, swapUnit } = await import('./format.ts')
      const wire = await import('../wire.ts')
      const unit = swapUnit((await overviewOf(client)).token)
      const amount = amountArgument(amountText, unit)
      const move = wire.moveFromWire(await client.post(`/swap/${verb}`, { amount: String(amount) }))
      if (contextOf(o).json) return printJson({ amount, ...move })
      console.log(formatMove(verb, amount, move, unit))
    })
}

/** A subcommand with the node options, `--token`, a description and an example. */
function cmd(parent: Command, name: string, description: string, example: string): Command {
  return withNodeOptions(parent.command(name).description(description))
    .option('--token <file>', "bearer token file (default: the data dir's operator token)")
    .addHelpText('after', `\nExample:\n  $ rwa swap ${example}`)
}

async function overviewOf(client: NodeClient): Promise<SwapOverview> {
  const { overviewFromWire } = await import('../wire.ts')
  return overviewFromWire(await client.get('/swap'))
}

/**
 * A client of the node's SWAP routes with the bearer token of `--token`, else the operator's
 * when the data dir holds it. The operator's moves need one; reading goes without when there is
 * none (the node says whether it needs one).
 */
function clientOf(o: SwapOptions, operator: boolean): NodeClient {
  return bearerClient(o, {
    token: o.token,
    required: operator,
    whose: "the node operator's bearer token",
    fail: (message, cause) => new SwapCliError(message, { cause }),
  })
}
