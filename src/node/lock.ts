import { randomBytes } from 'node:crypto'
import {
  closeSync,
  existsSync,
  linkSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { join, resolve } from 'node:path'
import { NodeRunningError } from './errors.ts'

/**
 * Takes the data directory's lock (`node.lock`, holding the pid), so two processes never run one
 * node: they would share its store and keys, and the second would stop the first's devnet as a
 * leftover. A lock whose process is gone (a node killed with SIGKILL) is taken over.
 * @returns a function that releases the lock.
 * @throws NodeRunningError naming the running process and its URL.
 */
export function lockDataDir(dataDir: string, name: string): () => void {
  // Absolute, so `held` knows the lock however the data dir was spelled.
  const path = resolve(dataDir, 'node.lock')
  for (let attempt = 0; attempt < 3; attempt++) {
    if (create(path)) {
      held.add(path)
      return () => {
        held.delete(path)
        rmSync(path, { force: true })
      }
    }
    let pid: number
    let ino: number
    try {
      ino = statSync(path).ino
      pid = Number(readFileSync(path, 'utf8').trim())
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue // released meanwhile
      throw error
    }
    // Our own pid is a node of this process only if this process took the lock; otherwise it is
    // a previous run's (a container restarts its node with the same pid after a kill).
    if (pid === process.pid ? held.has(path) : isNodeProcess(pid)) {
      const url = runningUrl(dataDir)
      throw new NodeRunningError(
        `Node "${name}" is already running (pid ${pid}${url ? `, ${url}` : ''}); stop it first, or start another node with its own data dir.`,
      )
    }
    // Stale: its process is gone. Moved aside rather than deleted, so a lock another starting
    // process has put there since we read this one is noticed (another inode) and put back.
    const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`
    try {
      renameSync(path, aside)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue
      throw error
    }
    if (statSync(aside).ino !== ino) {
      try {
        linkSync(aside, path)
      } catch {
        // A third process holds the lock by now; the next attempt reads it.
      }
    }
    rmSync(aside, { force: true })
  }
  throw new NodeRunningError(`Could not take the lock ${path}; another node keeps starting there.`)
}

/** Lock files this process holds. */
const held = new Set<string>()

/**
 * Creates the lock file with this process's pid already in it (a hard link of a finished file
 * appears whole), so a process reading it never sees an empty lock. False if it exists.
 */
function create(path: string): boolean {
  const temp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}`
  writeFileSync(temp, `${process.pid}\n`, { mode: 0o600 })
  try {
    linkSync(temp, path)
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error
    // A file system without hard links: create it exclusively, then write the pid.
    try {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, `${process.pid}\n`)
      closeSync(fd)
      return true
    } catch (inner) {
      if ((inner as NodeJS.ErrnoException).code === 'EEXIST') return false
      throw inner
    }
  } finally {
    rmSync(temp, { force: true })
  }
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
