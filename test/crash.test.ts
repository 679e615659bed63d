import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { openLedger } from '../src/ledger/ledger.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { sqliteStore } from '../src/store/sqlite-store.ts'

const child = join(import.meta.dirname, 'fixtures', 'crash-child.ts')

/** Runs the child until it has printed `atLeast` ids plus a random extra delay, then SIGKILLs it. */
function runAndKill(path: string, atLeast: number, extraMs: number): Promise<OpId[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, path], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const printed: OpId[] = []
    let buffer = ''
    let stderr = ''
    let timer: NodeJS.Timeout | undefined
    const guard = setTimeout(() => proc.kill('SIGKILL'), 30_000)
    proc.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const lines = buffer.split('\n')
      buffer = lines.pop()!
      for (const line of lines) if (line.startsWith('ok ')) printed.push(line.slice(3) as OpId)
      if (printed.length >= atLeast && !timer)
        timer = setTimeout(() => proc.kill('SIGKILL'), extraMs)
    })
    proc.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    proc.on('exit', (code, signal) => {
      clearTimeout(guard)
      if (signal !== 'SIGKILL')
        reject(new Error(`child exited with ${code} before it was killed: ${stderr}`))
      else resolve(printed)
    })
  })
}

describe('crash safety', () => {
  test('every op reported accepted survives SIGKILL, across repeated crashes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rwa-crash-test-'))
    const path = join(dir, 'rwa.sqlite')
    const reported = new Set<OpId>()
    try {
      for (let crash = 0; crash < 3; crash++) {
        const extra = Math.floor(Math.random() * 400)
        for (const id of await runAndKill(path, 50, extra)) reported.add(id)
        // Reopening runs the full restore: every stored op's deps must precede it, ids must match.
        const ledger = await openLedger({ store: sqliteStore({ path }) })
        const [doc] = ledger.log.docs()
        expect(doc).toBeDefined()
        const lost = [...reported].filter((id) => ledger.log.position(id, doc!) === undefined)
        expect(lost).toEqual([])
        const order = ledger.log.order(doc!)
        expect(order.length).toBe(ledger.log.size(doc!))
        expect(order.length).toBeGreaterThanOrEqual(reported.size)
        expect(ledger.log.pendingCount()).toBe(0)
        expect(ledger.log.equivocations(doc!)).toEqual([]) // appends never reuse a seq, even across crashes
        const sample = await ledger.getOps(doc!, [...reported].slice(-5))
        for (const op of sample) expect(op?.op.doc === null || op?.op.doc === doc).toBe(true)
        await ledger.close()
      }
      expect(reported.size).toBeGreaterThan(150)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
