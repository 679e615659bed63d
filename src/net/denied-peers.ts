import {
  closeSync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Logger } from 'pino'
import { BaseError } from '../errors/base.ts'
import type { Startable } from '../node/startable.ts'

/** The operator's deny list, in a node's data dir: one peer id a line, `#` starts a comment. */
export const DENIED_PEERS_FILE = 'denied-peers.txt'
/** Peers a deny list holds at most; lines past it are skipped. */
export const MAX_DENIED_PEERS = 10_000
/** Bytes of the file read at most (10,000 peer ids with comments fit well below). */
export const MAX_DENIED_PEERS_BYTES = 1024 * 1024
/** Characters of a line looked at; a longer line is no peer id. */
const MAX_LINE = 256
/** Skipped lines logged one by one at most per load; the rest are counted. */
const MAX_LOGGED = 10
/** How often the file's inode, size and mtime are checked for a change. */
const POLL_MS = 500

/** Thrown when a peer id given to `rwa net deny` or `allow` is not one, or the file cannot be edited. */
export class DeniedPeersError extends BaseError {
  override name = 'DeniedPeersError' as const
  override readonly kind = 'invalid' as const
}

/** A line of the file that names no peer, and why. */
export type SkippedLine = { readonly line: number; readonly text: string; readonly reason: string }

/** What a deny list says: the peers (canonical ids, in file order, once each) and the lines skipped. */
export type DeniedPeers = {
  readonly peers: readonly string[]
  readonly skipped: readonly SkippedLine[]
}

/**
 * The canonical (base58btc) form of a libp2p peer id, or undefined when `text` is none.
 * @example
 * parsePeerId('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA') // the same string
 */
export function parsePeerId(text: string): string | undefined {
  if (text.length === 0 || text.length > MAX_LINE) return undefined
  try {
    const peer = peerIdFromString(text)
    return peer.type === 'url' ? undefined : peer.toString()
  } catch {
    return undefined
  }
}

/** A line's content before its comment, trimmed. */
function contentOf(line: string): string {
  const hash = line.indexOf('#')
  return (hash === -1 ? line : line.slice(0, hash)).trim()
}

/** Reads a deny list: blank and comment lines are ignored, any other line that is no peer id is skipped. */
export function parseDeniedPeers(text: string): DeniedPeers {
  const peers = new Set<string>()
  const skipped: SkippedLine[] = []
  for (const [i, line] of text.split(/\r?\n/).entries()) {
    const content = contentOf(line.slice(0, MAX_LINE + 1))
    if (content === '') continue
    // Shown in logs: cut short, and control characters made visible.
    const shown = JSON.stringify(content.slice(0, 80))
    const peer = parsePeerId(content)
    if (peer === undefined)
      skipped.push({ line: i + 1, text: shown, reason: 'not a libp2p peer id' })
    else if (!peers.has(peer) && peers.size >= MAX_DENIED_PEERS)
      skipped.push({ line: i + 1, text: shown, reason: `past ${MAX_DENIED_PEERS} peers` })
    else peers.add(peer)
  }
  return { peers: [...peers], skipped }
}

/** The file's first `MAX_DENIED_PEERS_BYTES` bytes and whether there was more; undefined when missing. */
function readBounded(path: string): { text: string; cut: boolean } | undefined {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    const buffer = Buffer.alloc(MAX_DENIED_PEERS_BYTES + 1)
    let length = 0
    let n = 1
    while (n > 0 && length < buffer.length) {
      n = readSync(fd, buffer, length, buffer.length - length, null)
      length += n
    }
    const cut = length > MAX_DENIED_PEERS_BYTES
    return { text: buffer.subarray(0, Math.min(length, MAX_DENIED_PEERS_BYTES)).toString(), cut }
  } finally {
    closeSync(fd)
  }
}

/**
 * Reads the deny list at `path`; a missing file is an empty list. Of a file past
 * `MAX_DENIED_PEERS_BYTES` only the whole lines before the bound are read.
 * @throws Error (from node:fs) when the file exists but cannot be read.
 */
export function readDeniedPeers(path: string): DeniedPeers {
  const read = readBounded(path)
  if (read === undefined) return { peers: [], skipped: [] }
  if (!read.cut) return parseDeniedPeers(read.text)
  const whole = read.text.slice(0, read.text.lastIndexOf('\n') + 1)
  const { peers, skipped } = parseDeniedPeers(whole)
  const reason = `the file is over ${MAX_DENIED_PEERS_BYTES} bytes; the rest is not read`
  return { peers, skipped: [...skipped, { line: whole.split('\n').length, text: '', reason }] }
}

/** What `editDeniedPeers` changed, and the list it left. */
export type DeniedPeersEdit = {
  readonly added: readonly string[]
  readonly removed: readonly string[]
  readonly list: DeniedPeers
}

const HEADER = [
  '# Peers this node refuses to connect with: one libp2p peer id a line; "#" starts a comment.',
  '# The node reloads this file when it changes. Edit it by hand or with rwa net deny / allow.',
  '',
]

/**
 * Adds `deny` to the deny list at `path` and takes `allow` off it, keeping the file's other
 * lines and comments; the file is replaced atomically (temporary file, fsync, rename).
 * @throws DeniedPeersError for an argument that is no peer id, or a file over the size bound.
 */
export function editDeniedPeers(
  path: string,
  { deny = [], allow = [] }: { deny?: readonly string[]; allow?: readonly string[] },
): DeniedPeersEdit {
  const toDeny = deny.map(assertPeerId)
  const toAllow = new Set(allow.map(assertPeerId))
  const read = readBounded(path)
  if (read?.cut)
    throw new DeniedPeersError(
      `"${path}" is over ${MAX_DENIED_PEERS_BYTES} bytes; trim it by hand before editing it with rwa net.`,
    )
  const lines = read === undefined ? [...HEADER] : read.text.split(/\r?\n/)
  if (lines.at(-1) === '') lines.pop()
  const removed = new Set<string>()
  const kept = lines.filter((line) => {
    const peer = parsePeerId(contentOf(line))
    if (peer === undefined || !toAllow.has(peer)) return true
    removed.add(peer)
    return false
  })
  const present = new Set(parseDeniedPeers(kept.join('\n')).peers)
  const added = [...new Set(toDeny)].filter((peer) => !present.has(peer) && !toAllow.has(peer))
  const text = `${[...kept, ...added].join('\n')}\n`
  replaceFile(path, text)
  return { added, removed: [...removed], list: parseDeniedPeers(text) }
}

/** The canonical peer id, or a `DeniedPeersError` saying what a peer id looks like. */
function assertPeerId(text: string): string {
  const peer = parsePeerId(text.trim())
  if (peer !== undefined) return peer
  throw new DeniedPeersError(
    `"${text.slice(0, 80)}" is not a libp2p peer id; give one such as 12D3KooW… (rwa status shows a node's, in its peer address after /p2p/).`,
  )
}

/** Replaces `path` so a crash leaves the old content or the new: temporary file, fsync, rename. */
function replaceFile(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.tmp`
  try {
    const fd = openSync(temporary, 'w', 0o644)
    try {
      writeSync(fd, text)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(temporary, path)
  } catch (cause) {
    rmSync(temporary, { force: true })
    throw new DeniedPeersError(`Could not write "${path}"; check the data dir's permissions.`, {
      cause,
    })
  }
}

/** What the watcher applies the file's changes to (a `Replicator`). */
export type DenyTarget = {
  deny(peers: readonly string[]): void
  allow(peers: readonly string[]): void
}

/** Options of `watchDeniedPeers`. */
export type WatchDeniedPeersOptions = {
  /** The deny list file (it need not exist). */
  readonly path: string
  readonly target: DenyTarget
  readonly logger: Logger
  /** How often the file is checked for a change (ms). */
  readonly pollMs?: number
}

/** Keeps a replicator's deny list in step with the operator's file. */
export interface DeniedPeersWatcher extends Startable {
  readonly name: 'denied-peers'
  /** The peers the file denies, as last read. */
  peers(): readonly string[]
  /** Reads the file now if it changed since the last read. */
  check(): void
}

/**
 * Applies the deny list file at start, then polls its inode, size and mtime and applies each
 * change: peers added are denied, peers removed allowed. Lines that name no peer are logged and
 * skipped; a file that cannot be read is logged, and the list read last stays in force.
 */
export function watchDeniedPeers({
  path,
  target,
  logger,
  pollMs = POLL_MS,
}: WatchDeniedPeersOptions): DeniedPeersWatcher {
  let current = new Set<string>()
  let seen: string | undefined
  let timer: NodeJS.Timeout | undefined
  const check = (): void => {
    const signature = signatureOf(path)
    if (signature === seen) return
    seen = signature
    let read: DeniedPeers
    try {
      read = readDeniedPeers(path)
    } catch (err) {
      logger.error(
        { err, file: path },
        'cannot read the deny list; the peers denied stay as they were',
      )
      return
    }
    logSkipped(logger, path, read.skipped)
    const next = new Set(read.peers)
    const added = read.peers.filter((peer) => !current.has(peer))
    const removed = [...current].filter((peer) => !next.has(peer))
    current = next
    if (added.length > 0) target.deny(added)
    if (removed.length > 0) target.allow(removed)
    if (added.length > 0 || removed.length > 0)
      logger.info({ file: path, denied: next.size, added, removed }, 'deny list loaded')
  }
  return {
    name: 'denied-peers',
    peers: () => [...current],
    check,
    start() {
      check()
      timer = setInterval(check, pollMs)
      timer.unref()
    },
    stop() {
      clearInterval(timer)
    },
  }
}

/** What tells a change of the file without reading it: inode, size and mtime (or its absence). */
function signatureOf(path: string): string {
  try {
    const stat = statSync(path)
    return `${stat.ino}:${stat.size}:${stat.mtimeMs}`
  } catch (error) {
    return `missing:${(error as NodeJS.ErrnoException).code}`
  }
}

function logSkipped(logger: Logger, path: string, skipped: readonly SkippedLine[]): void {
  for (const line of skipped.slice(0, MAX_LOGGED))
    logger.warn({ file: path, ...line }, 'skipped a line of the deny list')
  if (skipped.length > MAX_LOGGED)
    logger.warn(
      { file: path, more: skipped.length - MAX_LOGGED },
      'skipped more lines of the deny list',
    )
}
