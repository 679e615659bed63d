import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command, CommanderError } from 'commander'
import {
  type Address,
  createPublicClient,
  createWalletClient,
  http,
  type PublicClient,
  toHex,
} from 'viem'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { type Devnet, startDevnet } from '../src/chain/devnet.ts'
import { chainFor, type Wallet } from '../src/chain/escrow.ts'
import {
  attestationIdsHash,
  FeedAggregatorError,
  FeedReportError,
  feedReportDigest,
  transmitReport,
} from '../src/chain/feeds.ts'
import {
  AggregatorCliError,
  formatAnswer,
  registerAggregatorCommands,
} from '../src/domains/feed/cli/aggregator-commands.ts'
import { KeyFileError, writeEthKeyFile } from '../src/store/key-file.ts'
import { dev, hasAnvil } from './fixtures/escrow-chain.ts'

// `rwa feed aggregator deploy | signers | show` against anvil, through a commander program built
// here with only these commands (the feed domain's entry, which registers them for `rwa`, is not
// part of this change).

/** Runs `rwa <args>` in this process and returns what it printed. */
async function rwa(...args: string[]): Promise<string> {
  const program = new Command('rwa').exitOverride().configureOutput({
    writeOut: () => {},
    writeErr: () => {},
  })
  registerAggregatorCommands(program.command('feed'))
  const printed: string[] = []
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
    printed.push(parts.map(String).join(' '))
  })
  try {
    await program.parseAsync(args, { from: 'user' })
  } finally {
    log.mockRestore()
  }
  return printed.join('\n')
}

/** The error `rwa <args>` fails with. */
async function failure(...args: string[]): Promise<Error> {
  const error = await rwa(...args).then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(error, `rwa ${args.join(' ')} succeeded`).toBeInstanceOf(Error)
  return error as Error
}

describe('formatAnswer', () => {
  test('shows an answer by its decimals, trailing zeros trimmed', () => {
    expect(formatAnswer(250_012_000_000n, 8)).toBe('2500.12')
    expect(formatAnswer(-5n, 2)).toBe('-0.05')
    expect(formatAnswer(1_000n, 0)).toBe('1000')
    expect(formatAnswer(300n, 2)).toBe('3')
  })
})

const run = hasAnvil()

describe.skipIf(!run)('rwa feed aggregator', () => {
  let devnet: Devnet
  let client: PublicClient
  let dir: string
  let ownerKey: string
  let strangerKey: string
  let address: Address
  const signers = [dev(1), dev(2), dev(3), dev(4)]
  const signerList = signers.map((s) => s.address).join(',')

  const keyFile = (name: string, account: ReturnType<typeof dev>, mode = 0o600) => {
    const path = join(dir, name)
    writeEthKeyFile(path, toHex(account.getHdKey().privateKey!))
    chmodSync(path, mode)
    return path
  }

  beforeAll(async () => {
    devnet = await startDevnet()
    client = createPublicClient({
      chain: chainFor(devnet.chainId, devnet.rpcUrl),
      transport: http(devnet.rpcUrl),
    }) as PublicClient
    dir = mkdtempSync(join(tmpdir(), 'rwa-feed-cli-'))
    ownerKey = keyFile('owner.eth', dev(0))
    strangerKey = keyFile('stranger.eth', dev(5))
  }, 60_000)

  afterAll(async () => {
    await devnet?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('deploy prints the address of an aggregator with the given pair, decimals and signers', async () => {
    const printed = await rwa(
      'feed',
      'aggregator',
      'deploy',
      '--rpc',
      devnet.rpcUrl,
      '--owner-key',
      ownerKey,
      '--pair',
      'eth/usd',
      '--decimals',
      '8',
      '--signers',
      signerList,
      '--threshold',
      '2',
    )
    expect(printed).toMatch(/^0x[0-9a-fA-F]{40}$/)
    address = printed as Address
    const shown = JSON.parse(
      await rwa('feed', 'aggregator', 'show', address, '--rpc', devnet.rpcUrl, '--json'),
    )
    expect(shown).toMatchObject({
      aggregator: address,
      chainId: devnet.chainId,
      description: 'ETH / USD',
      decimals: 8,
      version: '1',
      signers: signers.map((s) => s.address),
      threshold: 2,
      maxReportAge: 3600,
      owner: dev(0).address,
      latest: null,
    })
    const text = await rwa('feed', 'aggregator', 'show', address, '--rpc', devnet.rpcUrl)
    expect(text).toContain('"ETH / USD", 8 decimals')
    expect(text).toContain('Signers: 2 of 4 sign a report')
    expect(text).toContain(`  3  ${signers[3]!.address}`)
    expect(text).toContain('No report accepted yet.')
  })

  test('show prints the latest round, its answer by the decimals', async () => {
    const wallet = createWalletClient({
      account: dev(6),
      chain: client.chain!,
      transport: http(devnet.rpcUrl),
    }) as Wallet
    const window = (await client.getBlock()).timestamp / 60n - 2n
    const report = {
      window,
      answer: 250_012_000_000n,
      observations: 7,
      windowStart: window * 60n,
      windowEnd: (window + 1n) * 60n,
      idsHash: attestationIdsHash(['a', 'b']),
    }
    const hash = feedReportDigest(report, devnet.chainId, address)
    const signatures = await Promise.all(signers.slice(0, 2).map((s) => s.sign({ hash })))
    await transmitReport(wallet, client, address, report, signatures)
    const text = await rwa('feed', 'aggregator', 'show', address, '--rpc', devnet.rpcUrl)
    expect(text).toContain(
      `Latest round 1: 2500.12 (250012000000), window ${window} from ${new Date(Number(window * 60n) * 1000).toISOString()}`,
    )
    const shown = JSON.parse(
      await rwa('feed', 'aggregator', 'show', address, '--rpc', devnet.rpcUrl, '--json'),
    )
    expect(shown.latest).toMatchObject({
      roundId: '1',
      answer: '250012000000',
      answerText: '2500.12',
      window: String(window),
    })
  })

  test('signers replaces the set and threshold (2 of 3); show reflects it', async () => {
    const three = [dev(6), dev(7), dev(8)].map((a) => a.address)
    const printed = await rwa(
      'feed',
      'aggregator',
      'signers',
      address,
      '--rpc',
      devnet.rpcUrl,
      '--owner-key',
      ownerKey,
      '--set',
      three.join(','),
      '--threshold',
      '2',
    )
    expect(printed).toMatch(/now needs 2 of 3 signers; tx 0x[0-9a-f]{64}\.$/)
    const shown = JSON.parse(
      await rwa('feed', 'aggregator', 'show', address, '--rpc', devnet.rpcUrl, '--json'),
    )
    expect(shown).toMatchObject({ signers: three, threshold: 2 })
  })

  test('refuses a threshold below f + 1, a stranger as owner, and a bad signer address', async () => {
    const common = ['--rpc', devnet.rpcUrl, '--set', signerList]
    const low = await failure(
      'feed',
      'aggregator',
      'signers',
      address,
      ...common,
      '--owner-key',
      ownerKey,
      '--threshold',
      '1',
    )
    expect(low).toBeInstanceOf(FeedReportError)
    expect(low.message).toContain('Threshold "1" is not allowed for 4 signers')
    const stranger = await failure(
      'feed',
      'aggregator',
      'signers',
      address,
      ...common,
      '--owner-key',
      strangerKey,
      '--threshold',
      '2',
    )
    expect(stranger).toBeInstanceOf(FeedAggregatorError)
    expect((stranger as FeedAggregatorError).reason).toBe('NotOwner')
    const bad = await failure(
      'feed',
      'aggregator',
      'signers',
      address,
      '--rpc',
      devnet.rpcUrl,
      '--owner-key',
      ownerKey,
      '--set',
      `${signers[0]!.address},0x1234`,
      '--threshold',
      '1',
    )
    expect(bad).toBeInstanceOf(AggregatorCliError)
    expect(bad.message).toContain('--set entry 2 "0x1234" is not an Ethereum address')
  })

  test('refuses an owner key file that others may read, before touching the chain', async () => {
    const open = keyFile('open.eth', dev(0), 0o644)
    const error = await failure(
      'feed',
      'aggregator',
      'deploy',
      '--rpc',
      devnet.rpcUrl,
      '--owner-key',
      open,
      '--pair',
      'ETH/USD',
      '--decimals',
      '8',
      '--signers',
      signerList,
      '--threshold',
      '2',
    )
    expect(error).toBeInstanceOf(KeyFileError)
    expect(error.message).toContain('readable by others')
  })

  test('refuses a missing option and bad numbers with the option named', async () => {
    const missing = await failure('feed', 'aggregator', 'show', address)
    expect(missing).toBeInstanceOf(CommanderError)
    expect((missing as CommanderError).code).toBe('commander.missingMandatoryOptionValue')
    const decimals = await failure(
      'feed',
      'aggregator',
      'deploy',
      '--rpc',
      devnet.rpcUrl,
      '--owner-key',
      ownerKey,
      '--pair',
      'ETH/USD',
      '--decimals',
      '19',
      '--signers',
      signerList,
      '--threshold',
      '2',
    )
    expect(decimals.message).toBe('--decimals "19" is not a whole number from 0 to 18.')
  })
})
