import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve } from '@hono/node-server'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Command } from 'commander'
import fc from 'fast-check'
import { Hono } from 'hono'
import type { Address, Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { z } from 'zod'
import { MAX_AMOUNT } from '../src/core/amount.ts'
import { toJson } from '../src/core/json.ts'
import { amountArgument, matchPeer } from '../src/domains/swap/cli/args.ts'
import { addSwapCommands, swapCli } from '../src/domains/swap/cli/commands.ts'
import {
  balanceWords,
  formatCash,
  formatCheques,
  formatMove,
  formatPeers,
  shortPeer,
  swapUnit,
} from '../src/domains/swap/cli/format.ts'
import type {
  CashResult,
  ChequeView,
  PeerView,
  SwapOverview,
  Traffic,
} from '../src/domains/swap/types.ts'
import {
  amountBody,
  bookMoveWire,
  cashBody,
  cashFromWire,
  cashResultWire,
  cashToWire,
  chequeFromWire,
  chequesFromWire,
  chequesToWire,
  chequesWire,
  chequeToWire,
  chequeViewWire,
  isPeerId,
  moveFromWire,
  moveToWire,
  overviewFromWire,
  overviewToWire,
  peerFromWire,
  peersFromWire,
  peersToWire,
  peersWire,
  peerToWire,
  peerViewWire,
  SwapWireError,
  swapOverviewWire,
} from '../src/domains/swap/wire.ts'
import { validate } from '../src/http/body.ts'

// The SWAP routes' wire: every answer goes to JSON and back unchanged (sample data and random
// amounts), hostile request bodies and answers are refused with messages that say what is wrong,
// every field is described for /openapi.json; and `rwa swap` reads the answers of a node (a Hono
// app serving them on loopback) and prints them with the token's unit.

const PEER_A = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const PEER_B = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
const PEER_C = '16Uiu2HAmQ9yVxbv8oNJ2ruyV8wrEu4rvyb7P7XcRWNLTdFGBxbGH'
const BOOK = '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address
const PEER_BOOK = '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0' as Address
const US = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as Address
const THEM = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC' as Address
const TOKEN = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' as Address
const SIG = `0x${'ab'.repeat(65)}` as Hex
const TX = `0x${'12'.repeat(32)}` as Hex
const T0 = Date.UTC(2025, 0, 31, 12, 0, 5)
/** 1 TT: the token has 6 decimals. */
const TT = 1_000_000n

const OVERVIEW: SwapOverview = {
  mode: 'hard',
  peerId: PEER_A,
  chainId: 31337,
  chequebook: BOOK,
  beneficiary: US,
  token: { address: TOKEN, symbol: 'TT', decimals: 6 },
  book: { balance: 50n * TT, liquidBalance: 40n * TT, totalPaidOut: 3n * TT, bounced: false },
  pricePerOp: 10n,
  pricePerByte: 1n,
  paymentThreshold: 10n * TT,
  disconnectThreshold: 15n * TT,
  earlyPaymentPercent: 50,
  refreshRate: 1_000n,
  autoCash: 5n * TT,
  owedToUs: 1_200_000n,
  weOwe: 300_000n,
}

const traffic = (ops: number, amount: bigint): Traffic => ({
  answers: ops === 0 ? 0 : 3,
  ops,
  bytes: ops * 200,
  amount,
})

const CASH: CashResult = {
  peer: PEER_B,
  txHash: TX,
  paid: 2n * TT,
  cumulativePayout: 5n * TT,
  bounced: false,
  at: T0 + 60_000,
}

const RECEIVED: ChequeView = {
  peer: PEER_B,
  chequebook: PEER_BOOK,
  beneficiary: US,
  cumulativePayout: 7n * TT,
  increase: 2n * TT,
  signature: SIG,
  at: T0,
  cashed: 5n * TT,
  lastCash: CASH,
}

const SENT: ChequeView = {
  peer: PEER_C,
  chequebook: BOOK,
  beneficiary: THEM,
  cumulativePayout: 4n * TT,
  increase: TT,
  signature: SIG,
  at: T0 - 1_000,
}

/** B owes us 1.2 TT and paid by cheque; we owe C 0.3 TT; A has made no handshake yet. */
const PEERS: PeerView[] = [
  {
    peer: PEER_B,
    balance: 1_200_000n,
    standing: 'ok',
    connected: true,
    terms: {
      mode: 'hard',
      chainId: 31337,
      chequebook: PEER_BOOK,
      beneficiary: THEM,
      pricePerOp: 10n,
      pricePerByte: 1n,
      paymentThreshold: 10n * TT,
      refreshRate: 1_000n,
    },
    paymentThreshold: 10n * TT,
    disconnectThreshold: 15n * TT,
    served: traffic(120, 8_200_000n),
    received: traffic(4, 40n),
    forgiven: 77n,
    lastSent: null,
    lastReceived: RECEIVED,
    uncashed: 2n * TT,
    acknowledged: null,
  },
  {
    peer: PEER_C,
    balance: -300_000n,
    standing: 'in-debt',
    connected: false,
    terms: null,
    paymentThreshold: 10n * TT,
    disconnectThreshold: 15n * TT,
    served: traffic(0, 0n),
    received: traffic(33, 300_000n),
    forgiven: 0n,
    lastSent: SENT,
    lastReceived: null,
    uncashed: 0n,
    acknowledged: -4_300_000n,
  },
]

const CHEQUES = { received: [RECEIVED], sent: [SENT] }

/** What the node sends: the wire object as JSON, read back as a client reads it. */
const overTheWire = (value: unknown): unknown => JSON.parse(toJson(value))

describe('the SWAP wire', () => {
  test('carries the overview, peers, cheques, cashings and moves there and back unchanged', () => {
    expect(overviewFromWire(overTheWire(overviewToWire(OVERVIEW)))).toEqual(OVERVIEW)
    for (const peer of PEERS) expect(peerFromWire(overTheWire(peerToWire(peer)))).toEqual(peer)
    expect(peersFromWire(overTheWire(peersToWire(PEERS)))).toEqual(PEERS)
    expect(chequeFromWire(overTheWire(chequeToWire(RECEIVED)))).toEqual(RECEIVED)
    expect(chequeFromWire(overTheWire(chequeToWire(SENT)))).toEqual(SENT)
    expect(chequesFromWire(overTheWire(chequesToWire(CHEQUES)))).toEqual(CHEQUES)
    expect(cashFromWire(overTheWire(cashToWire(CASH)))).toEqual(CASH)
    const move = { txHash: TX, balance: 62n * TT }
    expect(moveFromWire(overTheWire(moveToWire(move)))).toEqual(move)
  })

  test('sends bigints as decimal strings, a negative balance with its sign, and leaves out what a sent cheque lacks', () => {
    const wire = peersToWire(PEERS)
    expect(wire.peers[0]?.balance).toBe('1200000')
    expect(wire.peers[1]?.balance).toBe('-300000')
    expect(wire.peers[1]?.acknowledged).toBe('-4300000')
    expect(wire.peers[0]?.served).toEqual({ answers: 3, ops: 120, bytes: 24000, amount: '8200000' })
    expect(Object.keys(chequeToWire(SENT))).not.toContain('cashed')
    expect(Object.keys(chequeToWire(SENT))).not.toContain('lastCash')
    expect(chequeToWire(RECEIVED).cashed).toBe('5000000')
    const overview = overviewToWire({ ...OVERVIEW, book: null, token: null, autoCash: null })
    expect(overview).toMatchObject({ book: null, token: null, autoCash: null, owedToUs: '1200000' })
    expect(overviewFromWire(overTheWire(overview))).toEqual({
      ...OVERVIEW,
      book: null,
      token: null,
      autoCash: null,
    })
  })

  test('round-trips any amount from −(2^256 − 1) to 2^256 − 1 exactly', () => {
    const amount = fc.bigInt({ min: 0n, max: MAX_AMOUNT })
    const balance = fc.bigInt({ min: -MAX_AMOUNT, max: MAX_AMOUNT })
    fc.assert(
      fc.property(balance, amount, amount, (b, uncashed, cumulative) => {
        const peer: PeerView = {
          ...(PEERS[0] as PeerView),
          balance: b,
          acknowledged: -b,
          uncashed,
          lastReceived: { ...RECEIVED, cumulativePayout: cumulative, cashed: uncashed },
        }
        expect(peerFromWire(overTheWire(peerToWire(peer)))).toEqual(peer)
      }),
      { numRuns: 200 },
    )
  })

  test('what the converters send fits the schemas the routes declare', () => {
    expect(swapOverviewWire.safeParse(overviewToWire(OVERVIEW)).success).toBe(true)
    expect(peersWire.safeParse(peersToWire(PEERS)).success).toBe(true)
    expect(peerViewWire.safeParse(peerToWire(PEERS[1] as PeerView)).success).toBe(true)
    expect(chequesWire.safeParse(chequesToWire(CHEQUES)).success).toBe(true)
    expect(chequeViewWire.safeParse(chequeToWire(RECEIVED)).success).toBe(true)
    expect(cashResultWire.safeParse(cashToWire(CASH)).success).toBe(true)
    expect(bookMoveWire.safeParse(moveToWire({ txHash: TX, balance: 0n })).success).toBe(true)
  })

  test('refuses answers that do not fit, naming the field', () => {
    const peer = peerToWire(PEERS[0] as PeerView)
    expect(() => peersFromWire({ peers: [{ ...peer, balance: '1.5' }] })).toThrow(
      /the peers does not read .* at "peers\.0\.balance"/,
    )
    // Only the balance and the acknowledged view are signed.
    expect(() => peersFromWire({ peers: [{ ...peer, uncashed: '-1' }] })).toThrow(
      /at "peers\.0\.uncashed"/,
    )
    expect(() => peersFromWire({ peers: [{ ...peer, standing: 'friendly' }] })).toThrow(
      SwapWireError,
    )
    expect(() => overviewFromWire('<html>not json</html>')).toThrow(
      /the SWAP overview does not read.*is it an rwa node of this version\?/,
    )
    expect(() =>
      overviewFromWire({ ...overviewToWire(OVERVIEW), earlyPaymentPercent: 101 }),
    ).toThrow(/at "earlyPaymentPercent"/)
    expect(() => cashFromWire({ ...cashToWire(CASH), txHash: '0x12' })).toThrow(/at "txHash"/)
    expect(() =>
      chequeFromWire({ ...chequeToWire(RECEIVED), signature: `0x${'ab'.repeat(5000)}` }),
    ).toThrow(/at "signature"/)
    expect(() => moveFromWire({ txHash: TX, balance: '9'.repeat(79) })).toThrow(/at "balance"/)
  })

  test('describes every field of every answer and body for /openapi.json', () => {
    const schemas = {
      swapOverviewWire,
      peersWire,
      chequesWire,
      cashResultWire,
      bookMoveWire,
      cashBody,
      amountBody,
    }
    const undescribed: string[] = []
    const walk = (node: unknown, path: string): void => {
      if (typeof node !== 'object' || node === null) return
      const properties = (node as { properties?: Record<string, { description?: string }> })
        .properties
      for (const [key, value] of Object.entries(properties ?? {})) {
        if (!value.description) undescribed.push(`${path}.${key}`)
        walk(value, `${path}.${key}`)
      }
      for (const [key, value] of Object.entries(node))
        if (key !== 'properties') walk(value, `${path}`)
    }
    let fields = 0
    for (const [name, schema] of Object.entries(schemas)) {
      const json = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'output' })
      fields += JSON.stringify(json).split('"description"').length - 1
      walk(json, name)
    }
    expect(undescribed).toEqual([])
    expect(fields).toBeGreaterThan(60)
  })
})

/** The message the node answers a request body with (as its routes validate bodies). */
function refusal(schema: z.ZodType, body: unknown): string {
  try {
    validate(schema, body, 'body')
  } catch (error) {
    return (error as Error).message
  }
  throw new Error(`${JSON.stringify(body).slice(0, 80)} was accepted`)
}

describe('the SWAP request bodies', () => {
  test('take a positive amount of base units up to 2^256 − 1', () => {
    expect(validate(amountBody, { amount: '1' }, 'body')).toEqual({ amount: '1' })
    expect(validate(amountBody, { amount: String(MAX_AMOUNT) }, 'body').amount).toBe(
      String(MAX_AMOUNT),
    )
  })

  test('refuse negative, zero, oversized and non-integer amounts, saying why', () => {
    expect(refusal(amountBody, { amount: '-5' })).toBe(
      'In the request body, "amount": "-5" is negative; give an amount greater than 0.',
    )
    expect(refusal(amountBody, { amount: '0' })).toBe(
      'In the request body, "amount": "0" is zero; give an amount greater than 0.',
    )
    expect(refusal(amountBody, { amount: String(MAX_AMOUNT + 1n) })).toMatch(
      /"1157920892373161954235709850086879078532…" is more than a chequebook can hold \(2\^256 − 1 base units\)/,
    )
    expect(refusal(amountBody, { amount: '12.5 TT' })).toMatch(
      /"12.5 TT" is not a whole number of base units; give digits only/,
    )
    expect(refusal(amountBody, { amount: 5 })).toMatch(/give the amount as a JSON string/)
    expect(refusal(amountBody, {})).toMatch(/"amount"/)
    expect(refusal(amountBody, { amount: '5', to: US })).toMatch(/"to"/)
  })

  test('quote a hostile value cut short', () => {
    const huge = refusal(amountBody, { amount: '9'.repeat(100_000) })
    expect(huge).toMatch(/is too long for an amount \(at most 78 digits/)
    expect(huge.length).toBeLessThan(200)
    const junk = refusal(amountBody, { amount: `1\u0000${'x'.repeat(500)}` })
    expect(junk).toContain('"1\\u0000xxx')
    expect(junk.length).toBeLessThan(250)
  })

  test('take a libp2p peer id to cash, and refuse anything else', async () => {
    expect(validate(cashBody, { peer: PEER_A }, 'body')).toEqual({ peer: PEER_A })
    // Ids as libp2p makes them, for each key type the node may meet.
    for (const type of ['Ed25519', 'secp256k1'] as const) {
      const id = peerIdFromPrivateKey(await generateKeyPair(type)).toString()
      expect(isPeerId(id), id).toBe(true)
      expect(validate(cashBody, { peer: id }, 'body').peer).toBe(id)
    }
    expect(refusal(cashBody, { peer: 'not-a-peer' })).toBe(
      'In the request body, "peer": "not-a-peer" is not a libp2p peer id; give one in full as "rwa swap peers --json" lists it, such as "12D3KooW…".',
    )
    expect(refusal(cashBody, { peer: `${PEER_A.slice(0, 40)}<script>` })).toMatch(
      /is not a libp2p peer id/,
    )
    // base58 has no 0, O, I or l.
    expect(refusal(cashBody, { peer: PEER_A.replace('D3e', 'D0e') })).toMatch(
      /not a libp2p peer id/,
    )
    const long = refusal(cashBody, { peer: 'x'.repeat(1_000_000) })
    expect(long).toMatch(/is too long for a libp2p peer id \(at most 128 characters\)/)
    expect(long.length).toBeLessThan(200)
    expect(refusal(cashBody, { peer: 42 })).toMatch(/give the peer id as a JSON string/)
    expect(refusal(cashBody, { peer: PEER_A, amount: '5' })).toMatch(/"amount"/)
  })
})

describe('rwa swap: arguments and output', () => {
  const unit = swapUnit(OVERVIEW.token)

  test('names a peer by its id, the short form it lists, or a unique part', () => {
    const peers = [PEER_A, PEER_B, PEER_C]
    expect(shortPeer(PEER_A)).toBe('12D3KooW…QAJU5SA')
    expect(matchPeer(PEER_B, peers)).toBe(PEER_B)
    expect(matchPeer(shortPeer(PEER_A), peers)).toBe(PEER_A)
    expect(matchPeer('12D3KooW...QAJU5SA', peers)).toBe(PEER_A)
    expect(matchPeer('  rRJsNK ', peers)).toBe(PEER_B)
    expect(() => matchPeer('12D3KooW', peers)).toThrow(/matches 2 peers .*give more of the peer id/)
    expect(() => matchPeer('zzzzzz', peers)).toThrow(/No peer of this node matches "zzzzzz"/)
    expect(() => matchPeer('SA', peers)).toThrow(/too short to name a peer/)
    expect(() => matchPeer('Q'.repeat(5000), peers)).toThrow(/too long for a libp2p peer id/)
  })

  test('reads an amount in the token or in base units, more than zero', () => {
    expect(amountArgument('12.5 TT', unit)).toBe(12_500_000n)
    expect(amountArgument('12.5 tt', unit)).toBe(12_500_000n)
    expect(amountArgument('12500000', unit)).toBe(12_500_000n)
    expect(() => amountArgument('0', unit)).toThrow(/"0" is 0 TT; give more than zero/)
    expect(() => amountArgument('0.0 TT', unit)).toThrow(/give more than zero/)
    expect(() => amountArgument('-1', unit)).toThrow(/negative/)
    expect(() => amountArgument('1.5 ETH', unit)).toThrow(/paid in TT/)
    expect(() => amountArgument('1.0000001 TT', unit)).toThrow(/has 7 decimals, but TT has 6/)
    expect(() => amountArgument(String(MAX_AMOUNT + 1n), unit)).toThrow(/more than a contract/)
    const unknown = swapUnit(null)
    expect(amountArgument('1500', unknown)).toBe(1500n)
    expect(() => amountArgument('1.5 TT', unknown)).toThrow(/give whole base units/)
  })

  test('says who owes whom with the unit, or in base units when the token is unknown', () => {
    expect(balanceWords(1_200_000n, unit)).toBe('owes us 1.2 TT')
    expect(balanceWords(-300_000n, unit)).toBe('we owe 0.3 TT')
    expect(balanceWords(0n, unit)).toBe('even')
    expect(balanceWords(-300_000n, swapUnit(null))).toBe('we owe 300000 base units')
    // A symbol that is no symbol (a terminal escape) is not printed: base units instead.
    const hostile = swapUnit({ address: TOKEN, symbol: '\u001b[31mTT', decimals: 6 })
    expect(balanceWords(5n, hostile)).toBe('owes us 5 base units')
  })

  test('prints one row per peer with its balance, standing, thresholds and traffic', () => {
    const text = formatPeers(OVERVIEW, PEERS)
    expect(text).toContain('Owed to us: 1.2 TT; we owe: 0.3 TT.')
    expect(text).toContain('Chequebook balance 50 TT (liquid 40 TT), paid out 3 TT.')
    expect(text).toContain('Payment threshold 10 TT, disconnect threshold 15 TT')
    const rowB = text.split('\n').find((line) => line.startsWith(shortPeer(PEER_B)))
    expect(rowB).toMatch(
      /yes +owes us 1\.2 TT +ok +10 TT \/ 15 TT +120 ops, 8\.2 TT +4 ops, 0\.00004 TT +2 TT$/,
    )
    const rowC = text.split('\n').find((line) => line.startsWith(shortPeer(PEER_C)))
    expect(rowC).toMatch(
      /no +we owe 0\.3 TT +in debt: we owe past its payment threshold +10 TT \/ 15 TT +0 ops, 0 TT +33 ops, 0\.3 TT +—$/,
    )
    expect(formatPeers(OVERVIEW, [])).toContain('No peer has an account with this node yet.')
    const bounced = formatPeers({ ...OVERVIEW, book: { ...OVERVIEW.book!, bounced: true } }, [])
    expect(bounced).toContain('BOUNCED')
  })

  test('prints the cheques both ways, and what a cashing and a move did', () => {
    const text = formatCheques(OVERVIEW.token, CHEQUES)
    expect(text).toContain('Received (1):')
    expect(text).toMatch(
      /12D3KooW…wrRJsNK +7 TT +2 TT +5 TT +2 TT +2025-01-31 12:00:05 +2 TT at 2025-01-31 12:01:05$/m,
    )
    expect(text).toContain('Sent (1):')
    expect(text).toMatch(/16Uiu2HA…FGBxbGH +4 TT +1 TT +2025-01-31 12:00:04 +0x5FbDB/)
    expect(formatCheques(null, { received: [], sent: [] })).toBe(
      'Received (0):\n  none\n\nSent (0):\n  none',
    )
    expect(formatCash(CASH, unit)).toBe(
      `Cashed 2 TT from the cheque of peer ${PEER_B} (cumulative payout 5 TT); tx ${TX}.`,
    )
    expect(formatCash({ ...CASH, bounced: true }, unit)).toContain('The cheque bounced')
    expect(formatMove('withdraw', 2_500_000n, { txHash: TX, balance: 47_500_000n }, unit)).toBe(
      `Withdrew 2.5 TT from the chequebook; its balance is now 47.5 TT; tx ${TX}.`,
    )
  })
})

describe("rwa swap against a node's answers", () => {
  // The node's routes are the lead's; this app answers as they do (through the converters),
  // and records what the command line sent.
  const OPERATOR_TOKEN = 'operator-secret'
  const requests: { method: string; path: string; auth: string | undefined; body: unknown }[] = []
  let url: string
  let dir: string
  let tokenFile: string
  let close: () => Promise<void>

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rwa-swap-cli-'))
    tokenFile = join(dir, 'operator.token')
    writeFileSync(tokenFile, `${OPERATOR_TOKEN}\n`)
    const app = new Hono()
    app.use(async (c, next) => {
      const body = c.req.method === 'POST' ? await c.req.json() : undefined
      requests.push({
        method: c.req.method,
        path: c.req.path,
        auth: c.req.header('authorization'),
        body,
      })
      await next()
    })
    const operatorOnly = (auth: string | undefined) => auth === `Bearer ${OPERATOR_TOKEN}`
    app.get('/swap', (c) => c.json(overviewToWire(OVERVIEW)))
    app.get('/swap/peers', (c) => c.json(peersToWire(PEERS)))
    app.get('/swap/cheques', (c) => c.json(chequesToWire(CHEQUES)))
    app.post('/swap/cash', async (c) => {
      if (!operatorOnly(c.req.header('authorization')))
        return c.json({ error: 'ForbiddenError', message: 'Only the operator may cash.' }, 403)
      const { peer } = validate(cashBody, await c.req.json(), 'body')
      return c.json(cashToWire({ ...CASH, peer }))
    })
    app.post('/swap/:verb{deposit|withdraw}', async (c) => {
      const { amount } = validate(amountBody, await c.req.json(), 'body')
      const balance =
        OVERVIEW.book!.balance + (c.req.param('verb') === 'deposit' ? 1n : -1n) * BigInt(amount)
      return c.json(moveToWire({ txHash: TX, balance }))
    })
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    close = () => new Promise((resolve) => server.close(() => resolve()))
  })

  afterAll(async () => {
    await close()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Runs `rwa swap …` in this process and returns what it printed. */
  async function rwa(...args: string[]): Promise<string> {
    const program = new Command('rwa').exitOverride().configureOutput({
      writeOut: () => {},
      writeErr: () => {},
    })
    swapCli.register(program)
    const printed: string[] = []
    const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
      printed.push(parts.map(String).join(' '))
    })
    try {
      await program.parseAsync(['swap', ...args, '--node', url, '--data-dir', dir], {
        from: 'user',
      })
    } finally {
      log.mockRestore()
    }
    return printed.join('\n')
  }

  test('peers and cheques read the node and print amounts in its token', async () => {
    requests.length = 0
    const peers = await rwa('peers', '--token', tokenFile)
    expect(peers).toContain(`SWAP mode hard, peer ${PEER_A}, chain 31337.`)
    expect(peers).toContain('owes us 1.2 TT')
    expect(peers).toContain('we owe 0.3 TT')
    expect(requests.map((r) => `${r.method} ${r.path}`).sort()).toEqual([
      'GET /swap',
      'GET /swap/peers',
    ])
    expect(requests.every((r) => r.auth === `Bearer ${OPERATOR_TOKEN}`)).toBe(true)
    const json = JSON.parse(await rwa('peers', '--json')) as { peers: { balance: string }[] }
    expect(json.peers.map((p) => p.balance)).toEqual(['1200000', '-300000'])
    const cheques = await rwa('cheques')
    expect(cheques).toContain('Received (1):')
    expect(cheques).toContain('Sent (1):')
  })

  test('cash sends the full peer id of a short form, with the operator token', async () => {
    requests.length = 0
    const printed = await rwa('cash', shortPeer(PEER_B), '--token', tokenFile)
    expect(printed).toBe(
      `Cashed 2 TT from the cheque of peer ${PEER_B} (cumulative payout 5 TT); tx ${TX}.`,
    )
    const post = requests.find((r) => r.method === 'POST')
    expect(post).toEqual({
      method: 'POST',
      path: '/swap/cash',
      auth: `Bearer ${OPERATOR_TOKEN}`,
      body: { peer: PEER_B },
    })
    await expect(rwa('cash', 'zzzzzz', '--token', tokenFile)).rejects.toThrow(
      /No peer of this node matches/,
    )
    // The operator's moves need its token: without a file, nothing is sent.
    requests.length = 0
    await expect(rwa('cash', PEER_B)).rejects.toThrow(
      /The token file ".*" cannot be read; pass --token/,
    )
    expect(requests).toEqual([])
    await expect(rwa('cash', PEER_B, '--token', join(dir, 'other.token'))).rejects.toThrow(
      /cannot be read/,
    )
  })

  test('deposit and withdraw send base units, read from the token or base units', async () => {
    requests.length = 0
    expect(await rwa('deposit', '12.5 TT', '--token', tokenFile)).toBe(
      `Deposited 12.5 TT into the chequebook; its balance is now 62.5 TT; tx ${TX}.`,
    )
    expect(await rwa('withdraw', '2500000', '--token', tokenFile)).toBe(
      `Withdrew 2.5 TT from the chequebook; its balance is now 47.5 TT; tx ${TX}.`,
    )
    expect(requests.filter((r) => r.method === 'POST').map((r) => [r.path, r.body])).toEqual([
      ['/swap/deposit', { amount: '12500000' }],
      ['/swap/withdraw', { amount: '2500000' }],
    ])
    const json = JSON.parse(await rwa('deposit', '1 TT', '--token', tokenFile, '--json'))
    expect(json).toEqual({ amount: '1000000', txHash: TX, balance: '51000000' })
    requests.length = 0
    await expect(rwa('withdraw', '0 TT', '--token', tokenFile)).rejects.toThrow(/more than zero/)
    await expect(rwa('deposit', '1.5 XYZ', '--token', tokenFile)).rejects.toThrow(/paid in TT/)
    expect(requests.filter((r) => r.method === 'POST')).toEqual([])
  })

  test('help names the SWAP words and gives examples', () => {
    const program = new Command('rwa')
    addSwapCommands(program)
    const swap = program.commands.find((c) => c.name() === 'swap')!
    let help = ''
    swap.configureOutput({ writeOut: (text) => (help += text) })
    swap.outputHelp()
    for (const word of [
      'payment threshold',
      'disconnect threshold',
      'cumulative payout',
      'bounced',
      '$ rwa swap deposit "12.5 TT"',
    ])
      expect(help).toContain(word)
    expect(swap.commands.map((c) => c.name())).toEqual([
      'peers',
      'cheques',
      'cash',
      'deposit',
      'withdraw',
    ])
  })
})
