import type { Command } from 'commander'
import { contextOf, type GlobalOptions, printJson, withNodeOptions } from '../../../cli/context.ts'
import { BaseError } from '../../../errors/base.ts'
import type { OpId } from '../../../ledger/op-id.ts'

// The owner's commands of `rwa feed`: create a feed, register oracles and signers, name its
// chain. Each op is signed here with --key (default: the local node's operator key) and
// submitted to the node, which judges it on the feed's state and says why when it refuses.

/** Thrown by `rwa feed` for an argument it cannot use. */
export class FeedCliError extends BaseError {
  override name = 'FeedCliError' as const
}

type Ctx = ReturnType<typeof contextOf>

/** A subcommand with the node options, a description and an example. */
function cmd(parent: Command, name: string, description: string, example: string): Command {
  return withNodeOptions(parent.command(name).description(description)).addHelpText(
    'after',
    `\nExample:\n  $ ${example}`,
  )
}

/** A feed's id: `GET /feed/feeds/:ref` by pair or id. */
export async function resolveFeed(ctx: Ctx, ref: string): Promise<{ id: OpId; pair: string }> {
  const feed = await ctx.client.get<{ id: OpId; pair: string }>(
    `/feed/feeds/${encodeURIComponent(ref)}`,
  )
  return { id: feed.id, pair: feed.pair }
}

const whole = (value: string, field: string, min: number, max: number): number => {
  const n = Number(value.trim())
  if (!/^\d+$/.test(value.trim()) || n < min || n > max)
    throw new FeedCliError(`${field} must be a whole number from ${min} to ${max}; got "${value}".`)
  return n
}

/** A percentage ("0.5", "0.5%") as ppm, exactly. */
export function percentToPpm(value: string, field: string): number {
  const m = /^(\d{1,3})(?:\.(\d{1,4}))?%?$/.exec(value.trim())
  if (!m)
    throw new FeedCliError(
      `${field} must be a percentage with at most 4 decimals, such as 0.5 or 0.5%; got "${value}".`,
    )
  const ppm = Number(m[1]) * 10_000 + Number((m[2] ?? '').padEnd(4, '0'))
  if (ppm > 1_000_000) throw new FeedCliError(`${field} must be at most 100%; got "${value}".`)
  return ppm
}

const KEY = /^[0-9a-f]{64}$/
const ADDRESS = /^0x[0-9a-fA-F]{40}$/

function oracleKey(value: string): string {
  const key = value.trim().toLowerCase()
  if (!KEY.test(key))
    throw new FeedCliError(
      `"${value}" is not an oracle key: give its Ed25519 public key, 64 hex digits (rwa key show prints one).`,
    )
  return key
}

/** `<key>:<address>` → a signer entry. */
export function signerEntry(value: string): { key: string; address: string } {
  const [key, address] = value.trim().split(':')
  if (!key || !address || !KEY.test(key.toLowerCase()) || !ADDRESS.test(address))
    throw new FeedCliError(
      `"${value}" is not a signer: give <ed25519 key>:<ethereum address>, as GET /feed/signer of its node shows them.`,
    )
  return { key: key.toLowerCase(), address }
}

const collect = (value: string, previous: string[] = []) => [...previous, value]

async function send(
  ctx: Ctx,
  ref: string,
  type: string,
  body: unknown,
  line: (pair: string) => string,
) {
  const feed = await resolveFeed(ctx, ref)
  const op = await ctx.client.submit(ctx.signer(), { doc: feed.id, type, body })
  if (ctx.json) printJson({ op: op.id, feed: feed.id, type })
  else console.log(`${line(feed.pair)} (op ${op.id}).`)
}

type CreateOptions = GlobalOptions & {
  decimals: string
  window: string
  heartbeat: string
  deviation: string
  minSources: string
  minObservations: string
  maxAge: string
  oracle?: string[]
  signer?: string[]
  threshold?: string
  chainId?: string
  aggregator?: string
  description?: string
}

/** Adds the owner's commands to `rwa feed`. */
export function addFeedAdminCommands(feed: Command): void {
  cmd(
    feed,
    'create',
    'start a feed you own: its pair, decimals, window, oracles and report signers',
    'rwa feed create ETH/USD --decimals 8 --window 10 --oracle <key> --signer <key>:<address> --threshold 1',
  )
    .argument('<pair>', 'the asset pair, BASE/QUOTE (ETH/USD)')
    .option('--decimals <n>', "the prices' decimals (0–18)", '8')
    .option('--window <seconds>', 'seconds per aggregation window (1–3600)', '10')
    .option('--heartbeat <seconds>', 'post a report at least this often', '3600')
    .option('--deviation <percent>', 'post a report when the answer moves this much', '0.5')
    .option('--min-sources <n>', 'sources each attestation needs (1–16)', '1')
    .option(
      '--min-observations <n>',
      'attestations a window needs before its report is signed (1–256)',
      '1',
    )
    .option('--max-age <seconds>', 'how old an attestation may be against its causal clock', '300')
    .option('--oracle <key>', 'an oracle key (repeat for more)', collect)
    .option(
      '--signer <key:address>',
      "a report signer: its node's key and address (repeat)",
      collect,
    )
    .option('--threshold <n>', 'signatures a report needs (default: f+1 for n > 3f)')
    .option('--chain-id <id>', 'the chain reports are signed for')
    .option('--aggregator <address>', 'the FeedAggregator contract on it')
    .option('--description <text>', 'a description (default: the pair)')
    .action(async (pair: string, o: CreateOptions) => {
      const ctx = contextOf(o)
      const signers = (o.signer ?? []).map(signerEntry)
      if (signers.length === 0)
        throw new FeedCliError(
          'A feed needs at least one report signer: --signer <key>:<address> (GET /feed/signer on each signing node).',
        )
      if ((o.chainId === undefined) !== (o.aggregator === undefined))
        throw new FeedCliError('Give --chain-id and --aggregator together, or neither.')
      if (o.aggregator !== undefined && !ADDRESS.test(o.aggregator))
        throw new FeedCliError(`--aggregator "${o.aggregator}" is not an Ethereum address.`)
      const threshold =
        o.threshold === undefined
          ? Math.floor((signers.length - 1) / 3) + 1
          : whole(o.threshold, '--threshold', 1, 64)
      const body = {
        pair,
        ...(o.description ? { description: o.description } : {}),
        decimals: whole(o.decimals, '--decimals', 0, 18),
        window: whole(o.window, '--window', 1, 3600),
        heartbeat: whole(o.heartbeat, '--heartbeat', 1, 7 * 86_400),
        deviation: percentToPpm(o.deviation, '--deviation'),
        minSources: whole(o.minSources, '--min-sources', 1, 16),
        minObservations: whole(o.minObservations, '--min-observations', 1, 256),
        maxAge: whole(o.maxAge, '--max-age', 1, 86_400),
        oracles: (o.oracle ?? []).map(oracleKey),
        signers,
        threshold,
        ...(o.chainId !== undefined && o.aggregator !== undefined
          ? {
              chain: {
                chainId: whole(o.chainId, '--chain-id', 1, Number.MAX_SAFE_INTEGER),
                aggregator: o.aggregator,
              },
            }
          : {}),
      }
      const op = await ctx.client.submit(ctx.signer(), { doc: null, type: 'feed.create', body })
      if (ctx.json) printJson({ feed: op.id, pair })
      else
        console.log(
          `Feed ${pair} created (id ${op.id}): ${body.oracles.length} oracle(s), ${signers.length} signer(s), threshold ${threshold}.`,
        )
    })

  const oracle = feed.command('oracle').description("register or remove a feed's oracles")
  for (const [verb, type, past] of [
    ['add', 'feed.oracle.add', 'registered'],
    ['remove', 'feed.oracle.remove', 'removed'],
  ] as const)
    cmd(
      oracle,
      verb,
      `${verb} an oracle key (the feed's owner)`,
      `rwa feed oracle ${verb} ETH/USD <key>`,
    )
      .argument('<feed>', 'the pair or feed id')
      .argument('<key>', "the oracle's Ed25519 public key")
      .action(async (ref: string, key: string, o: GlobalOptions) => {
        const ctx = contextOf(o)
        await send(
          ctx,
          ref,
          type,
          { oracle: oracleKey(key) },
          (pair) => `Oracle ${key.slice(0, 12)}… ${past} in ${pair}`,
        )
      })

  cmd(
    feed,
    'signers',
    "replace a feed's report signers and threshold (the feed's owner)",
    'rwa feed signers ETH/USD --signer <key>:<address> --signer … --threshold 2',
  )
    .argument('<feed>', 'the pair or feed id')
    .option('--signer <key:address>', 'a signer (repeat for each)', collect)
    .option('--threshold <n>', 'signatures a report needs (default: f+1 for n > 3f)')
    .action(async (ref: string, o: GlobalOptions & { signer?: string[]; threshold?: string }) => {
      const ctx = contextOf(o)
      const signers = (o.signer ?? []).map(signerEntry)
      if (signers.length === 0)
        throw new FeedCliError('Give at least one --signer <key>:<address>.')
      const threshold =
        o.threshold === undefined
          ? Math.floor((signers.length - 1) / 3) + 1
          : whole(o.threshold, '--threshold', 1, 64)
      await send(
        ctx,
        ref,
        'feed.signers.set',
        { signers, threshold },
        (pair) => `${pair} now has ${signers.length} signer(s), threshold ${threshold}`,
      )
    })

  cmd(
    feed,
    'chain',
    "name the chain and aggregator contract a feed's reports are signed for (the feed's owner)",
    'rwa feed chain ETH/USD --chain-id 31337 --aggregator 0x…',
  )
    .argument('<feed>', 'the pair or feed id')
    .requiredOption('--chain-id <id>', 'the chain id')
    .requiredOption('--aggregator <address>', 'the FeedAggregator contract')
    .action(async (ref: string, o: GlobalOptions & { chainId: string; aggregator: string }) => {
      const ctx = contextOf(o)
      if (!ADDRESS.test(o.aggregator))
        throw new FeedCliError(`--aggregator "${o.aggregator}" is not an Ethereum address.`)
      const chainId = whole(o.chainId, '--chain-id', 1, Number.MAX_SAFE_INTEGER)
      await send(
        ctx,
        ref,
        'feed.chain.set',
        { chainId, aggregator: o.aggregator },
        (pair) => `${pair} reports to ${o.aggregator} on chain ${chainId}`,
      )
    })

  cmd(feed, 'list', 'the feeds the node holds, with their last answer', 'rwa feed list').action(
    async (o: GlobalOptions) => {
      const ctx = contextOf(o)
      const { feeds } = await ctx.client.get<{
        feeds: {
          id: string
          pair: string
          state: string
          oracles: number
          lastAnswerText: string | null
        }[]
      }>('/feed/feeds')
      if (ctx.json) return printJson({ feeds })
      if (feeds.length === 0) return console.log('No feeds yet; start one with "rwa feed create".')
      for (const f of feeds)
        console.log(
          `${f.pair.padEnd(12)} ${f.state.padEnd(8)} ${String(f.oracles).padStart(3)} oracle(s)  ${f.lastAnswerText ?? '—'}  ${f.id}`,
        )
    },
  )
}
