import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Command } from 'commander'
import { type Address, type Hex, toHex } from 'viem'
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import { readChannel, readMpeBalance } from '../src/chain/mpe.ts'
import {
  type ChannelView,
  channelStateReply,
  checkChannelStateRequest,
  checkPayment,
  parsePaymentHeaders,
} from '../src/core/channel/payment.ts'
import { UntrustedChannelStateError } from '../src/core/channel/payment-errors.ts'
import {
  addClientCommands,
  CLIENT_STATE_FILE,
  parseHeaders,
} from '../src/domains/channel/cli/client-commands.ts'
import {
  ClientStateError,
  PaidCallRefusedError,
  ServiceTermsError,
} from '../src/domains/channel/cli/client-errors.ts'
import { fileClientState, memoryClientState } from '../src/domains/channel/cli/client-state.ts'
import { cureOf, paidCall } from '../src/domains/channel/cli/paid-call.ts'
import { serviceStateMessage } from '../src/domains/channel/cli/recover-state.ts'
import {
  fetchServiceTerms,
  parseServiceTerms,
  priceOf,
} from '../src/domains/channel/cli/service-terms.ts'
import { errorResponse } from '../src/http/errors.ts'
import { writeEthKeyFile } from '../src/store/key-file.ts'
import { dev, hasAnvil } from './fixtures/escrow-chain.ts'
import { type MpeChain, startMpeChain } from './fixtures/mpe-chain.ts'

// The paying client of payment channels: `rwa channel open | add-funds | extend | state |
// claim-timeout | deposit | withdraw | balance` on anvil, and `rwa call` / `paidCall` against a
// small service written here that speaks the design's wire with the real checks (checkPayment,
// checkChannelStateRequest, channelStateReply); the real gateway's end-to-end test is the lead's.

const GROUP = `0x${'ab'.repeat(32)}` as Hex
const TERMS_JSON = {
  escrow: '0x5e592F9b1d303183d963635f895f0f0C48284f4e',
  recipient: '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
  groupId: GROUP,
  chainId: 31337,
  rpcUrl: 'http://127.0.0.1:8545',
  token: { address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', symbol: 'RWAT', decimals: 18 },
  expirationThreshold: '20',
  currentBlock: '123',
  prices: [
    { route: 'GET /feed/*', price: '1' },
    { route: '* /exact', price: '3' },
  ],
  upstreams: [{ name: 'echo', path: '/call/echo', price: '10' }],
}

describe('parseServiceTerms', () => {
  test('reads the wire terms, bigints from decimal strings', () => {
    const terms = parseServiceTerms(TERMS_JSON)
    expect(terms.expirationThreshold).toBe(20n)
    expect(terms.currentBlock).toBe(123n)
    expect(terms.token).toEqual({ address: TERMS_JSON.token.address, symbol: 'RWAT', decimals: 18 })
    expect(terms.upstreams).toEqual([{ name: 'echo', path: '/call/echo', price: 10n }])
  })

  test.each([
    ['escrow', { escrow: '0x12' }, /escrow "0x12", not an address/],
    ['groupId', { groupId: '0xab' }, /groupId "0xab", not 32 bytes/],
    ['price', { prices: [{ route: 'GET /x', price: '-1' }] }, /prices\[0\]\.price "-1"/],
    [
      'huge price',
      { prices: [{ route: 'GET /x', price: '9'.repeat(79) }] },
      /not a decimal number/,
    ],
    ['route', { prices: [{ route: 'GET feed', price: '1' }] }, /not "METHOD \/path"/],
    [
      'too many',
      { prices: Array.from({ length: 65 }, () => ({ route: 'GET /x', price: '1' })) },
      /at most 64/,
    ],
    ['rpcUrl', { rpcUrl: 'file:///etc/passwd' }, /rpcUrl .* not an http\(s\) URL/],
    [
      'upstream path',
      { upstreams: [{ name: 'e', path: 'call', price: '1' }] },
      /not a path starting with "\/"/,
    ],
    ['threshold', { expirationThreshold: 'twenty' }, /expirationThreshold "twenty"/],
  ])('refuses a hostile %s with a message naming the field', (_, change, message) => {
    expect(() => parseServiceTerms({ ...TERMS_JSON, ...change })).toThrow(ServiceTermsError)
    expect(() => parseServiceTerms({ ...TERMS_JSON, ...change })).toThrow(message)
  })

  test('shows a hostile token symbol as base units rather than trusting it', () => {
    const terms = parseServiceTerms({
      ...TERMS_JSON,
      token: { ...TERMS_JSON.token, symbol: '<b>x' },
    })
    expect(terms.token.symbol).toBeNull()
  })
})

describe('priceOf', () => {
  const terms = parseServiceTerms(TERMS_JSON)
  test('prices own routes by method and glob, then upstreams by path prefix', () => {
    expect(priceOf(terms, 'get', '/feed/eth-usd')).toBe(1n)
    expect(priceOf(terms, 'POST', '/feed/eth-usd')).toBeUndefined()
    expect(priceOf(terms, 'DELETE', '/exact')).toBe(3n)
    expect(priceOf(terms, 'GET', '/exact/more')).toBeUndefined()
    expect(priceOf(terms, 'POST', '/call/echo/a/b')).toBe(10n)
    expect(priceOf(terms, 'GET', '/call/echo')).toBe(10n)
    expect(priceOf(terms, 'GET', '/call/echoes')).toBeUndefined()
  })
})

describe('cureOf', () => {
  const fresh = { price: 10n, paid: true, priced: false, recovered: false }
  test('pays an unpaid call at the price a 402 names, once', () => {
    const required = { error: 'PaymentRequiredError', price: 7n }
    expect(cureOf(required, { ...fresh, price: undefined, paid: false })).toEqual({
      price: 7n,
      recover: false,
    })
    expect(
      cureOf(required, { ...fresh, price: undefined, paid: false, priced: true }),
    ).toBeUndefined()
    expect(cureOf(required, fresh)).toBeUndefined()
  })
  test('asks the service for the state on a wrong nonce or amount, once', () => {
    expect(cureOf({ error: 'WrongChannelNonceError', price: 10n }, fresh)).toEqual({
      recover: true,
    })
    expect(
      cureOf({ error: 'WrongChannelNonceError', price: 10n }, { ...fresh, recovered: true }),
    ).toBeUndefined()
    expect(cureOf({ error: 'WrongPaymentAmountError', price: 12n }, fresh)).toEqual({
      price: 12n,
      recover: true,
    })
    expect(
      cureOf({ error: 'WrongPaymentAmountError', price: 10n }, { ...fresh, recovered: true }),
    ).toBeUndefined()
  })
  test('does not retry what no state or price cures', () => {
    for (const error of [
      'ChannelExpiringError',
      'PaymentSignerError',
      'UnknownChannelError',
      'ChannelValueExceededError',
    ])
      expect(cureOf({ error, price: 10n }, fresh)).toBeUndefined()
  })
})

describe('fetchServiceTerms', () => {
  test('refuses an answer over its size limit without reading it all', async () => {
    const big = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ...TERMS_JSON, junk: 'x'.repeat(200_000) }))
    })
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', r))
    try {
      const url = new URL(`http://127.0.0.1:${(big.address() as AddressInfo).port}`)
      await expect(fetchServiceTerms(url)).rejects.toThrow(
        /more than the 65536-byte limit; the answer was dropped/,
      )
    } finally {
      await new Promise((r) => big.close(r))
    }
  })
})

describe('parseHeaders', () => {
  test('reads name:value pairs and refuses payment headers and junk', () => {
    expect(parseHeaders(['Content-Type: application/json', 'x-a:1:2'])).toEqual({
      'content-type': 'application/json',
      'x-a': '1:2',
    })
    expect(() => parseHeaders(['snet-payment-channel-amount: 5'])).toThrow(/payment's own/)
    expect(() => parseHeaders(['no colon'])).toThrow(/not "name: value"/)
  })
})

describe('fileClientState', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rwa-channel-state-'))
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('keeps states per service, escrow and channel in a 0600 file, the latest first', () => {
    let now = 1000
    const path = join(dir, 'a', 'state.json')
    const store = fileClientState({ path, now: () => now++ })
    const key = { origin: 'http://127.0.0.1:1', escrow: '0xAbC', channelId: 7n }
    expect(store.get(key)).toBeUndefined()
    store.put(key, { nonce: 1n, authorised: 30n })
    store.put({ ...key, origin: 'http://127.0.0.1:2' }, { nonce: 0n, authorised: 5n })
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const again = fileClientState({ path })
    expect(again.get({ ...key, escrow: '0xabc' })).toEqual({ nonce: 1n, authorised: 30n })
    expect(again.list().map((c) => c.origin)).toEqual(['http://127.0.0.1:2', 'http://127.0.0.1:1'])
    again.forget('0xABC', 7n, 'http://127.0.0.1:1')
    expect(store.get(key)).toBeUndefined()
    expect(store.list()).toHaveLength(1)
  })

  test('refuses a corrupt file with a message naming it', () => {
    const path = join(dir, 'bad.json')
    writeFileSync(path, '{"version":1,"channels":[{"origin":1}]}')
    expect(() =>
      fileClientState({ path }).get({ origin: 'x', escrow: 'y', channelId: 1n }),
    ).toThrow(ClientStateError)
    writeFileSync(path, 'not json')
    expect(() => fileClientState({ path }).list()).toThrow(/is not JSON; delete it/)
  })
})

// --- On anvil, against a service that speaks the wire -----------------------------------------

/** A paid service as the design's wire describes it, over the real checks, for the client to pay. */
type TestService = {
  readonly url: string
  /** Priced routes the terms do not list (only a 402 tells their price). */
  hidden: Map<string, bigint>
  /** Misbehaviours to test the client against. */
  lie: { amountHeader?: boolean; stateAmount?: bigint; serviceSigner?: 'stranger' }
  /** What the service holds per channel: nonce, authorised, signature. */
  held: Map<bigint, { nonce: bigint; authorised: bigint; signature?: Hex }>
  calls: number
  stop(): Promise<void>
}

const PRICES = [{ route: 'GET /feed/*', price: 1n }]
const ECHO_PRICE = 10n
const THRESHOLD = 20n

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

async function startService(
  chain: MpeChain,
  recipient: ReturnType<typeof dev>,
): Promise<TestService> {
  const service: Omit<TestService, 'url' | 'stop'> = {
    hidden: new Map(),
    lie: {},
    held: new Map(),
    calls: 0,
  }
  const viewOf = async (channelId: bigint): Promise<ChannelView | undefined> => {
    const c = await readChannel(chain.client, chain.escrow, channelId)
    if (!c) return undefined
    const held = service.held.get(channelId)
    const at = held && held.nonce === c.nonce ? held : { nonce: c.nonce, authorised: 0n }
    return { ...c, ...at }
  }
  const priceFor = (method: string, path: string): bigint | undefined => {
    if (path.startsWith('/call/echo/')) return ECHO_PRICE
    if (method === 'GET' && path.startsWith('/feed/')) return 1n
    return service.hidden.get(path)
  }
  const server: Server = createServer(async (req, res) => {
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers })
      res.end(typeof body === 'string' ? body : JSON.stringify(body))
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const currentBlock = await chain.client.getBlockNumber({ cacheTime: 0 })
    if (req.method === 'GET' && path === '/channel')
      return send(200, {
        escrow: chain.escrow,
        recipient: recipient.address,
        groupId: GROUP,
        chainId: chain.devnet.chainId,
        rpcUrl: chain.devnet.rpcUrl,
        token: { address: chain.token, symbol: 'RWAT', decimals: 18 },
        expirationThreshold: THRESHOLD.toString(),
        currentBlock: currentBlock.toString(),
        prices: PRICES.map((p) => ({ route: p.route, price: p.price.toString() })),
        upstreams: [{ name: 'echo', path: '/call/echo', price: ECHO_PRICE.toString() }],
      })
    const body = await readBody(req)
    if (req.method === 'POST' && path === '/channel/state') {
      try {
        const r = JSON.parse(body) as { channelId: string; currentBlock: string; signature: Hex }
        const request = {
          channelId: BigInt(r.channelId),
          currentBlock: BigInt(r.currentBlock),
          signature: r.signature,
        }
        const view = await viewOf(request.channelId)
        await checkChannelStateRequest(request, view, { escrow: chain.escrow, currentBlock })
        const reply = channelStateReply(view!)
        const lied =
          service.lie.stateAmount === undefined
            ? reply
            : { ...reply, currentSignedAmount: service.lie.stateAmount }
        const signedBy = service.lie.serviceSigner === 'stranger' ? dev(2) : recipient
        const raw = serviceStateMessage(
          chain.escrow,
          request.channelId,
          lied.currentNonce,
          lied.currentSignedAmount ?? 0n,
        )
        return send(200, {
          channelId: r.channelId,
          currentNonce: lied.currentNonce.toString(),
          ...(lied.currentSignedAmount === undefined
            ? {}
            : { currentSignedAmount: lied.currentSignedAmount.toString() }),
          ...(lied.currentSignature === undefined
            ? {}
            : { currentSignature: lied.currentSignature }),
          serviceSignature: await signedBy.signMessage({ message: { raw } }),
        })
      } catch (error) {
        const { status, body: e } = errorResponse(error)
        return send(status, e)
      }
    }
    const price = priceFor(req.method ?? 'GET', path)
    if (price === undefined) return send(200, { free: true })
    try {
      const payment = parsePaymentHeaders(req.headers as Record<string, string>, { price })
      const view = await viewOf(payment.channelId)
      const accepted = await checkPayment(payment, view, {
        escrow: chain.escrow,
        recipient: recipient.address,
        currentBlock,
        expirationThreshold: THRESHOLD,
        price,
      })
      service.held.set(accepted.channelId, {
        nonce: accepted.nonce,
        authorised: accepted.authorised,
        signature: accepted.signature,
      })
      service.calls++
      const amount = service.lie.amountHeader ? accepted.authorised + 1n : accepted.authorised
      return send(
        200,
        { echo: `${req.method} ${path}`, body },
        {
          'snet-payment-channel-nonce': accepted.nonce.toString(),
          'snet-payment-channel-amount': amount.toString(),
        },
      )
    } catch (error) {
      const { status, body: e } = errorResponse(error)
      const extra = status === 402 ? { 'snet-payment-price': price.toString() } : {}
      return send(status, { ...e, price: price.toString(), terms: '/channel' }, extra)
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return Object.assign(service, {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  })
}

/** What `rwa <args>` printed on stdout (console.log and process.stdout.write) and stderr. */
type Printed = { out: string; err: string }

/** Runs `rwa <args>` in this process with only the client's commands. */
async function rwa(...args: string[]): Promise<Printed> {
  const program = new Command('rwa')
    .exitOverride()
    .configureOutput({ writeOut: () => {}, writeErr: () => {} })
  addClientCommands(program)
  const out: string[] = []
  const err: string[] = []
  const log = vi
    .spyOn(console, 'log')
    .mockImplementation((...p: unknown[]) => void out.push(`${p.map(String).join(' ')}\n`))
  const error = vi
    .spyOn(console, 'error')
    .mockImplementation((...p: unknown[]) => void err.push(`${p.map(String).join(' ')}\n`))
  const write = vi
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: string | Uint8Array) => {
      out.push(Buffer.from(chunk).toString('utf8'))
      return true
    })
  try {
    await program.parseAsync(args, { from: 'user' })
  } finally {
    log.mockRestore()
    error.mockRestore()
    write.mockRestore()
  }
  return { out: out.join(''), err: err.join('') }
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

const run = hasAnvil()

describe.skipIf(!run)('the paying client on anvil', () => {
  const payer = dev(1)
  const stranger = dev(2)
  const recipient = dev(3)
  let chain: MpeChain
  let service: TestService
  let dir: string
  let payerKey: string
  let strangerKey: string
  let channelId: bigint
  const common = () => ['--data-dir', dir, '--eth-key', payerKey]
  const stateFile = () => join(dir, CLIENT_STATE_FILE)

  const keyFile = (name: string, account: ReturnType<typeof dev>) => {
    const path = join(dir, name)
    writeEthKeyFile(path, toHex(account.getHdKey().privateKey!))
    return path
  }

  beforeAll(async () => {
    chain = await startMpeChain({ payers: [payer.address, stranger.address] })
    service = await startService(chain, recipient)
    dir = mkdtempSync(join(tmpdir(), 'rwa-channel-client-'))
    payerKey = keyFile('payer.eth', payer)
    strangerKey = keyFile('stranger.eth', stranger)
  }, 60_000)

  afterAll(async () => {
    await service?.stop()
    await chain?.devnet.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  afterEach(() => {
    service.lie = {}
  })

  test('open reads the terms, opens a channel to the recipient and remembers it at nonce 0', async () => {
    const { out } = await rwa(
      'channel',
      'open',
      service.url,
      '1.5 RWAT',
      '--blocks',
      '200',
      ...common(),
    )
    const match =
      /^Opened channel (\d+) to (0x\w+) with 1\.5 RWAT, expiring at block (\d+); tx 0x/.exec(out)
    expect(match, out).not.toBeNull()
    channelId = BigInt(match![1]!)
    const onChain = await readChannel(chain.client, chain.escrow, channelId)
    expect(onChain).toMatchObject({
      nonce: 0n,
      sender: payer.address,
      signer: payer.address,
      recipient: recipient.address,
      groupId: GROUP,
      value: 1_500_000_000_000_000_000n,
      expiration: BigInt(match![3]!),
    })
    expect(statSync(stateFile()).mode & 0o777).toBe(0o600)
    const saved = JSON.parse(readFileSync(stateFile(), 'utf8'))
    expect(saved.channels).toEqual([
      expect.objectContaining({
        origin: service.url,
        channelId: String(channelId),
        nonce: '0',
        authorised: '0',
      }),
    ])
  })

  test('open refuses a channel that would expire within the service threshold', async () => {
    const error = await failure(
      'channel',
      'open',
      service.url,
      '100',
      '--blocks',
      '20',
      ...common(),
    )
    expect(error.message).toMatch(
      /refuses payments within 20 blocks of expiry.*give --blocks above 21/,
    )
  })

  test('open refuses a service whose terms name a token the escrow does not hold', async () => {
    const fake = createServer((_, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(
        JSON.stringify({
          ...TERMS_JSON,
          escrow: chain.escrow,
          chainId: chain.devnet.chainId,
          rpcUrl: chain.devnet.rpcUrl,
          token: { address: `0x${'11'.repeat(20)}`, symbol: 'RWAT', decimals: 18 },
        }),
      )
    })
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r))
    try {
      const url = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`
      const error = await failure('channel', 'open', url, '100', ...common())
      expect(error.message).toMatch(
        /holds token 0x1111111111111111111111111111111111111111, but the chain says .*misconfigured or lying/,
      )
    } finally {
      await new Promise((r) => fake.close(r))
    }
  })

  test('rwa call pays the price, prints the answer on stdout and the cost on stderr', async () => {
    const { out, err } = await rwa(
      'call',
      `${service.url}/call/echo/hello`,
      '--channel',
      String(channelId),
      ...common(),
    )
    expect(JSON.parse(out)).toEqual({ echo: 'GET /call/echo/hello', body: '' })
    expect(err).toBe(
      `Paid 0.00000000000000001 RWAT from channel ${channelId} (authorised 0.00000000000000001 RWAT at nonce 0).\n`,
    )
    const second = await rwa('call', `${service.url}/call/echo/x`, '-d', 'hi', ...common())
    expect(JSON.parse(second.out)).toEqual({ echo: 'POST /call/echo/x', body: 'hi' })
    expect(service.held.get(channelId)).toMatchObject({ nonce: 0n, authorised: 20n })
    const saved = fileClientState({ path: stateFile() })
    expect(saved.get({ origin: service.url, escrow: chain.escrow, channelId })).toEqual({
      nonce: 0n,
      authorised: 20n,
    })
  })

  test('paidCall learns a price the terms do not list from the 402 and pays it', async () => {
    service.hidden.set('/secret', 7n)
    const state = memoryClientState()
    state.put(
      { origin: service.url, escrow: chain.escrow, channelId },
      { nonce: 0n, authorised: 20n },
    )
    const result = await paidCall({
      url: `${service.url}/secret`,
      channelId,
      account: payer,
      state,
    })
    expect(result).toMatchObject({
      status: 200,
      attempts: 2,
      recovered: false,
      paid: { amount: 27n, price: 7n },
    })
    expect(service.held.get(channelId)?.authorised).toBe(27n)
  })

  test('paidCall with no local state recovers it from the service and checks the signatures', async () => {
    const state = memoryClientState()
    const result = await paidCall({
      url: `${service.url}/feed/eth`,
      channelId,
      account: payer,
      state,
    })
    expect(result).toMatchObject({
      attempts: 1,
      recovered: true,
      paid: { nonce: 0n, amount: 28n, price: 1n },
    })
    expect(state.get({ origin: service.url, escrow: chain.escrow, channelId })).toEqual({
      nonce: 0n,
      authorised: 28n,
    })
  })

  test('paidCall with a stale state is refused, recovers and retries once', async () => {
    const state = memoryClientState()
    state.put(
      { origin: service.url, escrow: chain.escrow, channelId },
      { nonce: 0n, authorised: 5n },
    )
    const result = await paidCall({
      url: `${service.url}/feed/eth`,
      channelId,
      account: payer,
      state,
    })
    expect(result).toMatchObject({ attempts: 2, recovered: true, paid: { amount: 29n } })
    const wrongNonce = memoryClientState()
    wrongNonce.put(
      { origin: service.url, escrow: chain.escrow, channelId },
      { nonce: 4n, authorised: 29n },
    )
    const again = await paidCall({
      url: `${service.url}/feed/eth`,
      channelId,
      account: payer,
      state: wrongNonce,
    })
    expect(again).toMatchObject({ attempts: 2, recovered: true, paid: { nonce: 0n, amount: 30n } })
  })

  test('a service reporting an amount the client never signed is not believed', async () => {
    service.lie = { stateAmount: 1000n }
    const error = await paidCall({
      url: `${service.url}/feed/eth`,
      channelId,
      account: payer,
      state: memoryClientState(),
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UntrustedChannelStateError)
    expect((error as Error).message).toMatch(
      /reports amount 1000 at nonce "0" without the channel's signature/,
    )
  })

  test('a state reply signed by another key than the recipient is not believed', async () => {
    service.lie = { serviceSigner: 'stranger' }
    const error = await paidCall({
      url: `${service.url}/feed/eth`,
      channelId,
      account: payer,
      state: memoryClientState(),
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UntrustedChannelStateError)
    expect((error as Error).message).toMatch(
      new RegExp(`signed by "${stranger.address}", not its recipient`),
    )
  })

  test('an answer holding another amount than signed drops the local state with a warning', async () => {
    const state = memoryClientState()
    const key = { origin: service.url, escrow: chain.escrow, channelId }
    state.put(key, { nonce: 0n, authorised: 30n })
    service.lie = { amountHeader: true }
    const result = await paidCall({
      url: `${service.url}/feed/eth`,
      channelId,
      account: payer,
      state,
    })
    expect(result.paid).toBeUndefined()
    expect(result.warning).toMatch(
      /holds amount "32" at nonce "0".*amount "31" at nonce "0" was signed; the local state was dropped/,
    )
    expect(state.get(key)).toBeUndefined()
  })

  test('a payment from a stranger is refused for good with the service message', async () => {
    const state = memoryClientState()
    state.put(
      { origin: service.url, escrow: chain.escrow, channelId },
      { nonce: 0n, authorised: 31n },
    )
    const error = await paidCall({
      url: `${service.url}/feed/eth`,
      channelId,
      account: stranger,
      state,
    }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(PaidCallRefusedError)
    expect(error).toMatchObject({ status: 401, error: 'PaymentSignerError' })
    expect((error as Error).message).toMatch(
      /refused the call \(HTTP 401 PaymentSignerError\): The payment for channel/,
    )
  })

  test('add-funds deposits the shortfall and adds it; extend moves the expiration later', async () => {
    const before = (await readChannel(chain.client, chain.escrow, channelId))!
    const added = await rwa(
      'channel',
      'add-funds',
      String(channelId),
      '0.5 RWAT',
      '--service',
      service.url,
      ...common(),
    )
    expect(added.out).toMatch(
      new RegExp(`^Channel ${channelId} now holds 2 RWAT \\(deposited 0.5 RWAT first\\); tx 0x`),
    )
    expect((await readChannel(chain.client, chain.escrow, channelId))!.value).toBe(
      before.value + 5n * 10n ** 17n,
    )
    const extended = await rwa(
      'channel',
      'extend',
      String(channelId),
      '--expiration',
      String(before.expiration + 100n),
      '--service',
      service.url,
      ...common(),
    )
    expect(extended.out).toMatch(
      new RegExp(`now expires at block ${before.expiration + 100n} and holds 2 RWAT`),
    )
    const earlier = await failure(
      'channel',
      'extend',
      String(channelId),
      '--expiration',
      String(before.expiration),
      '--service',
      service.url,
      ...common(),
    )
    expect(earlier.message).toMatch(
      /already expires at block \d+, after \d+; an expiration only moves later/,
    )
    const notSender = await failure(
      'channel',
      'extend',
      String(channelId),
      '--blocks',
      '1000',
      '--service',
      service.url,
      '--data-dir',
      dir,
      '--eth-key',
      strangerKey,
    )
    expect(notSender.message).toMatch(
      new RegExp(
        `Only channel ${channelId}'s sender ${payer.address} may extend it, not ${stranger.address}`,
      ),
    )
  })

  test('state shows the chain fields and the service view it verified', async () => {
    const { out } = await rwa(
      'channel',
      'state',
      String(channelId),
      '--service',
      service.url,
      ...common(),
    )
    expect(out).toContain(`  recipient   ${recipient.address}`)
    expect(out).toContain('  value       2 RWAT')
    expect(out).toMatch(/expiration {2}block \d+ \(in \d+ blocks; now \d+\)/)
    expect(out).toContain(
      'At the service (signed by you): nonce 0, authorised 0.000000000000000031 RWAT',
    )
    const json = JSON.parse(
      (
        await rwa(
          'channel',
          'state',
          String(channelId),
          '--service',
          service.url,
          '--json',
          ...common(),
        )
      ).out,
    )
    expect(json.service).toEqual({ nonce: '0', authorised: '31' })
  })

  test('claim-timeout is refused before expiry and refunds the sender after it', async () => {
    const channel = (await readChannel(chain.client, chain.escrow, channelId))!
    const early = await failure(
      'channel',
      'claim-timeout',
      String(channelId),
      '--service',
      service.url,
      ...common(),
    )
    expect(early.message).toMatch(
      new RegExp(`expires at block ${channel.expiration}, \\d+ blocks from now`),
    )
    const now = await chain.client.getBlockNumber({ cacheTime: 0 })
    await chain.mine(Number(channel.expiration - now))
    const before = await readMpeBalance(chain.client, chain.escrow, payer.address)
    const { out } = await rwa(
      'channel',
      'claim-timeout',
      String(channelId),
      '--service',
      service.url,
      ...common(),
    )
    expect(out).toMatch(
      new RegExp(`^Took 2 RWAT back from channel ${channelId} to your escrow balance; tx 0x`),
    )
    expect(await readMpeBalance(chain.client, chain.escrow, payer.address)).toBe(
      before + channel.value,
    )
    expect(await readChannel(chain.client, chain.escrow, channelId)).toMatchObject({
      value: 0n,
      nonce: 1n,
    })
    expect(
      fileClientState({ path: stateFile() })
        .list()
        .filter((c) => c.channelId === channelId),
    ).toEqual([])
  })

  test('balance, withdraw and deposit move the escrow balance', async () => {
    const balance = (address: Address) => readMpeBalance(chain.client, chain.escrow, address)
    const start = await balance(payer.address)
    expect((await rwa('channel', 'balance', '--service', service.url, ...common())).out).toBe(
      `${payer.address} has 2 RWAT in escrow ${chain.escrow}.\n`,
    )
    await rwa('channel', 'withdraw', '1.25 RWAT', '--service', service.url, ...common())
    expect(await balance(payer.address)).toBe(start - 125n * 10n ** 16n)
    const tooMuch = await failure(
      'channel',
      'withdraw',
      '5 RWAT',
      '--service',
      service.url,
      ...common(),
    )
    expect(tooMuch.message).toMatch(/escrow balance is 0.75 RWAT, less than 5 RWAT/)
    await rwa(
      'channel',
      'deposit',
      '1 RWAT',
      '--escrow',
      chain.escrow,
      '--rpc',
      chain.devnet.rpcUrl,
      ...common(),
    )
    expect(await balance(payer.address)).toBe(start - 25n * 10n ** 16n)
  })

  test('a call on an expiring channel is refused with the advice to extend it', async () => {
    const { out } = await rwa('channel', 'open', service.url, '100', '--blocks', '30', ...common())
    const id = /channel (\d+)/.exec(out)![1]!
    await chain.mine(15)
    const error = await failure('call', `${service.url}/feed/x`, '--channel', id, ...common())
    expect(error).toBeInstanceOf(PaidCallRefusedError)
    expect(error.message).toMatch(
      /HTTP 409 ChannelExpiringError.*\(extend it with "rwa channel extend"\)/,
    )
  })
})
