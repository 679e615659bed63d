import type { Command } from 'commander'
import type { Address, PublicClient } from 'viem'
import type { Wallet } from '../../../chain/escrow.ts'
import type { FeedConfig, LatestRound } from '../../../chain/feeds.ts'
import { printJson } from '../../../cli/context.ts'
import { BaseError } from '../../../errors/base.ts'
import { readEthKeyFile } from '../../../store/key-file.ts'

// `rwa feed aggregator …`: a feed's FeedAggregator on any EVM chain, from the owner's Ethereum
// key file. Registering imports nothing heavy: each action imports viem and the chain code.

/** Thrown when an argument of `rwa feed aggregator` cannot be read. */
export class AggregatorCliError extends BaseError {
  override name = 'AggregatorCliError' as const
  override readonly kind = 'invalid' as const
}

type ChainOptions = { rpc: string; json?: boolean }
type OwnerOptions = ChainOptions & { ownerKey: string }
type DeployOptions = OwnerOptions & {
  pair: string
  decimals: string
  signers: string
  threshold: string
  maxReportAge: string
}
type SignersOptions = OwnerOptions & { set: string; threshold: string }

/** Longest list of signers read from the command line, in characters (64 addresses and commas). */
const MAX_SIGNERS_TEXT = 64 * 43

/** A whole number from `min` to `max`, or an error naming the option. */
export function parseWhole(text: string, option: string, min: number, max: number): number {
  const trimmed = text.trim()
  const value = /^\d{1,10}$/.test(trimmed) ? Number(trimmed) : Number.NaN
  if (!(value >= min && value <= max))
    throw new AggregatorCliError(
      `${option} "${text.slice(0, 40)}" is not a whole number from ${min} to ${max}.`,
    )
  return value
}

/** An address, or an error naming where it came from. */
export function parseAddress(text: string, what: string): Address {
  const trimmed = text.trim()
  if (!/^0x[0-9a-fA-F]{40}$/.test(trimmed))
    throw new AggregatorCliError(
      `${what} "${trimmed.slice(0, 60)}" is not an Ethereum address; give 0x and 40 hex digits.`,
    )
  return trimmed as Address
}

/** A comma-separated list of signer addresses. */
export function parseSignerList(text: string, option: string): Address[] {
  if (text.length > MAX_SIGNERS_TEXT)
    throw new AggregatorCliError(
      `${option} is ${text.length} characters long; an aggregator takes at most 64 signers.`,
    )
  const items = text.split(',').filter((item) => item.trim() !== '')
  if (items.length === 0)
    throw new AggregatorCliError(`${option} lists no signer; give addresses separated by commas.`)
  return items.map((item, i) => parseAddress(item, `${option} entry ${i + 1}`))
}

/** A pair such as "ETH/USD" as the aggregator's description, "ETH / USD" (Chainlink's form). */
export function pairDescription(pair: string): string {
  const match = /^\s*([A-Za-z0-9.]{1,16})\s*\/\s*([A-Za-z0-9.]{1,16})\s*$/.exec(pair)
  if (!match)
    throw new AggregatorCliError(
      `--pair "${pair.slice(0, 40)}" is not a pair such as ETH/USD (base/quote, letters and digits).`,
    )
  return `${match[1]!.toUpperCase()} / ${match[2]!.toUpperCase()}`
}

/** An answer scaled by `decimals` as a decimal number, trailing zeros trimmed ("2500.12"). */
export function formatAnswer(answer: bigint, decimals: number): string {
  const sign = answer < 0n ? '-' : ''
  const digits = (answer < 0n ? -answer : answer).toString().padStart(decimals + 1, '0')
  const whole = digits.slice(0, digits.length - decimals)
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '')
  return `${sign}${whole}${fraction ? `.${fraction}` : ''}`
}

/** Clients on the chain at `rpc` (its chain id asked first), with the owner's key when given. */
async function connect(rpc: string, ownerKey?: string) {
  if (!/^https?:\/\/[^/\s]+/.test(rpc))
    throw new AggregatorCliError(
      `--rpc "${rpc.slice(0, 60)}" is not an RPC URL; give one such as http://127.0.0.1:8545.`,
    )
  const key = ownerKey === undefined ? undefined : readEthKeyFile(ownerKey)
  const { createPublicClient, createWalletClient, http } = await import('viem')
  const { privateKeyToAccount } = await import('viem/accounts')
  const { chainFor } = await import('../../../chain/escrow.ts')
  const { chainFailure } = await import('../../../chain/payments.ts')
  let chainId: number
  try {
    chainId = await createPublicClient({ transport: http(rpc) }).getChainId()
  } catch (error) {
    throw chainFailure(error, `reach the chain at ${rpc}`)
  }
  const chain = chainFor(chainId, rpc)
  const client = createPublicClient({ chain, transport: http(rpc) }) as PublicClient
  const wallet =
    key === undefined
      ? undefined
      : (createWalletClient({
          account: privateKeyToAccount(key),
          chain,
          transport: http(rpc),
        }) as Wallet)
  return { chainId, client, wallet }
}

/**
 * Adds `aggregator deploy | signers | show` under `rwa feed`: deploy a FeedAggregator, replace its
 * signers, and show its configuration and latest round.
 */
export function registerAggregatorCommands(feed: Command): void {
  const aggregator = feed
    .command('aggregator')
    .description("a feed's on-chain FeedAggregator (AggregatorV3Interface), from the owner's key")
  addDeployCommand(aggregator)
  addSignersCommand(aggregator)
  addShowCommand(aggregator)
}

function addDeployCommand(aggregator: Command): void {
  aggregator
    .command('deploy')
    .description('deploy a FeedAggregator; the owner key becomes its owner; prints its address')
    .requiredOption('--rpc <url>', "the chain's JSON-RPC URL")
    .requiredOption('--owner-key <file>', 'Ethereum key file of the owner (mode 0600)')
    .requiredOption('--pair <pair>', 'what the feed prices, e.g. ETH/USD')
    .requiredOption('--decimals <n>', 'decimals of the answers (0–18)')
    .requiredOption('--signers <addresses>', 'report signers, comma-separated; signer i is index i')
    .requiredOption('--threshold <n>', 'signatures a report needs (f + 1 to n)')
    .option('--max-report-age <seconds>', 'how long after its window a report is accepted', '3600')
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ rwa feed aggregator deploy --rpc http://127.0.0.1:8545 --owner-key owner.eth --pair ETH/USD --decimals 8 --signers 0xA…,0xB…,0xC… --threshold 2',
    )
    .action(async (o: DeployOptions) => {
      const params = {
        decimals: parseWhole(o.decimals, '--decimals', 0, 18),
        description: pairDescription(o.pair),
        signers: parseSignerList(o.signers, '--signers'),
        threshold: parseWhole(o.threshold, '--threshold', 1, 64),
        maxReportAge: parseWhole(o.maxReportAge, '--max-report-age', 1, 2 ** 32 - 1),
      }
      const { assertSignerSet } = await import('../../../core/feed/report.ts')
      assertSignerSet(params.signers, params.threshold)
      const { chainId, client, wallet } = await connect(o.rpc, o.ownerKey)
      const { deployFeedAggregator } = await import('../../../chain/feeds.ts')
      const address = await deployFeedAggregator(wallet!, client, params)
      if (o.json) return printJson({ aggregator: address, chainId, ...params })
      console.log(address)
    })
}

function addSignersCommand(aggregator: Command): void {
  aggregator
    .command('signers')
    .description("replace an aggregator's signers and threshold (owner only)")
    .argument('<address>', 'the aggregator')
    .requiredOption('--rpc <url>', "the chain's JSON-RPC URL")
    .requiredOption('--owner-key <file>', 'Ethereum key file of the owner (mode 0600)')
    .requiredOption('--set <addresses>', 'the new signers, comma-separated; signer i is index i')
    .requiredOption('--threshold <n>', 'signatures a report needs (f + 1 to n)')
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ rwa feed aggregator signers 0xAgg… --rpc http://127.0.0.1:8545 --owner-key owner.eth --set 0xA…,0xB…,0xC… --threshold 2',
    )
    .action(async (target: string, o: SignersOptions) => {
      const address = parseAddress(target, 'The aggregator')
      const signers = parseSignerList(o.set, '--set')
      const threshold = parseWhole(o.threshold, '--threshold', 1, 64)
      const { assertSignerSet } = await import('../../../core/feed/report.ts')
      assertSignerSet(signers, threshold)
      const { client, wallet } = await connect(o.rpc, o.ownerKey)
      const { setFeedSigners } = await import('../../../chain/feeds.ts')
      const tx = await setFeedSigners(wallet!, client, address, signers, threshold)
      if (o.json) return printJson({ aggregator: address, signers, threshold, tx })
      console.log(
        `Aggregator ${address} now needs ${threshold} of ${signers.length} signers; tx ${tx}.`,
      )
    })
}

function addShowCommand(aggregator: Command): void {
  aggregator
    .command('show')
    .description("an aggregator's configuration and latest round")
    .argument('<address>', 'the aggregator')
    .requiredOption('--rpc <url>', "the chain's JSON-RPC URL")
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      '\nExample:\n  $ rwa feed aggregator show 0xAgg… --rpc http://127.0.0.1:8545',
    )
    .action(async (target: string, o: ChainOptions) => {
      const address = parseAddress(target, 'The aggregator')
      const { chainId, client } = await connect(o.rpc)
      const { readFeedConfig, readLatestRound } = await import('../../../chain/feeds.ts')
      const [config, latest] = await Promise.all([
        readFeedConfig(client, address),
        readLatestRound(client, address),
      ])
      if (o.json) return printJson(showJson(address, chainId, config, latest))
      console.log(showText(address, chainId, config, latest).join('\n'))
    })
}

/** `show --json`: the configuration, and the latest round with its answer as text. */
function showJson(
  address: Address,
  chainId: number,
  config: FeedConfig,
  latest: LatestRound | undefined,
) {
  return {
    aggregator: address,
    chainId,
    ...config,
    latest: latest ? { ...latest, answerText: formatAnswer(latest.answer, config.decimals) } : null,
  }
}

const time = (seconds: bigint) => new Date(Number(seconds) * 1000).toISOString()

function showText(
  address: Address,
  chainId: number,
  config: FeedConfig,
  latest: LatestRound | undefined,
): string[] {
  const lines = [
    `Aggregator ${address} on chain ${chainId}: "${config.description}", ${config.decimals} decimals, version ${config.version}`,
    `Owner: ${config.owner}`,
    `Signers: ${config.threshold} of ${config.signers.length} sign a report`,
    ...config.signers.map((signer, i) => `  ${i}  ${signer}`),
    `Reports are accepted up to ${config.maxReportAge} s after their window ends.`,
  ]
  if (!latest) return [...lines, 'No report accepted yet.']
  return [
    ...lines,
    `Latest round ${latest.roundId}: ${formatAnswer(latest.answer, config.decimals)} (${latest.answer}), window ${latest.window} from ${time(latest.startedAt)}, posted ${time(latest.updatedAt)}`,
  ]
}
