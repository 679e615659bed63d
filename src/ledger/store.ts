import { BaseError } from '../errors/base.ts'
import type { OpId } from './op-id.ts'

/** An op as the store keeps it: its id and its canonical signed bytes (which name its document). */
export type StoredOp = {
  readonly id: OpId
  readonly bytes: Uint8Array
  /** Of a pending op: when it arrived (ms since the epoch), for its time-to-live. */
  readonly received?: number | undefined
  /** Of a pending op: who sent it, for the sender's quota. */
  readonly source?: string | undefined
}

/**
 * One atomic change: ops that joined the DAG (in acceptance order, so deps come first), ops that
 * started waiting for deps, and pending ops that left the buffer (because they were accepted).
 */
export type StoreBatch = {
  readonly accepted: readonly StoredOp[]
  readonly pendingAdded: readonly StoredOp[]
  readonly pendingRemoved: readonly OpId[]
}

/**
 * The persistence port of the ledger. A batch is atomic and, once `write` resolves, survives a
 * crash of the process. The ledger writes each op once (it knows what it holds), so stores need
 * not de-duplicate. Implementations: `memoryStore`, `sqliteStore` (and PostgreSQL later);
 * `runStoreSuite` in test/compliance checks each.
 */
export type Store = {
  /** Persists a batch atomically. */
  write(batch: StoreBatch): Promise<void>
  /**
   * Every accepted op, in the order it was accepted, in pages (non-empty arrays, each in order):
   * one await per page instead of one per op, which matters when a node replays millions.
   */
  accepted(): AsyncIterable<readonly StoredOp[]>
  /** Every op waiting for deps. */
  pending(): AsyncIterable<StoredOp>
  /**
   * Accepted ops by position in the accepted sequence (0-based: the first op written is 0);
   * `undefined` past the end. Positions are how the ledger finds an op: it knows each op's.
   */
  read(positions: readonly number[]): Promise<(StoredOp | undefined)[]>
  /** Number of accepted ops. */
  count(): Promise<number>
  /** Releases the store; later calls fail. */
  close(): Promise<void>
}

/** Thrown when a store is used after `close()`. */
export class StoreClosedError extends BaseError {
  override name = 'StoreClosedError' as const
  override readonly kind = 'unavailable' as const
  constructor() {
    super('The store is closed; open it again before reading or writing.')
  }
}

/** Thrown when a store's file cannot be opened or is not an rwa store. */
export class StoreOpenError extends BaseError {
  override name = 'StoreOpenError' as const
  override readonly kind = 'unavailable' as const
  constructor(path: string, reason: string, options: { cause?: unknown } = {}) {
    super(`Cannot open the store at "${path}": ${reason}.`, options)
  }
}

/** Thrown when stored data does not decode or does not match what it was stored as. */
export class StoreCorruptError extends BaseError {
  override name = 'StoreCorruptError' as const
  override readonly kind = 'unavailable' as const
  constructor(what: string, reason: string, options: { cause?: unknown } = {}) {
    super(
      `Stored data "${what}" is corrupt: ${reason}; restore the store from a backup or a peer.`,
      options,
    )
  }
}
