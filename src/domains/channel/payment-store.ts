import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import { type Address, getAddress, type Hex, isAddress, isAddressEqual } from 'viem'
import { recoverClaimSigner } from '../../core/channel/claim.ts'
import type { AcceptedPayment, ChannelPayment } from '../../core/channel/payment.ts'
import { MAX_UINT256 } from '../../core/channel/payment.ts'
import {
  PaymentError,
  WrongChannelNonceError,
  WrongPaymentAmountError,
} from '../../core/channel/payment-errors.ts'
import { describeValue } from '../../core/text.ts'
import { BaseError, type BaseErrorOptions } from '../../errors/base.ts'

// The gateway's durable state of each channel it is paid through (issue 21): what makes "a crash
// can neither let a client pay twice nor let a paid call go unrecorded" true. A paid call is
// written ahead (`begin`) before the upstream call, then committed or aborted in one transaction.
//
// Recovery policy (`recover`, run once on start, before any `begin`):
// - A pending payment left by a crash whose signature still recovers to the address that signed
//   it when it was accepted is money the service holds (it can claim it on chain), so it is
//   committed: authorised := its amount. Whether the upstream call ran is unknown, so the client,
//   which never got its answer, may retry the very same signed payment once: `takeReplay` serves
//   it without charging again. The next call pays exactly the price over that amount.
// - A committed payment also keeps one free retry until the gateway records that its answer was
//   handed over (`delivered`): a crash between commit and answer costs the client nothing either.
// - At most one free retry per committed payment; a new `begin` on the channel withdraws it.
// - A row that does not read (corrupt) or is not ours (another escrow, a signature by someone else
//   than recorded) is refused with `PaymentStoreCorruptError` and left untouched for an operator.

/** The one payment of a channel written ahead of its call, not yet committed or aborted. */
export type PendingPayment = {
  readonly channelId: bigint
  /** Names this call: `commit` and `abort` must give it back. */
  readonly callId: string
  readonly nonce: bigint
  /** The cumulative amount the payment authorises once committed. */
  readonly amount: bigint
  readonly signature: Hex
  /** Who signed it, as `checkPayment` found: the channel's signer or sender. */
  readonly signedBy: Address
  /** When it was written ahead, in milliseconds since 1970. */
  readonly since: number
}

/** The last payment at a nonce a claim moved past: what the treasurer claims on chain. */
export type ClaimedPayment = {
  readonly nonce: bigint
  readonly amount: bigint
  readonly signature: Hex
}

/** The service's durable state of one channel. */
export type StoredChannel = {
  readonly channelId: bigint
  readonly nonce: bigint
  /** The largest amount committed at `nonce`; 0 at first and after each claim. */
  readonly authorised: bigint
  /** The client's signature of `authorised`, absent while it is 0. */
  readonly signature?: Hex
  readonly signedBy?: Address
  /** The channel's value as of the last claim, when a claim told it. */
  readonly value?: bigint
  /** Free retries of the committed payment left: 0 or 1. */
  readonly replays: number
  /** The payment at the previous nonce, while its claim may not be final on chain. */
  readonly previous?: ClaimedPayment
  readonly pending?: PendingPayment
}

/** What `recover` did with each pending payment a crash left. */
export type RecoveryReport = {
  /** Pending payments committed (each with one free retry). */
  readonly committed: readonly PendingPayment[]
  /** Rows refused: left as they are, for an operator. */
  readonly refused: readonly PaymentStoreCorruptError[]
}

/** The durable channel state of a paid-call gateway. */
export interface PaymentStore {
  /**
   * Writes a payment that passed `checkPayment` ahead of its call, and withdraws the channel's
   * free retry. Throws `PaymentPendingError` (409) while another call on the channel is pending.
   */
  begin(channelId: bigint, accepted: AcceptedPayment): Promise<PendingPayment>
  /** The call succeeded: authorised := the pending amount and signature, in one transaction. */
  commit(channelId: bigint, callId: string): Promise<StoredChannel>
  /** The call failed: the pending payment is dropped and nothing is charged. */
  abort(channelId: bigint, callId: string): Promise<StoredChannel | undefined>
  /** The answer of a committed call was handed over: its free retry is withdrawn. */
  delivered(channelId: bigint, callId: string): Promise<void>
  /** Commits every pending payment a crash left (see the policy above); run once on start. */
  recover(): Promise<RecoveryReport>
  /** Whether `payment` is the committed one and may still be served once without charge. */
  isReplay(channelId: bigint, payment: ChannelPayment): Promise<boolean>
  /** Uses the free retry of `payment` when `isReplay`; true when this call is to be served free. */
  takeReplay(channelId: bigint, payment: ChannelPayment): Promise<boolean>
  get(channelId: bigint): Promise<StoredChannel | undefined>
  /** Every channel, by id. Throws `PaymentStoreCorruptError` on a row that does not read. */
  list(): Promise<StoredChannel[]>
  /**
   * A claim started (the treasurer's first step): nonce := `newNonce`, authorised := 0, value :=
   * `newValue`; the old payment is kept as `previous`, and returned, for the claim on chain.
   * Throws `PaymentPendingError` while a call is pending.
   */
  claimed(
    channelId: bigint,
    newNonce: bigint,
    newValue: bigint,
  ): Promise<ClaimedPayment | undefined>
  close(): Promise<void>
}

/** Thrown when a call on a channel is pending, or its queue is full: retry after it. */
export class PaymentPendingError extends PaymentError {
  override name = 'PaymentPendingError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when `commit`, `abort` or `delivered` names a call that is not the channel's. */
export class UnknownPaymentCallError extends BaseError {
  override name = 'UnknownPaymentCallError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when a stored channel row does not read, or belongs to another escrow or signer. */
export class PaymentStoreCorruptError extends BaseError {
  override name = 'PaymentStoreCorruptError' as const
  override readonly kind = 'unavailable' as const
  /** The row's key as stored (it may not be a number). */
  readonly row: string

  constructor(row: string, reason: string, options: BaseErrorOptions = {}) {
    super(
      `The stored state of channel ${describeValue(row, 90)} ${reason}; restore it from a backup or the chain before serving it.`,
      options,
    )
    this.row = row
  }
}

/** Thrown when the channel store's file cannot be opened. */
export class PaymentStoreOpenError extends BaseError {
  override name = 'PaymentStoreOpenError' as const
  override readonly kind = 'unavailable' as const
}

/** Options of `sqlitePaymentStore`. */
export type SqlitePaymentStoreOptions = {
  /** Database file, created with its folder when missing; `:memory:` for a throwaway store. */
  path: string
  /** The MultiPartyEscrow contract the payments are signed for; rows of another are refused. */
  escrow: Address
  /**
   * `full` (default): each transaction is fsynced, so a payment survives a power cut too;
   * `normal`: it survives a crash of the process (WAL), not of the machine.
   */
  durability?: 'full' | 'normal'
  /** The clock of `since`; `Date.now` unless given. */
  now?: () => number
}

const SCHEMA_VERSION = '1'

// Amounts, nonces and ids are uint256: stored as decimal text (no SQLite integer holds them).
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY,
    escrow TEXT NOT NULL,
    nonce TEXT NOT NULL,
    authorised TEXT NOT NULL,
    signature TEXT,
    signed_by TEXT,
    value TEXT,
    replays INTEGER NOT NULL DEFAULT 0,
    last_call TEXT,
    previous_nonce TEXT,
    previous_amount TEXT,
    previous_signature TEXT,
    pending_call TEXT,
    pending_amount TEXT,
    pending_signature TEXT,
    pending_signed_by TEXT,
    pending_since INTEGER
  ) WITHOUT ROWID;
`

type Row = {
  id: string
  escrow: unknown
  nonce: unknown
  authorised: unknown
  signature: unknown
  signed_by: unknown
  value: unknown
  replays: unknown
  last_call: unknown
  previous_nonce: unknown
  previous_amount: unknown
  previous_signature: unknown
  pending_call: unknown
  pending_amount: unknown
  pending_signature: unknown
  pending_signed_by: unknown
  pending_since: unknown
}

/** A channel as read from its row, with the call id of its last commit. */
type Parsed = StoredChannel & { readonly lastCall?: string }

/**
 * Opens the gateway's channel store in a SQLite file (WAL journal). Each method is one
 * transaction, so a crash leaves every channel either before or after it.
 * @example
 * const store = sqlitePaymentStore({ path: join(dataDir, 'channels.sqlite'), escrow })
 * await store.recover()
 */
export function sqlitePaymentStore({
  path,
  escrow,
  durability = 'full',
  now = Date.now,
}: SqlitePaymentStoreOptions): PaymentStore {
  const db = openDatabase(path)
  db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`)
  const ours = getAddress(escrow)
  const rows = new ChannelRows(db, ours)
  let closed = false
  const open = () => {
    if (closed) throw new PaymentStoreOpenError(`The channel store at "${path}" is closed.`)
  }
  // Immediate transactions: the read of a row and the write that follows it cannot interleave
  // with another connection's. Errors, even of a closed store, come back as rejections.
  // With `full` durability only the transactions that make money final are fsynced (commit,
  // recover, claimed): a write ahead (`begin`) or a delivery mark lost to a power cut costs
  // nothing, since the answer is held until its commit, whose fsync carries them too (WAL).
  let sync: 'FULL' | 'NORMAL' = durability === 'full' ? 'FULL' : 'NORMAL'
  const run = <T>(fn: () => T, final = true): Promise<T> =>
    Promise.resolve().then(() => {
      open()
      const wanted = durability === 'full' && final ? 'FULL' : 'NORMAL'
      if (wanted !== sync) {
        db.pragma(`synchronous = ${wanted}`)
        sync = wanted
      }
      return db.transaction(fn).immediate()
    })
  return {
    begin: (channelId, accepted) =>
      run(() => {
        const channel = rows.get(channelId)
        const pending = pendingOf(channelId, accepted, channel, now())
        rows.writePending(pending, channel === undefined)
        return pending
      }, false),
    commit: (channelId, callId) =>
      run(() => {
        const pending = rows.pendingCall(channelId, callId)
        rows.writeCommit(pending)
        return strip(rows.get(channelId))!
      }),
    abort: (channelId, callId) =>
      run(() => {
        rows.pendingCall(channelId, callId)
        rows.clearPending(channelId)
        return strip(rows.get(channelId))
      }),
    delivered: (channelId, callId) =>
      run(() => {
        const channel = rows.get(channelId)
        if (channel?.lastCall !== callId)
          throw new UnknownPaymentCallError(
            `Call "${callId}" is not the last committed call of channel "${channelId}"; mark a call delivered only after its commit.`,
          )
        rows.setReplays(channelId, 0)
      }, false),
    recover: () => run(() => recoverAll(rows, ours)),
    isReplay: (channelId, payment) => run(() => isReplayOf(rows.get(channelId), payment), false),
    takeReplay: (channelId, payment) =>
      run(() => {
        if (!isReplayOf(rows.get(channelId), payment)) return false
        rows.setReplays(channelId, 0)
        return true
      }),
    get: (channelId) => run(() => strip(rows.get(channelId)), false),
    list: () => run(() => rows.all().map((row) => strip(rows.parse(row))!), false),
    claimed: (channelId, newNonce, newValue) =>
      run(() => {
        const channel = rows.get(channelId)
        assertClaimable(channelId, channel, newNonce, newValue)
        const previous = previousOf(channel)
        rows.writeClaim(channelId, newNonce, newValue, previous)
        return previous
      }),
    async close() {
      if (closed) return
      closed = true
      db.close()
    },
  }
}

/** The pending payment `accepted` makes, refused when it does not follow the stored state. */
function pendingOf(
  channelId: bigint,
  accepted: AcceptedPayment,
  channel: Parsed | undefined,
  since: number,
): PendingPayment {
  if (accepted.channelId !== channelId)
    throw new WrongChannelNonceError(
      `The payment is for channel "${accepted.channelId}", not "${channelId}"; begin it on its own channel.`,
    )
  if (channel?.pending !== undefined)
    throw new PaymentPendingError(
      `Channel "${channelId}" has a call in progress (since ${channel.pending.since}); retry once it is answered.`,
    )
  if (channel !== undefined && accepted.nonce !== channel.nonce)
    throw new WrongChannelNonceError(
      `Channel "${channelId}" is at nonce "${channel.nonce}", not "${accepted.nonce}"; check the payment against the current state again.`,
    )
  const authorised = channel?.authorised ?? 0n
  if (accepted.authorised <= authorised)
    throw new WrongPaymentAmountError(
      `Amount "${accepted.authorised}" does not add to the "${authorised}" already authorised on channel "${channelId}"; check the payment against the current state again.`,
    )
  return {
    channelId,
    callId: randomUUID(),
    nonce: accepted.nonce,
    amount: accepted.authorised,
    signature: accepted.signature,
    signedBy: accepted.signedBy,
    since,
  }
}

function isReplayOf(channel: Parsed | undefined, payment: ChannelPayment): boolean {
  return (
    channel !== undefined &&
    channel.pending === undefined &&
    channel.replays > 0 &&
    channel.signature !== undefined &&
    payment.channelId === channel.channelId &&
    payment.nonce === channel.nonce &&
    payment.amount === channel.authorised &&
    payment.signature.toLowerCase() === channel.signature.toLowerCase()
  )
}

function assertClaimable(
  channelId: bigint,
  channel: Parsed | undefined,
  newNonce: bigint,
  newValue: bigint,
): void {
  if (channel?.pending !== undefined)
    throw new PaymentPendingError(
      `Channel "${channelId}" has a call in progress; claim it once the call is answered.`,
    )
  const nonce = channel?.nonce ?? -1n
  if (newNonce <= nonce || newNonce > MAX_UINT256 || newValue < 0n || newValue > MAX_UINT256)
    throw new WrongChannelNonceError(
      `A claim of channel "${channelId}" cannot move it from nonce "${nonce}" to "${newNonce}" with value "${newValue}"; the nonce only grows and the value is a uint256.`,
    )
}

function previousOf(channel: Parsed | undefined): ClaimedPayment | undefined {
  if (channel?.signature === undefined || channel.authorised === 0n) return channel?.previous
  return { nonce: channel.nonce, amount: channel.authorised, signature: channel.signature }
}

/** Commits each pending payment whose signature still recovers to its recorded signer. */
function recoverAll(rows: ChannelRows, escrow: Address): RecoveryReport {
  const committed: PendingPayment[] = []
  const refused: PaymentStoreCorruptError[] = []
  for (const row of rows.all()) {
    try {
      const channel = rows.parse(row)
      assertSignedBy(row.id, escrow, channel)
      if (channel.pending === undefined) continue
      rows.writeCommit(channel.pending, 1)
      committed.push(channel.pending)
    } catch (error) {
      if (!(error instanceof PaymentStoreCorruptError)) throw error
      refused.push(error)
    }
  }
  return { committed, refused }
}

/** Checks that the stored signatures recover to the signers recorded with them. */
function assertSignedBy(id: string, escrow: Address, channel: Parsed): void {
  const { channelId, nonce } = channel
  const checks: [string, bigint, Hex | undefined, Address | undefined][] = [
    ['committed', channel.authorised, channel.signature, channel.signedBy],
    [
      'pending',
      channel.pending?.amount ?? 0n,
      channel.pending?.signature,
      channel.pending?.signedBy,
    ],
  ]
  for (const [what, amount, signature, signedBy] of checks) {
    if (signature === undefined || signedBy === undefined) continue
    const signer = recoverClaimSigner(escrow, channelId, nonce, amount, signature)
    if (signer === undefined || !isAddressEqual(signer, signedBy))
      throw new PaymentStoreCorruptError(
        id,
        `holds a ${what} payment of "${amount}" whose signature is by "${signer ?? 'no key'}", not by "${signedBy}" as recorded`,
      )
  }
}

function strip(channel: Parsed | undefined): StoredChannel | undefined {
  if (channel === undefined) return undefined
  const { lastCall: _, ...rest } = channel
  return rest
}

/** The prepared statements of the channels table, and the reading of its rows. */
class ChannelRows {
  private readonly select: Database.Statement
  private readonly selectAll: Database.Statement
  private readonly insert: Database.Statement
  private readonly setPending: Database.Statement
  private readonly commit: Database.Statement
  private readonly clear: Database.Statement
  private readonly replays: Database.Statement
  private readonly claim: Database.Statement

  constructor(
    db: Database.Database,
    private readonly escrow: Address,
  ) {
    this.select = db.prepare('SELECT * FROM channels WHERE id = ?')
    this.selectAll = db.prepare('SELECT * FROM channels ORDER BY length(id), id')
    this.insert = db.prepare(
      "INSERT INTO channels (id, escrow, nonce, authorised) VALUES (?, ?, ?, '0')",
    )
    this.setPending = db.prepare(
      'UPDATE channels SET replays = 0, pending_call = ?, pending_amount = ?, pending_signature = ?, pending_signed_by = ?, pending_since = ? WHERE id = ?',
    )
    this.commit = db.prepare(
      'UPDATE channels SET authorised = pending_amount, signature = pending_signature, signed_by = pending_signed_by, last_call = pending_call, replays = ?, pending_call = NULL, pending_amount = NULL, pending_signature = NULL, pending_signed_by = NULL, pending_since = NULL WHERE id = ?',
    )
    this.clear = db.prepare(
      'UPDATE channels SET pending_call = NULL, pending_amount = NULL, pending_signature = NULL, pending_signed_by = NULL, pending_since = NULL WHERE id = ?',
    )
    this.replays = db.prepare('UPDATE channels SET replays = ? WHERE id = ?')
    this.claim = db.prepare(
      "UPDATE channels SET nonce = ?, value = ?, authorised = '0', signature = NULL, signed_by = NULL, replays = 0, previous_nonce = ?, previous_amount = ?, previous_signature = ? WHERE id = ?",
    )
  }

  get(channelId: bigint): Parsed | undefined {
    const row = this.select.get(channelId.toString()) as Row | undefined
    return row === undefined ? undefined : this.parse(row)
  }

  all(): Row[] {
    return this.selectAll.all() as Row[]
  }

  /** The channel's pending payment, which must be call `callId`. */
  pendingCall(channelId: bigint, callId: string): PendingPayment {
    const pending = this.get(channelId)?.pending
    if (pending?.callId === callId) return pending
    throw new UnknownPaymentCallError(
      `Call ${describeValue(callId, 40)} is not pending on channel "${channelId}"${pending ? ` (call "${pending.callId}" is)` : ''}; commit or abort only the call that began.`,
    )
  }

  writePending(p: PendingPayment, create: boolean): void {
    const id = p.channelId.toString()
    if (create) this.insert.run(id, this.escrow, p.nonce.toString())
    this.setPending.run(p.callId, p.amount.toString(), p.signature, p.signedBy, p.since, id)
  }

  writeCommit(p: PendingPayment, replays = 1): void {
    this.commit.run(replays, p.channelId.toString())
  }

  clearPending(channelId: bigint): void {
    this.clear.run(channelId.toString())
  }

  setReplays(channelId: bigint, replays: number): void {
    this.replays.run(replays, channelId.toString())
  }

  writeClaim(channelId: bigint, nonce: bigint, value: bigint, previous?: ClaimedPayment): void {
    const id = channelId.toString()
    if (this.select.get(id) === undefined) this.insert.run(id, this.escrow, nonce.toString())
    this.claim.run(
      nonce.toString(),
      value.toString(),
      previous?.nonce.toString() ?? null,
      previous?.amount.toString() ?? null,
      previous?.signature ?? null,
      id,
    )
  }

  /** Reads a row, checking every field; a row of another escrow is refused as foreign. */
  parse(row: Row): Parsed {
    const read = new RowReader(row)
    const escrow = read.address('escrow')
    if (!isAddressEqual(escrow, this.escrow))
      throw new PaymentStoreCorruptError(
        row.id,
        `belongs to escrow "${escrow}", not this gateway's "${this.escrow}"`,
      )
    const channelId = read.uint('id')
    const nonce = read.uint('nonce')
    const authorised = read.uint('authorised')
    const committed = read.optional('signature', 'signed_by')
    if ((authorised === 0n) !== (committed === undefined))
      throw read.corrupt('has an authorised amount without its signature, or the reverse')
    const replays = read.replays()
    const lastCall = read.text('last_call')
    const value = row.value === null ? undefined : read.uint('value')
    const previous = read.previous()
    const pending = read.pending(channelId, nonce, authorised)
    return {
      channelId,
      nonce,
      authorised,
      ...(committed && { signature: committed.signature, signedBy: committed.signedBy }),
      ...(value !== undefined && { value }),
      replays,
      ...(previous && { previous }),
      ...(pending && { pending }),
      ...(lastCall !== undefined && { lastCall }),
    }
  }
}

const DECIMAL = /^(0|[1-9][0-9]{0,77})$/
const SIGNATURE = /^0x[0-9a-fA-F]{130}$/

/** Reads the fields of one row, refusing any that is not what `sqlitePaymentStore` writes. */
class RowReader {
  constructor(private readonly row: Row) {}

  corrupt(reason: string): PaymentStoreCorruptError {
    return new PaymentStoreCorruptError(String(this.row.id), reason)
  }

  uint(field: keyof Row): bigint {
    const text = this.row[field]
    if (typeof text !== 'string' || !DECIMAL.test(text) || BigInt(text) > MAX_UINT256)
      throw this.corrupt(`has ${describeValue(text, 40)} as ${field}, not a uint256`)
    return BigInt(text)
  }

  address(field: keyof Row): Address {
    const text = this.row[field]
    if (typeof text !== 'string' || !isAddress(text, { strict: false }))
      throw this.corrupt(`has ${describeValue(text, 50)} as ${field}, not an address`)
    return getAddress(text)
  }

  signature(field: keyof Row): Hex {
    const text = this.row[field]
    if (typeof text !== 'string' || !SIGNATURE.test(text))
      throw this.corrupt(`has ${describeValue(text, 40)} as ${field}, not a 65-byte signature`)
    return text as Hex
  }

  text(field: keyof Row): string | undefined {
    const text = this.row[field]
    if (text === null) return undefined
    if (typeof text !== 'string' || text.length === 0 || text.length > 64)
      throw this.corrupt(`has ${describeValue(text, 40)} as ${field}, not a call id`)
    return text
  }

  /** A signature and its signer, both present or both absent. */
  optional(
    signature: keyof Row,
    signedBy: keyof Row,
  ): { signature: Hex; signedBy: Address } | undefined {
    if (this.row[signature] === null && this.row[signedBy] === null) return undefined
    return { signature: this.signature(signature), signedBy: this.address(signedBy) }
  }

  replays(): number {
    const replays = this.row.replays
    if (replays !== 0 && replays !== 1)
      throw this.corrupt(`has ${describeValue(replays)} free retries, not 0 or 1`)
    return replays
  }

  previous(): ClaimedPayment | undefined {
    if (this.row.previous_nonce === null && this.row.previous_signature === null) return undefined
    return {
      nonce: this.uint('previous_nonce'),
      amount: this.uint('previous_amount'),
      signature: this.signature('previous_signature'),
    }
  }

  pending(channelId: bigint, nonce: bigint, authorised: bigint): PendingPayment | undefined {
    const { row } = this
    const fields = [row.pending_call, row.pending_amount, row.pending_signature, row.pending_since]
    if (fields.every((f) => f === null) && row.pending_signed_by === null) return undefined
    const callId = this.text('pending_call')
    const amount = this.uint('pending_amount')
    const since = row.pending_since
    if (callId === undefined || typeof since !== 'number' || !Number.isSafeInteger(since))
      throw this.corrupt('has a pending payment without its call id or time')
    if (amount <= authorised)
      throw this.corrupt(
        `has a pending amount "${amount}" not above the authorised "${authorised}"`,
      )
    const { signature, signedBy } = this.optional('pending_signature', 'pending_signed_by') ?? {}
    if (signature === undefined || signedBy === undefined)
      throw this.corrupt('has a pending payment without its signature')
    return { channelId, callId, nonce, amount, signature, signedBy, since }
  }
}

function openDatabase(path: string): Database.Database {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    const db = new Database(path)
    db.pragma('journal_mode = WAL')
    db.exec(SCHEMA)
    const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get()
    if (version === undefined)
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(SCHEMA_VERSION)
    else if (version !== SCHEMA_VERSION) {
      db.close()
      throw new PaymentStoreOpenError(
        `Cannot open the channel store at "${path}": schema version ${describeValue(version)} is not "${SCHEMA_VERSION}"; use a matching rwa version.`,
      )
    }
    return db
  } catch (cause) {
    if (cause instanceof PaymentStoreOpenError) throw cause
    throw new PaymentStoreOpenError(
      `Cannot open the channel store at "${path}": ${(cause as Error).message}.`,
      { cause },
    )
  }
}

/** Options of `createChannelMutex`. */
export type ChannelMutexOptions = {
  /** Most calls waiting on one channel; more are refused with `PaymentPendingError`. */
  maxQueue?: number
}

/** Runs the calls of each channel one at a time, in arrival order. */
export interface ChannelMutex {
  /** Runs `fn` once every earlier call on `channelId` has settled; returns what `fn` returns. */
  run<T>(channelId: bigint, fn: () => Promise<T>): Promise<T>
  /** Calls running or waiting on `channelId`. */
  queued(channelId: bigint): number
}

/**
 * A per-channel async mutex: the gateway runs check, `begin`, the upstream call and `commit`
 * of each paid call under it, so concurrent calls on one channel queue instead of failing.
 * @example
 * await mutex.run(payment.channelId, async () => { … store.begin(…) … store.commit(…) })
 */
export function createChannelMutex({ maxQueue = 64 }: ChannelMutexOptions = {}): ChannelMutex {
  const tails = new Map<bigint, { tail: Promise<unknown>; count: number }>()
  return {
    run<T>(channelId: bigint, fn: () => Promise<T>): Promise<T> {
      const entry = tails.get(channelId) ?? { tail: Promise.resolve(), count: 0 }
      if (entry.count >= maxQueue)
        return Promise.reject(
          new PaymentPendingError(
            `Channel "${channelId}" has ${entry.count} calls in progress or waiting; retry once some are answered.`,
          ),
        )
      const result = entry.tail.then(fn)
      const settled = result.then(
        () => undefined,
        () => undefined,
      )
      entry.tail = settled
      entry.count += 1
      tails.set(channelId, entry)
      void settled.then(() => {
        entry.count -= 1
        if (entry.count === 0) tails.delete(channelId)
      })
      return result
    },
    queued: (channelId) => tails.get(channelId)?.count ?? 0,
  }
}
