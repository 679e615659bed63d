import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { OpId } from '../ledger/op-id.ts'
import type { Store, StoredOp } from '../ledger/store.ts'
import { StoreClosedError, StoreCorruptError, StoreOpenError } from '../ledger/store.ts'
import { type Checkpointer, createCheckpointer } from './checkpointer.ts'
import { decodeSegment, encodeSegment } from './segment.ts'

/** Options of the SQLite store. */
export type SqliteStoreOptions = {
  /** Database file; created with its folder when missing. `:memory:` for a throwaway store. */
  path: string
  /**
   * `normal` (default): a written batch survives a crash of the process (WAL); `full`: it also
   * survives a power cut, at the cost of an fsync per batch.
   */
  durability?: 'normal' | 'full'
  /** Most ops packed into one row. */
  segmentSize?: number
  /**
   * `background` (default for files): WAL checkpoints (copying the WAL into the database, then
   * an fsync) run on a worker thread with its own connection, so writes never wait for them;
   * `inline`: SQLite's own automatic checkpoints, inside whichever write crosses 1000 pages.
   */
  checkpoints?: 'background' | 'inline'
}

const SCHEMA_VERSION = '2'

// Accepted ops are appended in order and read by position, so they are stored in segments of
// consecutive ops (src/store/segment.ts): one INSERT per segment instead of one per op, about a
// tenth of the cost per op. `first` is the position of the segment's first op.
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS segments (
    first INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    data BLOB NOT NULL
  );
  CREATE TABLE IF NOT EXISTS pending (
    id TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT ''
  ) WITHOUT ROWID;
`

type SegmentRow = { first: number; count: number; data: Buffer }

/**
 * Creates a store in a SQLite file (better-sqlite3, WAL journal): the embedded default. A batch
 * is one transaction.
 * @example
 * const store = sqliteStore({ path: join(dataDir, 'rwa.sqlite') })
 */
export function sqliteStore({
  path,
  durability = 'normal',
  segmentSize = 64,
  checkpoints = 'background',
}: SqliteStoreOptions): Store {
  const db = openDatabase(path)
  db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`)
  let closed = false
  let checkpointer: Checkpointer | undefined
  if (checkpoints === 'background' && path !== ':memory:') {
    db.pragma('wal_autocheckpoint = 0')
    checkpointer = createCheckpointer({
      path,
      // Back to SQLite's own checkpoints: slower writes now and then, but the WAL stays bounded.
      onFailure: () => {
        if (!closed) db.pragma('wal_autocheckpoint = 1000')
      },
    })
  }
  let count = countOps(db, path)
  const insertSegment = db.prepare('INSERT INTO segments (first, count, data) VALUES (?, ?, ?)')
  const insertPending = db.prepare(
    'INSERT OR REPLACE INTO pending (id, bytes, received, source) VALUES (?, ?, ?, ?)',
  )
  const deletePending = db.prepare('DELETE FROM pending WHERE id = ?')
  const selectSegments = db.prepare(
    'SELECT first, count, data FROM segments WHERE first >= ? ORDER BY first LIMIT 64',
  )
  const selectSegmentAt = db.prepare(
    'SELECT first, count, data FROM segments WHERE first <= ? ORDER BY first DESC LIMIT 1',
  )
  const selectPending = db.prepare(
    'SELECT id, bytes, received, source FROM pending WHERE id > ? ORDER BY id LIMIT 1000',
  )
  const writeBatch = db.transaction(
    (accepted: readonly StoredOp[], added: readonly StoredOp[], removed: readonly OpId[]) => {
      for (let i = 0; i < accepted.length; i += segmentSize) {
        const segment = accepted.slice(i, i + segmentSize)
        insertSegment.run(count + i, segment.length, encodeSegment(segment))
      }
      for (const id of removed) deletePending.run(id)
      for (const op of added)
        insertPending.run(op.id, op.bytes, op.received ?? Date.now(), op.source ?? '')
    },
  )
  const recent = new RecentSegments()
  const assertOpen = () => {
    if (closed) throw new StoreClosedError()
  }
  const unpack = (row: SegmentRow): StoredOp[] => {
    try {
      return decodeSegment(row.data, row.count)
    } catch (cause) {
      throw new StoreCorruptError(path, `the segment at position ${row.first} is damaged`, {
        cause,
      })
    }
  }

  return {
    async write(batch) {
      assertOpen()
      writeBatch(batch.accepted, batch.pendingAdded, batch.pendingRemoved)
      count += batch.accepted.length
      if (checkpointer) {
        let bytes = 0
        for (const op of batch.accepted) bytes += op.bytes.length + 64
        for (const op of batch.pendingAdded) bytes += op.bytes.length + 64
        checkpointer.wrote(bytes + 64 * batch.pendingRemoved.length)
      }
    },
    // Paged reads: a long-lived iterator would keep the connection busy and block writes.
    async *accepted() {
      for (let next = 0; next < count; ) {
        assertOpen()
        const rows = selectSegments.all(next) as SegmentRow[]
        if (rows.length === 0) return
        const page: StoredOp[] = []
        for (const row of rows) for (const op of unpack(row)) page.push(op)
        yield page
        const last = rows[rows.length - 1]!
        next = last.first + last.count
      }
    },
    async *pending() {
      for (let after = ''; ; ) {
        assertOpen()
        const rows = selectPending.all(after) as {
          id: OpId
          bytes: Buffer
          received: number
          source: string
        }[]
        for (const row of rows)
          yield {
            id: row.id,
            bytes: new Uint8Array(row.bytes.buffer, row.bytes.byteOffset, row.bytes.length),
            received: row.received,
            source: row.source,
          }
        if (rows.length < 1000) return
        after = rows[rows.length - 1]!.id
      }
    },
    async read(positions) {
      assertOpen()
      return positions.map((p) => {
        if (!Number.isSafeInteger(p) || p < 0 || p >= count) return undefined
        const segment = recent.find(p) ?? recent.keep(selectSegmentAt.get(p) as SegmentRow, unpack)
        const op = segment.ops[p - segment.row.first]!
        return { id: op.id, bytes: new Uint8Array(op.bytes) }
      })
    },
    async count() {
      assertOpen()
      return count
    },
    async close() {
      if (closed) return
      closed = true
      await checkpointer?.close()
      db.close()
    },
  }
}

/** Unpacked segments kept for reads at most. */
const RECENT_SEGMENTS = 64

/**
 * The segments read last, unpacked. A document's ops lie in many segments, interleaved with
 * other documents' (a peer pulling documents one after another reads the same segments again
 * and again); segments never change once written, so what is kept stays right.
 */
class RecentSegments {
  private readonly segments: { row: SegmentRow; ops: StoredOp[] }[] = []
  private last = 0

  /** The kept segment holding position `p`, if any. */
  find(p: number): { row: SegmentRow; ops: StoredOp[] } | undefined {
    const hit = this.segments[this.last]
    if (hit && p >= hit.row.first && p < hit.row.first + hit.row.count) return hit
    for (let i = 0; i < this.segments.length; i++) {
      const segment = this.segments[i]!
      if (p >= segment.row.first && p < segment.row.first + segment.row.count) {
        this.last = i
        return segment
      }
    }
    return undefined
  }

  /** Unpacks and keeps a segment, dropping the oldest kept one past `RECENT_SEGMENTS`. */
  keep(row: SegmentRow, unpack: (row: SegmentRow) => StoredOp[]) {
    const segment = { row, ops: unpack(row) }
    if (this.segments.length >= RECENT_SEGMENTS) this.segments.shift()
    this.segments.push(segment)
    this.last = this.segments.length - 1
    return segment
  }
}

/** Counts the ops and checks that the segments tile positions 0…count−1 exactly, as reads rely on. */
function countOps(db: Database.Database, path: string): number {
  const { segments, ops, end, start } = db
    .prepare(
      'SELECT count(*) AS segments, coalesce(sum(count), 0) AS ops, coalesce(max(first + count), 0) AS end, coalesce(min(first), 0) AS start FROM segments',
    )
    .get() as { segments: number; ops: number; end: number; start: number }
  if (start !== 0 || ops !== end) {
    throw new StoreOpenError(
      path,
      `its ${segments} segments do not hold positions 0 to ${end - 1} exactly once; restore from a backup`,
    )
  }
  return ops
}

/**
 * Version 1 kept pending ops without their arrival time and sender: they are given the time of
 * the upgrade (their time-to-live starts now) and no sender.
 */
function migrateFrom1(db: Database.Database): void {
  db.transaction(() => {
    db.exec('ALTER TABLE pending ADD COLUMN received INTEGER NOT NULL DEFAULT 0')
    db.exec("ALTER TABLE pending ADD COLUMN source TEXT NOT NULL DEFAULT ''")
    db.prepare('UPDATE pending SET received = ?').run(Date.now())
    db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(SCHEMA_VERSION)
  })()
}

function openDatabase(path: string): Database.Database {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    const db = new Database(path)
    db.pragma('journal_mode = WAL')
    db.exec(SCHEMA)
    const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").pluck().get() as
      | string
      | undefined
    if (version === undefined)
      db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(SCHEMA_VERSION)
    else if (version === '1') migrateFrom1(db)
    else if (version !== SCHEMA_VERSION) {
      db.close()
      throw new StoreOpenError(
        path,
        `schema version "${version}" is not "${SCHEMA_VERSION}"; use a matching rwa version`,
      )
    }
    return db
  } catch (cause) {
    if (cause instanceof StoreOpenError) throw cause
    throw new StoreOpenError(path, (cause as Error).message, { cause })
  }
}
