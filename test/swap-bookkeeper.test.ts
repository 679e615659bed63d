import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import { type BookkeeperOptions, createBookkeeper } from '../src/domains/swap/bookkeeper.ts'
import { sqliteSwapStore } from '../src/domains/swap/store.ts'
import type { PeerTerms } from '../src/domains/swap/types.ts'

// The balances of SWAP accounting on a real SQLite store, with a clock the test moves.

const dirs: string[] = []
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

const PEER = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
const terms = (over: Partial<PeerTerms> = {}): PeerTerms => ({
  mode: 'mock',
  chainId: 1337,
  chequebook: '0x1111111111111111111111111111111111111111',
  beneficiary: '0x2222222222222222222222222222222222222222',
  pricePerOp: 1000n,
  pricePerByte: 1n,
  paymentThreshold: 100_000n,
  refreshRate: 0n,
  ...over,
})

function keeper(over: Partial<BookkeeperOptions> = {}, dir?: string) {
  const path = join(dir ?? mkdtempSync(join(tmpdir(), 'rwa-swap-keeper-')), 'swap.sqlite')
  dirs.push(join(path, '..'))
  const clock = { now: 1_000_000 }
  const lines: { msg: string; peer?: string }[] = []
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) },
  )
  const store = sqliteSwapStore(path)
  const options: BookkeeperOptions = {
    mode: 'mock',
    store,
    logger,
    prices: { perOp: 1000n, perByte: 1n },
    maxPeerPrices: { perOp: 10_000n, perByte: 10n },
    paymentThreshold: 100_000n,
    tolerancePercent: 25,
    refreshRate: 0n,
    connected: () => true,
    now: () => clock.now,
    ...over,
  }
  return { keeper: createBookkeeper(options), clock, lines, store, path }
}

describe('the bookkeeper', () => {
  test('served and received answers move the balance at each side’s prices', () => {
    const { keeper: k } = keeper()
    k.served(PEER, { kind: 'ops', ops: 10, bytes: 2000 })
    expect(k.balance(PEER)).toBe(12_000n)
    k.setTerms(PEER, terms({ pricePerOp: 500n, pricePerByte: 2n }))
    k.received(PEER, { kind: 'recon', ops: 0, bytes: 300 })
    expect(k.balance(PEER)).toBe(11_400n)
    const view = k.view(PEER)!
    expect(view.served).toEqual({ answers: 1, ops: 10, bytes: 2000, amount: 12_000n })
    expect(view.received.amount).toBe(600n)
  })

  test('a peer announcing absurd prices is accounted at the highest this node accepts, with a warning', () => {
    const { keeper: k, lines } = keeper()
    k.setTerms(PEER, terms({ pricePerOp: 10n ** 30n, pricePerByte: 10n ** 20n }))
    k.received(PEER, { kind: 'ops', ops: 2, bytes: 100 })
    expect(k.balance(PEER)).toBe(-(2n * 10_000n + 100n * 10n))
    expect(lines.filter((l) => /above the highest this node accepts/.test(l.msg))).toHaveLength(1)
  })

  test('a peer without SWAP (no terms while connected) charges nothing for what it serves', () => {
    const { keeper: k } = keeper()
    k.received(PEER, { kind: 'ops', ops: 100, bytes: 10_000 })
    expect(k.balance(PEER)).toBe(0n)
    k.disconnected(PEER)
    // Terms on a later connection (it turned SWAP on) do not price what it served before.
    k.setTerms(PEER, terms())
    expect(k.balance(PEER)).toBe(0n)
    expect(k.view(PEER)!.received).toEqual({ answers: 0, ops: 0, bytes: 0, amount: 0n })
  })

  test('answers taken before the peer’s terms came are priced when they come (both sides agree)', () => {
    // The server counts from its first answer; the puller may learn its terms after it (a
    // handshake asked before the other side served the protocol, or a slow one).
    const server = keeper({ prices: { perOp: 1000n, perByte: 1n } }).keeper
    const { keeper: puller } = keeper()
    const answers = [
      { kind: 'recon', ops: 0, bytes: 300 },
      { kind: 'ops', ops: 10, bytes: 2000 },
    ] as const
    for (const a of answers) server.served(PEER, a)
    for (const a of answers) puller.received(PEER, a)
    expect(puller.balance(PEER)).toBe(0n)
    puller.setTerms(PEER, terms({ pricePerOp: 1000n, pricePerByte: 1n, mode: 'soft' }))
    expect(puller.balance(PEER)).toBe(-server.balance(PEER))
    expect(puller.view(PEER)!.received).toEqual({
      answers: 2,
      ops: 10,
      bytes: 2300,
      amount: 12_300n,
    })
    // Held only once: a second handshake prices nothing again; later answers go at once.
    puller.setTerms(PEER, terms({ pricePerOp: 1000n, pricePerByte: 1n, mode: 'soft' }))
    puller.received(PEER, { kind: 'ops', ops: 1, bytes: 100 })
    expect(puller.balance(PEER)).toBe(-13_400n)
  })

  test('a peer that announced SWAP off is owed nothing for answers held before its terms', () => {
    const { keeper: k } = keeper()
    k.received(PEER, { kind: 'ops', ops: 5, bytes: 500 })
    k.setTerms(PEER, terms({ mode: 'off' }))
    expect(k.balance(PEER)).toBe(0n)
  })

  test('forgiveness at the lower of the two rates, applied as time passes', () => {
    const { keeper: k, clock } = keeper({ refreshRate: 1000n })
    k.setTerms(PEER, terms({ refreshRate: 400n }))
    k.served(PEER, { kind: 'ops', ops: 5, bytes: 0 })
    clock.now += 2500
    expect(k.balance(PEER)).toBe(4000n)
    clock.now += 60_000
    expect(k.balance(PEER)).toBe(0n)
    expect(k.view(PEER)!.forgiven).toBe(5000n)
  })

  test('the budget shrinks with the room under the disconnect threshold; past it the peer waits', () => {
    const { keeper: k, lines } = keeper()
    expect(k.budget(PEER)).toEqual({ ops: 62, bytes: 62_500 })
    k.served(PEER, { kind: 'ops', ops: 100, bytes: 0 })
    expect(k.budget(PEER)).toEqual({ ops: 12, bytes: 12_500 })
    expect(k.admit(PEER)).toBeUndefined()
    k.served(PEER, { kind: 'ops', ops: 25, bytes: 0 })
    expect(k.view(PEER)!.standing).toBe('cut-off')
    expect(k.admit(PEER)).toBe(5000)
    expect(k.budget(PEER)).toEqual({ ops: 1, bytes: 1 })
    expect(lines.map((l) => l.msg)).toEqual([
      'peer owes past the payment threshold',
      'peer owes past the disconnect threshold: not served until it pays',
    ])
  })

  test('soft mode never refuses nor bounds, but logs', () => {
    const { keeper: k, lines } = keeper({ mode: 'soft' })
    k.served(PEER, { kind: 'ops', ops: 1000, bytes: 0 })
    expect(k.admit(PEER)).toBeUndefined()
    expect(k.budget(PEER)).toBeUndefined()
    expect(lines.at(-1)!.msg).toBe(
      'peer owes past the disconnect threshold (soft mode: still served)',
    )
  })

  test('a cut-off peer forgiven at a rate is told how long until it is under the threshold', () => {
    const { keeper: k } = keeper({ refreshRate: 10_000n })
    k.served(PEER, { kind: 'ops', ops: 135, bytes: 0 })
    // 10,001 over the threshold at 10,000 a second: about a second.
    expect(k.admit(PEER)).toBe(1001)
  })

  test('cheques move the balance when taken and when acknowledged, and survive a reopening', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rwa-swap-keeper-'))
    const first = keeper({}, dir)
    const k = first.keeper
    k.served(PEER, { kind: 'ops', ops: 50, bytes: 0 })
    const cheque = {
      peer: PEER,
      chequebook: '0x1111111111111111111111111111111111111111',
      beneficiary: '0x2222222222222222222222222222222222222222',
      cumulativePayout: 30_000n,
      increase: 30_000n,
      signature: `0x${'ab'.repeat(65)}`,
      at: 5,
      cashed: 0n,
      lastCash: null,
    } as const
    k.chequeTaken(cheque)
    expect(k.balance(PEER)).toBe(20_000n)
    const other = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'
    k.setTerms(other, terms())
    k.received(other, { kind: 'ops', ops: 40, bytes: 0 })
    k.chequeIssued({ ...cheque, peer: other, cumulativePayout: 40_000n, increase: 40_000n })
    expect(k.balance(other)).toBe(-40_000n)
    k.chequeAcknowledged(other, 40_000n, 0n)
    expect(k.balance(other)).toBe(0n)
    expect(k.acknowledgedCumulative(other)).toBe(40_000n)
    k.flush()
    first.store.close()
    const again = keeper({}, dir).keeper
    expect(again.balance(PEER)).toBe(20_000n)
    expect(again.lastCheque('in', PEER)!.cumulativePayout).toBe(30_000n)
    expect(again.lastCheque('out', other)!.cumulativePayout).toBe(40_000n)
    expect(again.acknowledgedCumulative(other)).toBe(40_000n)
    expect(again.view(other)!.terms).toEqual(terms())
  })

  test('a cashing that ends after a newer cheque came in applies to the newer one (it is not lost)', () => {
    const { keeper: k } = keeper()
    const cheque = (cumulativePayout: bigint, increase: bigint) =>
      ({
        peer: PEER,
        chequebook: '0x1111111111111111111111111111111111111111',
        beneficiary: '0x2222222222222222222222222222222222222222',
        cumulativePayout,
        increase,
        signature: `0x${'ab'.repeat(65)}`,
        at: 1,
        cashed: k.lastCheque('in', PEER)?.cashed ?? 0n,
        lastCash: null,
      }) as const
    k.served(PEER, { kind: 'ops', ops: 100, bytes: 0 })
    k.chequeTaken(cheque(30_000n, 30_000n))
    // Cashing the 30,000 cheque starts; meanwhile the 70,000 one comes in.
    k.chequeTaken(cheque(70_000n, 40_000n))
    const result = {
      peer: PEER,
      txHash: `0x${'cd'.repeat(32)}`,
      paid: 30_000n,
      cumulativePayout: 30_000n,
      bounced: false,
      at: 2,
    } as const
    k.cashed(PEER, 30_000n, result)
    const last = k.lastCheque('in', PEER)!
    expect(last.cumulativePayout).toBe(70_000n)
    expect(last.cashed).toBe(30_000n)
    expect(k.view(PEER)!.uncashed).toBe(40_000n)
    expect(k.balance(PEER)).toBe(30_000n)
    // A cheque checked while a cashing ended, with what was cashed read before: not set back.
    k.chequeTaken({ ...cheque(80_000n, 10_000n), cashed: 0n })
    expect(k.lastCheque('in', PEER)!.cashed).toBe(30_000n)
  })

  test('a bounced peer is never admitted again, across a reopening', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rwa-swap-keeper-'))
    const first = keeper({}, dir)
    first.keeper.markBounced(PEER)
    expect(first.keeper.admit(PEER)).toBe(5000)
    first.store.close()
    const again = keeper({}, dir).keeper
    expect(again.isBounced(PEER)).toBe(true)
    expect(again.view(PEER)!.standing).toBe('bounced')
  })
})
