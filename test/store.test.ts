import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, test } from 'vitest'
import { memoryStore } from '../src/store/memory-store.ts'
import { sqliteStore } from '../src/store/sqlite-store.ts'
import { runStoreSuite } from './compliance/store.ts'

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'rwa-store-test-'))
}

runStoreSuite({ name: 'memoryStore', create: async () => ({ store: memoryStore() }) })

runStoreSuite({
  name: 'sqliteStore',
  durable: true,
  create: async () => {
    const dir = tempDir()
    const path = join(dir, 'rwa.sqlite')
    return {
      store: sqliteStore({ path, segmentSize: 7 }),
      reopen: async () => sqliteStore({ path }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    }
  },
})

describe('sqliteStore', () => {
  test('refuses a file that is not a database, naming the path', () => {
    const dir = tempDir()
    const path = join(dir, 'not-a-db.sqlite')
    writeFileSync(path, 'hello, this is not SQLite '.repeat(100))
    expect(() => sqliteStore({ path })).toThrow(
      expect.objectContaining({ name: 'StoreOpenError', message: expect.stringContaining(path) }),
    )
    rmSync(dir, { recursive: true, force: true })
  })

  test('refuses a store written by another schema version', async () => {
    const dir = tempDir()
    const path = join(dir, 'rwa.sqlite')
    await sqliteStore({ path }).close()
    const db = new Database(path)
    db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema'").run()
    db.close()
    expect(() => sqliteStore({ path })).toThrow(/schema version "99"/)
    rmSync(dir, { recursive: true, force: true })
  })

  test('refuses a store whose ops are not contiguous, rather than serving wrong ops', async () => {
    const dir = tempDir()
    const path = join(dir, 'rwa.sqlite')
    const store = sqliteStore({ path, segmentSize: 2 })
    const op = { id: 'x', bytes: Uint8Array.of(1) } as never
    await store.write({ accepted: [op, op, op, op, op], pendingAdded: [], pendingRemoved: [] })
    await store.close()
    const db = new Database(path)
    expect(db.prepare('SELECT first FROM segments ORDER BY first').pluck().all()).toEqual([0, 2, 4])
    db.prepare('DELETE FROM segments WHERE first = 2').run()
    db.close()
    expect(() => sqliteStore({ path })).toThrow(/do not hold positions 0 to 4 exactly once/)
    rmSync(dir, { recursive: true, force: true })
  })

  test('reports a damaged segment as corrupt instead of returning wrong bytes', async () => {
    const dir = tempDir()
    const path = join(dir, 'rwa.sqlite')
    const store = sqliteStore({ path })
    const op = { id: 'x', bytes: Uint8Array.of(1, 2, 3) } as never
    await store.write({ accepted: [op, op], pendingAdded: [], pendingRemoved: [] })
    await store.close()
    const db = new Database(path)
    db.prepare('UPDATE segments SET data = substr(data, 1, length(data) - 1) WHERE first = 0').run()
    db.close()
    const reopened = sqliteStore({ path })
    await expect(reopened.read([1])).rejects.toMatchObject({ name: 'StoreCorruptError' })
    await reopened.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('creates missing folders and uses WAL', async () => {
    const dir = tempDir()
    const path = join(dir, 'a', 'b', 'rwa.sqlite')
    const store = sqliteStore({ path })
    await store.close()
    const db = new Database(path)
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    db.close()
    rmSync(dir, { recursive: true, force: true })
  })
})
