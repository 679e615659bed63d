import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect, test } from 'vitest'
import { createCheckpointer } from '../src/store/checkpointer.ts'
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

  test.each(['background', 'inline'] as const)(
    'with %s checkpoints, a growing WAL is copied into the database while the store is open',
    async (checkpoints) => {
      const dir = tempDir()
      const path = join(dir, 'rwa.sqlite')
      const store = sqliteStore({ path, checkpoints })
      // 6 MB in 600 writes: past the 4 MB after which a checkpoint starts.
      const op = (i: number) => ({ id: `op${i}`, bytes: new Uint8Array(1000).fill(i % 251) })
      for (let w = 0; w < 600; w++) {
        const accepted = Array.from({ length: 10 }, (_, k) => op(w * 10 + k)) as never[]
        await store.write({ accepted, pendingAdded: [], pendingRemoved: [] })
      }
      const deadline = Date.now() + 20_000
      while (statSync(path).size < 4 * 2 ** 20 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20))
      expect(statSync(path).size).toBeGreaterThan(4 * 2 ** 20)
      await store.close()
      // Closed cleanly: every op reads back after reopening.
      const reopened = sqliteStore({ path })
      expect(await reopened.count()).toBe(6000)
      const [last] = await reopened.read([5999])
      expect(last!.bytes).toEqual(op(5999).bytes)
      await reopened.close()
      rmSync(dir, { recursive: true, force: true })
    },
    30_000,
  )
})

describe('the checkpointer', () => {
  test('reports a failing checkpoint once, then stops asking its worker', async () => {
    const dir = tempDir()
    // Not a database: the worker opens it, and its first checkpoint fails.
    const path = join(dir, 'not-a-database')
    writeFileSync(path, 'x'.repeat(4096))
    const failures: Error[] = []
    const failed = new Promise<void>((resolve) => {
      const checkpointer = createCheckpointer({
        path,
        every: 100,
        onFailure: (error) => {
          failures.push(error)
          resolve()
          // After the failure, writes no longer start checkpoints (nor a new worker).
          checkpointer.wrote(1000)
          void checkpointer.close()
        },
      })
      checkpointer.wrote(1000)
    })
    await failed
    await new Promise((r) => setTimeout(r, 100))
    expect(failures).toHaveLength(1)
    expect(failures[0]!.message).toMatch(/WAL checkpoint failed: .*not a database/)
    rmSync(dir, { recursive: true, force: true })
  })
})
