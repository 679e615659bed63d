import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { Address, Hex } from 'viem'
import type { CashResult, ChequeView, PeerTerms, SwapMode, Traffic } from './types.ts'

// The SWAP accounting's durable state (issue 22), in `<dataDir>/swap.sqlite`: each peer's
// balance, traffic, terms and standing, and the last cheque each way. Cheques are written in the
// transaction that moves the balance, before they are sent (out) or acknowledged (in). Balances
// moved by traffic are written in batches (`savePeers`, each second and on stop): a crash loses at
// most the traffic of the last second, never a cheque.

/** A peer's record. */
export type PeerRecord = {
  readonly peer: string
  balance: bigint
  /** When forgiveness was last applied (ms since the epoch). */
  at: number
  forgiven: bigint
  served: Traffic
  received: Traffic
  terms: PeerTerms | null
  bounced: boolean
  /** The peer's view of the balance in its last acknowledgement of our cheque. */
  acknowledged: bigint | null
  /** Sent cheques: the cumulative payout the peer acknowledged last. */
  ackedCumulative: bigint
}

/** A stored cheque, one direction. */
export type StoredCheque = Omit<ChequeView, 'cashed' | 'lastCash'> & {
  readonly cashed: bigint
  readonly lastCash: CashResult | null
}

/** The store of the accounting. */
export interface SwapStore {
  peers(): PeerRecord[]
  /** Writes these peers' records (one transaction). */
  savePeers(records: readonly PeerRecord[]): void
  /** The last cheque each way, per peer. */
  cheques(direction: 'in' | 'out'): StoredCheque[]
  /** Writes a cheque and its peer's record in one transaction. */
  saveCheque(direction: 'in' | 'out', cheque: StoredCheque, record: PeerRecord): void
  /** Notes a cashing of the peer's last cheque. */
  saveCash(peer: string, cashed: bigint, result: CashResult): void
  /** A small value kept across restarts (this node's chequebook). */
  getMeta(key: string): string | undefined
  setMeta(key: string, value: string): void
  close(): void
}

const EMPTY: Traffic = { answers: 0, ops: 0, bytes: 0, amount: 0n }

type TrafficJson = { answers: number; ops: number; bytes: number; amount: string }
type TermsJson = Omit<
  PeerTerms,
  'pricePerOp' | 'pricePerByte' | 'paymentThreshold' | 'refreshRate'
> & {
  pricePerOp: string
  pricePerByte: string
  paymentThreshold: string
  refreshRate: string
}

const trafficOut = (t: Traffic): string => JSON.stringify({ ...t, amount: t.amount.toString() })
function trafficIn(text: string): Traffic {
  const t = JSON.parse(text) as TrafficJson
  return { answers: t.answers, ops: t.ops, bytes: t.bytes, amount: BigInt(t.amount) }
}
function termsOut(t: PeerTerms | null): string | null {
  if (!t) return null
  return JSON.stringify({
    ...t,
    pricePerOp: t.pricePerOp.toString(),
    pricePerByte: t.pricePerByte.toString(),
    paymentThreshold: t.paymentThreshold.toString(),
    refreshRate: t.refreshRate.toString(),
  })
}
function termsIn(text: string | null): PeerTerms | null {
  if (text === null) return null
  const t = JSON.parse(text) as TermsJson
  return {
    mode: t.mode as SwapMode,
    chainId: t.chainId,
    chequebook: t.chequebook,
    beneficiary: t.beneficiary,
    pricePerOp: BigInt(t.pricePerOp),
    pricePerByte: BigInt(t.pricePerByte),
    paymentThreshold: BigInt(t.paymentThreshold),
    refreshRate: BigInt(t.refreshRate),
  }
}
const cashOut = (r: CashResult | null) =>
  r
    ? JSON.stringify({
        ...r,
        paid: r.paid.toString(),
        cumulativePayout: r.cumulativePayout.toString(),
      })
    : null
function cashIn(text: string | null): CashResult | null {
  if (text === null) return null
  const r = JSON.parse(text) as Omit<CashResult, 'paid' | 'cumulativePayout'> & {
    paid: string
    cumulativePayout: string
  }
  return { ...r, paid: BigInt(r.paid), cumulativePayout: BigInt(r.cumulativePayout) }
}

type PeerRow = {
  peer: string
  balance: string
  at: number
  forgiven: string
  served: string
  received: string
  terms: string | null
  bounced: number
  acknowledged: string | null
  acked_cumulative: string
}
type ChequeRow = {
  peer: string
  chequebook: string
  beneficiary: string
  cumulative: string
  increase: string
  signature: string
  at: number
  cashed: string
  last_cash: string | null
}

/** A fresh record of a peer not seen before. */
export function newPeerRecord(peer: string, now: number): PeerRecord {
  return {
    peer,
    balance: 0n,
    at: now,
    forgiven: 0n,
    served: EMPTY,
    received: EMPTY,
    terms: null,
    bounced: false,
    acknowledged: null,
    ackedCumulative: 0n,
  }
}

/** Opens (creating) the store at `path`. */
export function sqliteSwapStore(path: string): SwapStore {
  mkdirSync(dirname(path), { recursive: true })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  db.exec(`
    CREATE TABLE IF NOT EXISTS peers (
      peer TEXT PRIMARY KEY,
      balance TEXT NOT NULL,
      at INTEGER NOT NULL,
      forgiven TEXT NOT NULL,
      served TEXT NOT NULL,
      received TEXT NOT NULL,
      terms TEXT,
      bounced INTEGER NOT NULL,
      acknowledged TEXT,
      acked_cumulative TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS cheques (
      direction TEXT NOT NULL,
      peer TEXT NOT NULL,
      chequebook TEXT NOT NULL,
      beneficiary TEXT NOT NULL,
      cumulative TEXT NOT NULL,
      increase TEXT NOT NULL,
      signature TEXT NOT NULL,
      at INTEGER NOT NULL,
      cashed TEXT NOT NULL,
      last_cash TEXT,
      PRIMARY KEY (direction, peer)
    );
    CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `)
  const upsertPeer = db.prepare(`
    INSERT INTO peers VALUES (@peer, @balance, @at, @forgiven, @served, @received, @terms, @bounced, @acknowledged, @acked_cumulative)
    ON CONFLICT (peer) DO UPDATE SET balance = excluded.balance, at = excluded.at,
      forgiven = excluded.forgiven, served = excluded.served, received = excluded.received,
      terms = excluded.terms, bounced = excluded.bounced, acknowledged = excluded.acknowledged,
      acked_cumulative = excluded.acked_cumulative`)
  const upsertCheque = db.prepare(`
    INSERT INTO cheques VALUES (@direction, @peer, @chequebook, @beneficiary, @cumulative, @increase, @signature, @at, @cashed, @last_cash)
    ON CONFLICT (direction, peer) DO UPDATE SET chequebook = excluded.chequebook,
      beneficiary = excluded.beneficiary, cumulative = excluded.cumulative,
      increase = excluded.increase, signature = excluded.signature, at = excluded.at,
      cashed = excluded.cashed, last_cash = excluded.last_cash`)
  const peerRow = (r: PeerRecord) => ({
    peer: r.peer,
    balance: r.balance.toString(),
    at: r.at,
    forgiven: r.forgiven.toString(),
    served: trafficOut(r.served),
    received: trafficOut(r.received),
    terms: termsOut(r.terms),
    bounced: r.bounced ? 1 : 0,
    acknowledged: r.acknowledged === null ? null : r.acknowledged.toString(),
    acked_cumulative: r.ackedCumulative.toString(),
  })
  const savePeers = db.transaction((records: readonly PeerRecord[]) => {
    for (const r of records) upsertPeer.run(peerRow(r))
  })
  const saveCheque = db.transaction(
    (direction: 'in' | 'out', c: StoredCheque, record: PeerRecord) => {
      upsertCheque.run({
        direction,
        peer: c.peer,
        chequebook: c.chequebook,
        beneficiary: c.beneficiary,
        cumulative: c.cumulativePayout.toString(),
        increase: c.increase.toString(),
        signature: c.signature,
        at: c.at,
        cashed: c.cashed.toString(),
        last_cash: cashOut(c.lastCash),
      })
      upsertPeer.run(peerRow(record))
    },
  )
  const setCash = db.prepare(
    `UPDATE cheques SET cashed = ?, last_cash = ? WHERE direction = 'in' AND peer = ?`,
  )
  return {
    peers: () =>
      (db.prepare('SELECT * FROM peers').all() as PeerRow[]).map((r) => ({
        peer: r.peer,
        balance: BigInt(r.balance),
        at: r.at,
        forgiven: BigInt(r.forgiven),
        served: trafficIn(r.served),
        received: trafficIn(r.received),
        terms: termsIn(r.terms),
        bounced: r.bounced === 1,
        acknowledged: r.acknowledged === null ? null : BigInt(r.acknowledged),
        ackedCumulative: BigInt(r.acked_cumulative),
      })),
    savePeers: (records) => savePeers(records),
    cheques: (direction) =>
      (
        db
          .prepare('SELECT * FROM cheques WHERE direction = ? ORDER BY at DESC')
          .all(direction) as ChequeRow[]
      ).map((r) => ({
        peer: r.peer,
        chequebook: r.chequebook as Address,
        beneficiary: r.beneficiary as Address,
        cumulativePayout: BigInt(r.cumulative),
        increase: BigInt(r.increase),
        signature: r.signature as Hex,
        at: r.at,
        cashed: BigInt(r.cashed),
        lastCash: cashIn(r.last_cash),
      })),
    saveCheque: (direction, cheque, record) => saveCheque(direction, cheque, record),
    saveCash(peer, cashed, result) {
      setCash.run(cashed.toString(), cashOut(result), peer)
    },
    getMeta: (key) =>
      (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)
        ?.value,
    setMeta(key, value) {
      db.prepare(
        'INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
      ).run(key, value)
    },
    close: () => db.close(),
  }
}
