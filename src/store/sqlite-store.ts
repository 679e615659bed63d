import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import Database from 'better-sqlite3'
import type { OpId } from '../ledger/op-id.ts'
import { StoreClosedError, StoreOpenError } from './errors.ts'
import type { Store, StoredOp } from './store.ts'

/** Options of the SQLite store. */
export type SqliteStoreOptions = {
  /** Database file; created with its folder when missing. `:memory:` for a throwaway store. */
  path: string
  /**
   * `normal` (default): a written batch survives a crash of the process (WAL); `full`: it also
   * survives a power cut, at the cost of an fsync per batch.
   */
  durability?: 'normal' | 'full'
  /** Rows per page when streaming ops back. */
  pageSize?: number
}

const SCHEMA_VERSION = '1'

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS ops (
    n INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    bytes BLOB NOT NULL
  );
  CREATE TABLE IF NOT EXISTS pending (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    bytes BLOB NOT NULL
  ) WITHOUT ROWID;
`

type Row = { n: number; id: string; doc: string; bytes: Buffer }

/**
 * Creates a store in a SQLite file (better-sqlite3, WAL journal): the embedded default.
 * Ops are kept in acceptance order; a batch is one transaction.
 * @example
 * const store = sqliteStore({ path: join(dataDir, 'rwa.sqlite') })
 */
export function sqliteStore({
  path,
  durability = 'normal',
  pageSize = 2_000,
}: SqliteStoreOptions): Store {
  const db = openDatabase(path)
  db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`)
  // n is the position + 1. No secondary index: the ledger finds ops by position, which keeps
  // an insert at about half the cost of one that also maintains an index on the id.
  let count = countRows(db, path)
  const insertOp = db.prepare('INSERT INTO ops (n, id, doc, bytes) VALUES (?, ?, ?, ?)')
  const insertPending = db.prepare(
    'INSERT OR REPLACE INTO pending (id, doc, bytes) VALUES (?, ?, ?)',
  )
  const deletePending = db.prepare('DELETE FROM pending WHERE id = ?')
  const selectOps = db.prepare('SELECT n, id, doc, bytes FROM ops WHERE n > ? ORDER BY n LIMIT ?')
  const selectPending = db.prepare(
    'SELECT id, doc, bytes FROM pending WHERE id > ? ORDER BY id LIMIT ?',
  )
  const selectAt = db.prepare('SELECT id, doc, bytes FROM ops WHERE n = ?')
  const writeBatch = db.transaction(
    (accepted: readonly StoredOp[], added: readonly StoredOp[], removed: readonly OpId[]) => {
      let n = count
      for (const op of accepted) insertOp.run(++n, op.id, op.doc, op.bytes)
      for (const id of removed) deletePending.run(id)
      for (const op of added) insertPending.run(op.id, op.doc, op.bytes)
    },
  )
  let closed = false
  const assertOpen = () => {
    if (closed) throw new StoreClosedError()
  }
  const toStored = (row: Omit<Row, 'n'>): StoredOp => ({
    id: row.id as OpId,
    doc: row.doc as OpId,
    bytes: new Uint8Array(row.bytes.buffer, row.bytes.byteOffset, row.bytes.length),
  })

  return {
    async write(batch) {
      assertOpen()
      writeBatch(batch.accepted, batch.pendingAdded, batch.pendingRemoved)
      count += batch.accepted.length
    },
    // Paged reads: a long-lived iterator would keep the connection busy and block writes.
    async *accepted() {
      for (let after = 0; ; ) {
        assertOpen()
        const rows = selectOps.all(after, pageSize) as Row[]
        for (const row of rows) yield toStored(row)
        if (rows.length < pageSize) return
        after = rows[rows.length - 1]!.n
      }
    },
    async *pending() {
      for (let after = ''; ; ) {
        assertOpen()
        const rows = selectPending.all(after, pageSize) as Row[]
        for (const row of rows) yield toStored(row)
        if (rows.length < pageSize) return
        after = rows[rows.length - 1]!.id
      }
    },
    async read(positions) {
      assertOpen()
      return positions.map((p) => {
        const row = selectAt.get(p + 1) as Omit<Row, 'n'> | undefined
        return row && toStored(row)
      })
    },
    async count() {
      assertOpen()
      return count
    },
    async close() {
      if (closed) return
      closed = true
      db.close()
    },
  }
}

/** Counts the ops and checks that their positions are contiguous, as `read` relies on. */
function countRows(db: Database.Database, path: string): number {
  const { rows, last } = db
    .prepare('SELECT count(*) AS rows, coalesce(max(n), 0) AS last FROM ops')
    .get() as { rows: number; last: number }
  if (rows !== last)
    throw new StoreOpenError(
      path,
      `ops are not stored contiguously (${rows} rows, last position ${last}); restore from a backup`,
    )
  return rows
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
