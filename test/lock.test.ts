import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { lockDataDir } from '../src/node/lock.ts'

const dirs: string[] = []
const dataDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'rwa-lock-'))
  dirs.push(dir)
  return dir
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

describe('data-dir lock', () => {
  test('holds the pid from the moment it exists, mode 0600, and is gone once released', () => {
    const dir = dataDir()
    const release = lockDataDir(dir, 'n')
    const lock = join(dir, 'node.lock')
    expect(readFileSync(lock, 'utf8')).toBe(`${process.pid}\n`)
    expect(statSync(lock).mode & 0o777).toBe(0o600)
    expect(() => lockDataDir(dir, 'n')).toThrow(/Node "n" is already running \(pid \d+\)/)
    release()
    // Nothing else is left behind: no temporary or moved-aside files.
    expect(readdirSync(dir)).toEqual([])
  })

  test('a lock with this process’s pid that this process did not take is a previous run’s', () => {
    const dir = dataDir()
    // As after a container restart: the killed node had the pid the new one has.
    writeFileSync(join(dir, 'node.lock'), `${process.pid}\n`)
    const release = lockDataDir(dir, 'n')
    expect(() => lockDataDir(dir, 'n')).toThrow(/already running/)
    release()
  })

  test('a live node process keeps its lock; once it is gone the lock is taken over', async () => {
    const dir = dataDir()
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], {
      stdio: 'ignore',
    })
    try {
      await new Promise((resolve) => other.once('spawn', resolve))
      writeFileSync(join(dir, 'node.lock'), `${other.pid}\n`)
      writeFileSync(join(dir, 'run.json'), JSON.stringify({ url: 'http://127.0.0.1:1234' }))
      expect(() => lockDataDir(dir, 'n')).toThrow(
        `Node "n" is already running (pid ${other.pid}, http://127.0.0.1:1234)`,
      )
    } finally {
      other.kill('SIGKILL')
      await new Promise((resolve) => other.once('exit', resolve))
    }
    const release = lockDataDir(dir, 'n')
    expect(readFileSync(join(dir, 'node.lock'), 'utf8')).toBe(`${process.pid}\n`)
    release()
    expect(readdirSync(dir)).toEqual(['run.json'])
  })

  test('an empty or garbled lock (no live pid) is stale', () => {
    for (const content of ['', 'not a pid\n', '0\n']) {
      const dir = dataDir()
      writeFileSync(join(dir, 'node.lock'), content)
      const release = lockDataDir(dir, 'n')
      expect(readFileSync(join(dir, 'node.lock'), 'utf8')).toBe(`${process.pid}\n`)
      release()
    }
  })
})
