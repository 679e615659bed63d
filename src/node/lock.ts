import { closeSync, existsSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { BaseError } from '../errors/base.ts'

/** Thrown when another process runs a node on the same data directory. */
export class NodeRunningError extends BaseError {
  override name = 'NodeRunningError' as const
}

/**
 * Takes the data directory's lock (`node.lock`, holding the pid), so two processes never run one
 * node: they would share its store and keys, and the second would stop the first's devnet as a
 * leftover. A lock whose process is gone (a node killed with SIGKILL) is taken over.
 * @returns a function that releases the lock.
 * @throws NodeRunningError naming the running process and its URL.
 */
export function lockDataDir(dataDir: string, name: string): () => void {
  const path = join(dataDir, 'node.lock')
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return () => rmSync(path, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    const pid = Number(readFileSync(path, 'utf8').trim())
    if (isNodeProcess(pid)) {
      const url = runningUrl(dataDir)
      throw new NodeRunningError(
        `Node "${name}" is already running (pid ${pid}${url ? `, ${url}` : ''}); stop it first, or start another node with its own data dir.`,
      )
    }
    rmSync(path, { force: true }) // stale: its process is gone
  }
  throw new NodeRunningError(`Could not take the lock ${path}; another node keeps starting there.`)
}

/** Whether `pid` is a live Node.js process (a stale pid may have been reused by another program). */
function isNodeProcess(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('node')
  } catch {
    return true // no /proc to tell: assume the live process is the node
  }
}

function runningUrl(dataDir: string): string | undefined {
  const file = join(dataDir, 'run.json')
  if (!existsSync(file)) return undefined
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { url?: string }).url
  } catch {
    return undefined
  }
}
