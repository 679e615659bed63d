import { setTimeout as sleep } from 'node:timers/promises'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Logger } from 'pino'
import type { Ledger } from '../ledger/ledger.ts'
import type { OpId } from '../ledger/op-id.ts'
import { peersFault } from './peer-scores.ts'
import {
  decodeRequest,
  decodeResponse,
  encodeSync,
  SYNC_LIMITS,
  SYNC_PROTOCOL,
  type SyncRequest,
  type SyncResponse,
} from './sync-messages.ts'

/** How long anti-entropy lets gossip deliver a peer's newest ops before pulling them itself. */
export const ANTI_ENTROPY_GRACE_MS = 1000
/** Sync streams one peer may have open at once; more is a strike. */
const MAX_OPEN_SYNC_STREAMS = 8

/** Options of `createSync`. */
export type SyncOptions = {
  /** The libp2p host: serves the protocol and dials peers for it. */
  readonly node: Pick<Libp2p, 'handle' | 'dialProtocol'>
  readonly ledger: Ledger
  readonly logger: Logger
  /** Takes a sync-request token from the peer's bucket; false when there is none left. */
  readonly allowRequest: (peer: string) => boolean
  /** Counts a misdeed against a peer. */
  readonly strike: (peer: PeerId, why: string) => void
}

/** The `/rwa/sync/1` protocol: serving peers' requests and pulling from peers. */
export interface Sync {
  /** Serves `/rwa/sync/1`; call before the host starts. */
  start(): Promise<void>
  /**
   * Pulls from a peer until nothing is missing, unless a pull from it is running already (then
   * answers that one). With `grace`, see `syncWith`. Never rejects: failures are logged.
   */
  scheduleSync(peer: PeerId, grace?: number): Promise<void>
  /** Stops pulling and waits for the pulls still running, or until `signal` aborts. */
  stop(options?: { readonly signal?: AbortSignal }): Promise<void>
}

/** What serving and pulling need besides the host. */
type SyncContext = Pick<SyncOptions, 'ledger' | 'allowRequest' | 'strike'>

/** Serves and pulls `/rwa/sync/1`, striking peers that flood it or answer with invalid ops. */
export function createSync(options: SyncOptions): Sync {
  const { node, logger } = options
  const syncing = new Map<string, Promise<void>>()
  const openStreams = new Map<string, number>()
  const stopping = new AbortController()

  function scheduleSync(peer: PeerId, grace = 0): Promise<void> {
    const key = peer.toString()
    const running = syncing.get(key)
    if (running) return running
    const task = syncWith({ ...options, signal: stopping.signal }, peer, grace)
      .catch((err: Error) => logger.debug({ peer: key, err: err.message }, 'sync failed'))
      .finally(() => syncing.delete(key))
    syncing.set(key, task)
    return task
  }

  return {
    async start() {
      await node.handle(
        SYNC_PROTOCOL,
        (stream, connection) => serve(options, openStreams, stream, connection.remotePeer),
        {
          // Above our own per-peer limit, so excess streams reach the handler and count as strikes.
          maxInboundStreams: 64,
        },
      )
    },
    scheduleSync,
    async stop({ signal } = {}) {
      stopping.abort()
      await settled([...syncing.values()], signal)
    },
  }
}

/** Waits until every task has settled, or until `signal` aborts. */
function settled(tasks: readonly Promise<unknown>[], signal?: AbortSignal): Promise<void> {
  if (!signal) return Promise.allSettled(tasks).then(() => undefined)
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
    void Promise.allSettled(tasks).then(done)
  })
}

// ---- serving ----

/** Answers one sync stream of a peer, which may have `MAX_OPEN_SYNC_STREAMS` open at once. */
async function serve(
  context: SyncContext,
  openStreams: Map<string, number>,
  stream: Stream,
  peer: PeerId,
): Promise<void> {
  const key = peer.toString()
  const open = (openStreams.get(key) ?? 0) + 1
  openStreams.set(key, open)
  try {
    if (open > MAX_OPEN_SYNC_STREAMS) {
      context.strike(peer, 'too many sync streams open at once')
      stream.abort(new Error('too many streams'))
      return
    }
    await respond(context, stream, peer)
  } finally {
    const left = (openStreams.get(key) ?? 1) - 1
    if (left > 0) openStreams.set(key, left)
    else openStreams.delete(key)
  }
}

async function respond(context: SyncContext, stream: Stream, peer: PeerId): Promise<void> {
  const { allowRequest, strike } = context
  const lp = lpStream(stream, { maxDataLength: SYNC_LIMITS.bytes })
  try {
    if (!allowRequest(peer.toString())) {
      strike(peer, 'sync requests above the rate limit')
      stream.abort(new Error('rate limited'))
      return
    }
    let request: SyncRequest
    try {
      request = decodeRequest((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
    } catch (error) {
      strike(peer, `bad sync request: ${(error as Error).message}`)
      stream.abort(new Error('bad request'))
      return
    }
    await lp.write(encodeSync(await answer(context.ledger, request)))
    // A peer that never closes its side would hold the stream: give it a few seconds.
    await stream.close({ signal: AbortSignal.timeout(5000) })
  } catch (error) {
    stream.abort(error as Error)
  }
}

/** This node's answer to a sync request, within `SYNC_LIMITS`. */
async function answer(ledger: Ledger, request: SyncRequest): Promise<SyncResponse> {
  if (request.t === 'docs') {
    const docs = ledger.log.docs().slice(0, SYNC_LIMITS.docs)
    return {
      t: 'docs',
      docs: docs.map((doc) => ({
        doc,
        heads: ledger.log.heads(doc).slice(0, SYNC_LIMITS.heads),
      })),
    }
  }
  const ids = ledger.log.since(request.doc, request.heads)
  const skip = Math.min(request.skip ?? 0, ids.length)
  let bytes = 0
  const ops: Uint8Array[] = []
  for (const op of await ledger.getBytes(request.doc, ids.slice(skip, skip + SYNC_LIMITS.ops))) {
    if (bytes + op.length > SYNC_LIMITS.bytes - 1024) break
    bytes += op.length
    ops.push(op)
  }
  return { t: 'ops', ops, more: skip + ops.length < ids.length }
}

// ---- pulling ----

/** What a pull needs: the host to dial, the ledger to fill, and the signal that stops it. */
type Puller = SyncContext & Pick<SyncOptions, 'node'> & { readonly signal: AbortSignal }

async function ask(
  node: Pick<Libp2p, 'dialProtocol'>,
  peer: PeerId,
  request: SyncRequest,
): Promise<SyncResponse> {
  const stream = await node.dialProtocol(peer, SYNC_PROTOCOL, {
    signal: AbortSignal.timeout(10_000),
  })
  const lp = lpStream(stream, { maxDataLength: SYNC_LIMITS.bytes })
  await lp.write(encodeSync(request))
  const response = decodeResponse(
    (await lp.read({ signal: AbortSignal.timeout(30_000) })).subarray(),
  )
  await stream.close().catch(() => undefined)
  return response
}

/**
 * Pulls every document the peer has, page by page, until nothing is missing. With `grace`, a
 * document whose heads are missing is pulled only if they are still missing `grace` ms later:
 * under steady traffic the peer's newest ops are usually still on their way by gossip, and
 * pulling them too would fetch and check them twice.
 */
async function syncWith(puller: Puller, peer: PeerId, grace = 0): Promise<void> {
  const { ledger, signal } = puller
  const listing = await ask(puller.node, peer, { t: 'docs' })
  if (listing.t !== 'docs') return puller.strike(peer, 'answered "docs" with something else')
  // Pending ops count as missing here: they wait for deps that this pull fetches.
  const held = (doc: OpId, heads: readonly OpId[]) =>
    heads.every((head) => ledger.log.has(doc, head))
  let behind = listing.docs.filter(({ doc, heads }) => !held(doc, heads))
  if (grace > 0 && behind.length > 0) {
    await sleep(grace, undefined, { signal, ref: false }).catch(() => undefined)
    if (signal.aborted) return
    behind = behind.filter(({ doc, heads }) => !held(doc, heads))
  }
  for (const { doc } of behind) if (!(await pullDoc(puller, peer, doc))) return
}

/** Pulls one document from the peer, page by page; false when the peer answered out of turn. */
async function pullDoc(puller: Puller, peer: PeerId, doc: OpId): Promise<boolean> {
  const { ledger, strike } = puller
  let skip = 0
  for (let round = 0; round < 10_000 && !puller.signal.aborted; round++) {
    const mine = ledger.log.heads(doc).slice(0, SYNC_LIMITS.heads)
    const page = await ask(puller.node, peer, { t: 'pull', doc, heads: mine, skip })
    if (page.t !== 'ops') {
      strike(peer, 'answered "pull" with something else')
      return false
    }
    const results = await ledger.ingest(page.ops.map((op) => new Uint8Array(op)))
    const bad = results.filter(peersFault)
    if (bad.length > 0) strike(peer, `sent ${bad.length} invalid ops in sync`)
    if (!page.more || page.ops.length === 0) break
    // New ops moved our heads: ask again from them. Nothing new: our heads (at most
    // SYNC_LIMITS.heads of a very wide DAG) did not tell the peer all we hold, so read on.
    const fresh = results.some((r) => r.ok && r.status !== 'duplicate')
    skip = fresh ? 0 : skip + page.ops.length
  }
  return true
}
