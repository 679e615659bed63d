import type { Command } from 'commander'
import type { NodeClient } from '../../../cli/client.ts'
import {
  bearerClient,
  contextOf,
  type GlobalOptions,
  printJson,
  withNodeOptions,
} from '../../../cli/context.ts'
import { formatAmount, type TokenUnit, toTokenUnit } from '../../../core/amount.ts'
import { BaseError } from '../../../errors/base.ts'
import type { ChannelRow, ChannelsOverview, ClaimResult } from '../types.ts'
import { MAX_CLAIM_CHANNELS, MAX_EXPIRING_WITHIN } from '../types.ts'

// `rwa treasurer …`: the service operator's view of its payment channels and its claims, through
// the node's operator routes `/channel/channels` and `/channel/claim` (the node holds the
// recipient key and sends the transactions). The verbs are those of issue 21.

/** Thrown by `rwa treasurer` for an argument it cannot use or an answer it cannot read. */
export class TreasurerCliError extends BaseError {
  override name = 'TreasurerCliError' as const
  override readonly kind = 'invalid' as const
}

type TreasurerOptions = GlobalOptions & { token?: string }

/** Adds `rwa treasurer list | claim <id...> | claim-all | claim-expiring [--within <blocks>]`. */
export function addTreasurerCommands(program: Command): void {
  const treasurer = program
    .command('treasurer')
    .description("claim what clients signed to this node's paid routes (its payment channels)")
    .addHelpText(
      'after',
      '\nExample:\n  $ rwa treasurer list\n  $ rwa treasurer claim-expiring --within 200',
    )
  cmd(treasurer, 'list', 'the channels paying this service and its escrow balance', 'list')
    .option('--token <file>', "bearer token file (default: the data dir's operator token)")
    .action(async (o: TreasurerOptions) => {
      const { overviewFromWire } = await import('./treasurer-wire.ts')
      const overview = overviewFromWire(await clientOf(o).get('/channel/channels'))
      if (contextOf(o).json) printJson(overview)
      else console.log(formatOverview(overview))
    })
  cmd(treasurer, 'claim', 'claim these channels on chain (one multiChannelClaim)', 'claim 3 7')
    .argument('<id...>', 'channel ids')
    .option('--token <file>', "bearer token file (default: the data dir's operator token)")
    .action((ids: string[], o: TreasurerOptions) => {
      if (ids.length > MAX_CLAIM_CHANNELS)
        throw new TreasurerCliError(
          `${ids.length} channels is more than one claim takes (${MAX_CLAIM_CHANNELS}); split them.`,
        )
      return claim(o, { channels: ids.map(channelId) })
    })
  cmd(treasurer, 'claim-all', 'claim every channel with money unclaimed', 'claim-all')
    .option('--token <file>', "bearer token file (default: the data dir's operator token)")
    .action((o: TreasurerOptions) => claim(o, { all: true }))
  cmd(
    treasurer,
    'claim-expiring',
    'claim the channels with money unclaimed that expire soon, nearest first',
    'claim-expiring --within 200',
  )
    .option('--within <blocks>', 'claim those expiring within this many blocks', '200')
    .option('--token <file>', "bearer token file (default: the data dir's operator token)")
    .action((o: TreasurerOptions & { within: string }) =>
      claim(o, { expiringWithin: blocksOf(o.within) }),
    )
}

/** A subcommand with the node options, a description and an example. */
function cmd(parent: Command, name: string, description: string, example: string): Command {
  return withNodeOptions(parent.command(name).description(description)).addHelpText(
    'after',
    `\nExample:\n  $ rwa treasurer ${example}`,
  )
}

async function claim(o: TreasurerOptions, body: Record<string, unknown>): Promise<void> {
  const client = clientOf(o)
  const { claimResultFromWire } = await import('./treasurer-wire.ts')
  const result = claimResultFromWire(await client.post('/channel/claim', body))
  if (contextOf(o).json) return printJson(result)
  console.log(formatClaimResult(result, await unitOf(client)))
}

/** A client of the node's operator routes, with the bearer token of `--token` or the operator's. */
function clientOf(o: TreasurerOptions): NodeClient {
  return bearerClient(o, {
    token: o.token,
    required: true,
    whose: "the node operator's bearer token",
    fail: (message, cause) => new TreasurerCliError(message, { cause }),
  })
}

/** The escrow token's unit from the service's terms (`GET /channel`), to show amounts by. */
async function unitOf(client: NodeClient): Promise<TokenUnit> {
  try {
    const { token } = await client.get<{
      token: { address: string; symbol: unknown; decimals: unknown }
    }>('/channel')
    return toTokenUnit(String(token.address), token.symbol, token.decimals)
  } catch {
    // Without the terms the amounts still print, in base units.
    return { address: 'the escrow token', symbol: null, decimals: null }
  }
}

/** Reads a channel id argument: a decimal number. */
export function channelId(value: string): string {
  const text = value.trim()
  if (!/^\d{1,78}$/.test(text))
    throw new TreasurerCliError(
      `"${value.slice(0, 90)}" is not a channel id; give its decimal number, as "rwa treasurer list" shows it.`,
    )
  return text
}

/** Reads `--within`: a whole number of blocks. */
export function blocksOf(value: string): number {
  const text = value.trim()
  const n = Number(text)
  if (!/^\d{1,10}$/.test(text) || n > MAX_EXPIRING_WITHIN)
    throw new TreasurerCliError(
      `--within "${value.slice(0, 40)}" is not a number of blocks from 0 to ${MAX_EXPIRING_WITHIN}.`,
    )
  return n
}

const short = (address: string) => `${address.slice(0, 6)}…${address.slice(-4)}`

/** When a channel expires, as a countdown. */
export function formatExpiry(row: Pick<ChannelRow, 'expiration' | 'blocksLeft'>): string {
  if (row.blocksLeft <= 0n) return `block ${row.expiration}, expired`
  return `block ${row.expiration}, in ${row.blocksLeft} block${row.blocksLeft === 1n ? '' : 's'}`
}

/** The treasurer's overview as a person reads it: balance, then one line per channel. */
export function formatOverview(o: ChannelsOverview): string {
  const money = (n: bigint) => formatAmount(n, o.token)
  const unclaimed = o.channels.reduce((sum, row) => sum + row.unclaimed, 0n)
  const open = o.channels.filter((row) => row.unclaimed > 0n).length
  const lines = [
    `Escrow ${o.escrow}, recipient ${o.recipient}, block ${o.currentBlock}.`,
    `Escrow balance: ${money(o.balance)} (claimed, to withdraw).`,
    `Unclaimed: ${money(unclaimed)} in ${open} channel${open === 1 ? '' : 's'}.`,
  ]
  if (o.channels.length === 0) return [...lines, '', 'No channels pay this service yet.'].join('\n')
  const rows = o.channels.map((row) => [
    String(row.channelId),
    short(row.sender),
    money(row.value),
    money(row.authorised),
    money(row.unclaimed),
    formatExpiry(row),
    notesOf(row, money),
  ])
  const header = ['channel', 'sender', 'value', 'authorised', 'unclaimed', 'expires', 'notes']
  return [...lines, '', table(header, rows)].join('\n')
}

function notesOf(row: ChannelRow, money: (n: bigint) => string): string {
  const notes: string[] = []
  if (row.claiming)
    notes.push(`claiming ${money(row.claiming.amount)} at nonce ${row.claiming.nonce}`)
  if (row.busy) notes.push('call in progress')
  return notes.join('; ')
}

/** What a claim did, as a person reads it. */
export function formatClaimResult(result: ClaimResult, unit: TokenUnit): string {
  const total = result.claimed.reduce((sum, c) => sum + c.amount, 0n)
  const n = result.claimed.length
  const t = result.transactions.length
  const lines =
    n === 0
      ? ['Nothing claimed.']
      : [
          `Claimed ${formatAmount(total, unit)} from ${n} channel${n === 1 ? '' : 's'} in ${t} transaction${t === 1 ? '' : 's'}:`,
          ...result.transactions.map((x) => `  tx ${x.tx} (gas ${x.gasUsed})`),
          ...result.claimed.map(
            (c) => `  channel ${c.channelId} at nonce ${c.nonce}: ${formatAmount(c.amount, unit)}`,
          ),
        ]
  if (result.skipped.length > 0)
    lines.push(
      `Skipped ${result.skipped.length}:`,
      ...result.skipped.map((s) => `  channel ${s.channelId}: ${s.reason}`),
    )
  return lines.join('\n')
}

/** Rows as aligned columns under a header. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}
