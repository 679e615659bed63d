import { setTimeout as sleep } from 'node:timers/promises'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Logger } from 'pino'
import type { Ledger } from '../ledger/ledger.ts'
import type { OpId } from '../ledger/op-id.ts'
import { type PeerScores, peersFault } from './peer-scores.ts'
import { createReconIndex, type ReconIndex } from './recon-index.ts'
import { openServing, type ServingPolicies, type SyncAnswer } from './serving.ts'
import { type AnswerBudget, answerPull, answerRecon } from './sync-answer.ts'
import {
  decodeRequest,
  decodeResponse,
  encodeSync,
  type KeyRange,
  MAX_WAIT_MS,
  type PullDoc,
  type PulledDoc,
  type RangeEntry,
  SYNC_LIMITS,
  SYNC_PROTOCOL,
  type SyncRequest,
  type SyncResponse,
} from './sync-messages.ts'

/** How long anti-entropy lets gossip deliver a peer's newest ops before pulling them itself. */
export const ANTI_ENTROPY_GRACE_MS = 1000
/** Sync streams one peer may have open at once; more is a strike. */
const MAX_OPEN_SYNC_STREAMS = 8
/** Documents found behind that are pulled before reconciliation goes on (bounds memory). */
const PULL_CHUNK = 10_000
/** Ranges still to reconcile with one peer at most; beyond, the peer is making work up. */
const MAX_OPEN_RANGES = 100_000
/** Round trips of one sync with a peer at most, of each kind, and waits at most per request. */
const MAX_ROUNDS = 100_000
const MAX_WAITS = 1000

/** Options of `createSync`. */
export type SyncOptions = {
  /** The libp2p host: serves the protocol and dials peers for it. */
  readonly node: Pick<Libp2p, 'handle' | 'dialProtocol'>
  readonly ledger: Ledger
  readonly logger: Logger
  /** Peers' work budgets: whether to serve a request now, and what it cost. */
  readonly scores: Pick<PeerScores, 'admit' | 'charge'>
  /** Counts a misdeed against a peer. */
  readonly strike: (peer: PeerId, why: string) => void
  /** Where the buffers of pulled ops are noted (gossip does not publish them again). */
  readonly pulled?: WeakSet<Uint8Array>
  /** What prices and gates serving (SWAP accounting); open and empty when left out. */
  readonly serving?: ServingPolicies
}

/** Round trips and bytes of sync this node made as a puller, since it started. */
export type SyncStats = {
  /** Reconciliation round trips, and bytes sent and received in them. */
  reconRounds: number
  reconBytes: number
  /** Pull round trips, and bytes sent and received in them. */
  pullRounds: number
  pullBytes: number
  /** `wait` answers received (and honoured). */
  waits: number
  /** Sync bytes received (answers to this node's pulls, peers' requests) and sent (requests, answers served). */
  bytesIn: number
  bytesOut: number
}

/** The `/rwa/sync/2` protocol: serving peers' requests and pulling from peers. */
export interface Sync {
  /** Serves `/rwa/sync/2`; call before the host starts. */
  start(): Promise<void>
  /**
   * Pulls from a peer until nothing is missing, unless a pull from it is running already (then
   * answers that one). With `grace`, see `syncWith`. Never rejects: failures are logged.
   */
  scheduleSync(peer: PeerId, grace?: number): Promise<void>
  /** Round trips and bytes of the pulls so far. */
  stats(): SyncStats
  /** Stops pulling and waits for the pulls still running, or until `signal` aborts. */
  stop(options?: { readonly signal?: AbortSignal }): Promise<void>
}

/** What serving and pulling need besides the host. */
type SyncContext = Pick<SyncOptions, 'ledger' | 'scores' | 'strike' | 'logger'> & {
  readonly index: ReconIndex
  /** Where served bytes are counted. */
  readonly stats: SyncStats
  readonly serving: ServingPolicies
}

/** Serves and pulls `/rwa/sync/2`, striking peers that flood it or answer with invalid ops. */
export function createSync(options: SyncOptions): Sync {
  const { node, logger } = options
  const syncing = new Map<string, Promise<void>>()
  const openStreams = new Map<string, number>()
  const stopping = new AbortController()
  const index = createReconIndex(options.ledger)
  const stats: SyncStats = {
    reconRounds: 0,
    reconBytes: 0,
    pullRounds: 0,
    pullBytes: 0,
    waits: 0,
    bytesIn: 0,
    bytesOut: 0,
  }
  const serving = options.serving ?? openServing()
  const context: SyncContext = { ...options, index, stats, serving }

  function scheduleSync(peer: PeerId, grace = 0): Promise<void> {
    const key = peer.toString()
    const running = syncing.get(key)
    if (running) return running
    const task = syncWith(
      { ...options, index, stats, serving, signal: stopping.signal },
      peer,
      grace,
    )
      .catch((err: Error) => logger.debug({ peer: key, err: err.message }, 'sync failed'))
      .finally(() => syncing.delete(key))
    syncing.set(key, task)
    return task
  }

  return {
    async start() {
      await node.handle(
        SYNC_PROTOCOL,
        (stream, connection) => serve(context, openStreams, stream, connection.remotePeer),
        {
          // Above our own per-peer limit, so excess streams reach the handler and count as strikes.
          maxInboundStreams: 64,
        },
      )
    },
    scheduleSync,
    stats: () => ({ ...stats }),
    async stop({ signal } = {}) {
      stopping.abort()
      await settled([...syncing.values()], signal)
      index.close()
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

/**
 * Reads one request and answers it, or tells the peer how long to wait when its work budget is
 * spent (no strike: an honest node catching up looks the same). Garbage, and requests that keep
 * coming before the waits the peer was told, are strikes.
 */
async function respond(context: SyncContext, stream: Stream, peer: PeerId): Promise<void> {
  const { scores, strike } = context
  const key = peer.toString()
  const lp = lpStream(stream, { maxDataLength: SYNC_LIMITS.bytes })
  try {
    let request: SyncRequest
    try {
      const received = (await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray()
      context.stats.bytesIn += received.length
      request = decodeRequest(received)
    } catch (error) {
      strike(peer, `bad sync request: ${(error as Error).message}`)
      stream.abort(new Error('bad request'))
      return
    }
    const admission = scores.admit(key)
    if (admission.ignoring) strike(peer, 'sync requests keep coming before the wait it was told')
    // A serving policy (SWAP) may hold the peer off too: it is told to wait, not struck.
    const waitMs = Math.max(admission.waitMs, context.serving.admit(key) ?? 0)
    let bytes: Uint8Array
    let served: SyncAnswer | undefined
    if (waitMs > 0) {
      bytes = encodeSync({ t: 'wait', ms: Math.min(waitMs, MAX_WAIT_MS) })
    } else {
      const { response, work } = await answer(context, request, context.serving.budget(key))
      bytes = encodeSync(response)
      scores.charge(key, { ops: work, bytes: bytes.length })
      served = answerOf(response, bytes.length)
    }
    await lp.write(bytes)
    context.stats.bytesOut += bytes.length
    if (served) context.serving.served(key, served)
    // A peer that never closes its side would hold the stream: give it a few seconds.
    await stream.close({ signal: AbortSignal.timeout(5000) })
  } catch (error) {
    stream.abort(error as Error)
  }
}

/** What a sync answer carried, as both its server and its puller count it; undefined for `wait`. */
function answerOf(response: SyncResponse, bytes: number): SyncAnswer | undefined {
  if (response.t === 'wait') return undefined
  if (response.t === 'recon') return { kind: 'recon', ops: 0, bytes }
  let ops = 0
  for (const doc of response.docs) ops += doc.ops.length
  return { kind: 'ops', ops, bytes }
}

/** This node's answer to a request, within `SYNC_LIMITS`, and the ops' worth of work it was. */
function answer(
  context: SyncContext,
  request: SyncRequest,
  budget: AnswerBudget | undefined,
): Promise<{ response: SyncResponse; work: number }> | { response: SyncResponse; work: number } {
  if (request.t === 'recon') return answerRecon(context.index, request.ranges)
  return answerPull(context.ledger, request.docs, budget)
}

// ---- pulling ----

/** What a pull needs: the host to dial, the ledger to fill, and the signal that stops it. */
type Puller = Pick<SyncOptions, 'node' | 'ledger' | 'strike' | 'logger' | 'pulled'> & {
  readonly index: ReconIndex
  readonly stats: SyncStats
  readonly serving: ServingPolicies
  readonly signal: AbortSignal
}

/** Sends one request on a new stream and reads the answer; the bytes both ways. */
async function ask(
  node: Pick<Libp2p, 'dialProtocol'>,
  peer: PeerId,
  request: SyncRequest,
): Promise<{ response: SyncResponse; sent: number; received: number }> {
  const stream = await node.dialProtocol(peer, SYNC_PROTOCOL, {
    signal: AbortSignal.timeout(10_000),
  })
  const lp = lpStream(stream, { maxDataLength: SYNC_LIMITS.bytes })
  const sent = encodeSync(request)
  await lp.write(sent)
  const received = (await lp.read({ signal: AbortSignal.timeout(30_000) })).subarray()
  await stream.close().catch(() => undefined)
  return { response: decodeResponse(received), sent: sent.length, received: received.length }
}

/** Asks, honouring `wait` answers (sleeps, then asks again), a bounded number of times. */
async function askPaced(
  puller: Puller,
  peer: PeerId,
  request: SyncRequest,
): Promise<SyncResponse | undefined> {
  const { stats } = puller
  for (let i = 0; i < MAX_WAITS && !puller.signal.aborted; i++) {
    const { response, sent, received } = await ask(puller.node, peer, request)
    const bytes = sent + received
    stats.bytesOut += sent
    stats.bytesIn += received
    if (request.t === 'recon') {
      stats.reconRounds++
      stats.reconBytes += bytes
    } else {
      stats.pullRounds++
      stats.pullBytes += bytes
    }
    if (response.t !== 'wait') {
      puller.serving.received(peer.toString(), answerOf(response, received)!)
      return response
    }
    stats.waits++
    await sleep(response.ms, undefined, { signal: puller.signal }).catch(() => undefined)
  }
  return undefined
}

/** A document found behind: its id and the item hash the peer has for it. */
type Behind = { readonly doc: OpId; readonly hash: Uint8Array }

/**
 * Reconciles the document set with the peer and pulls every document whose heads differ, in
 * chunks as they are found. With `grace`, a document found behind is pulled only if it is still
 * behind `grace` ms later: under steady traffic the peer's newest ops are usually still on their
 * way by gossip, and pulling them too would fetch and check them twice.
 */
async function syncWith(puller: Puller, peer: PeerId, grace = 0): Promise<void> {
  const { index, signal } = puller
  await puller.serving.beforePull(peer.toString(), signal)
  const open: KeyRange[] = [{ lo: '', hi: null }]
  const behind: Behind[] = []
  let waited = grace <= 0
  const pullBehind = async (): Promise<boolean> => {
    if (!waited && behind.length > 0) {
      waited = true
      await sleep(grace, undefined, { signal, ref: false }).catch(() => undefined)
    }
    const docs = behind.splice(0).flatMap(({ doc, hash }) => {
      const mine = index.hashOf(doc)
      return mine && Buffer.compare(mine, hash) === 0 ? [] : [doc]
    })
    return pullDocs(puller, peer, docs)
  }
  for (let round = 0; open.length > 0 && round < MAX_ROUNDS && !signal.aborted; round++) {
    const asked = open.splice(0, SYNC_LIMITS.ranges)
    const ranges = asked.map((range) => {
      const [start, end] = index.bounds(range)
      return { ...range, fp: index.fingerprint(start, end), n: end - start }
    })
    const answer = await askPaced(puller, peer, { t: 'recon', ranges })
    if (!answer) return
    if (answer.t !== 'recon') return puller.strike(peer, 'answered "recon" with something else')
    for (const entry of answer.ranges) compare(index, entry, open, behind)
    if (open.length > MAX_OPEN_RANGES)
      return puller.strike(peer, 'reconciliation keeps growing (more ranges than it could hold)')
    if (behind.length >= PULL_CHUNK && !(await pullBehind())) return
  }
  await pullBehind()
}

/**
 * Takes in one entry of a reconciliation answer: documents listed whose item hash differs from
 * ours are behind; ranges whose fingerprint differs, or that were not looked at, stay open.
 */
function compare(index: ReconIndex, entry: RangeEntry, open: KeyRange[], behind: Behind[]) {
  const range = { lo: entry.lo, hi: entry.hi }
  if (entry.items) {
    for (const [doc, hash] of entry.items) {
      const mine = index.hashOf(doc)
      if (!mine || Buffer.compare(mine, hash) !== 0) behind.push({ doc, hash })
    }
    return
  }
  if (entry.fp) {
    const [start, end] = index.bounds(range)
    if (Buffer.compare(index.fingerprint(start, end), entry.fp) !== 0) open.push(range)
    return
  }
  open.push(range)
}

/** A document to pull: the heads and skip to ask with (heads read when it is asked for). */
type Want = { readonly doc: OpId; readonly heads?: readonly OpId[]; readonly skip: number }

/** The next pull batch from the front of `queue`, within the documents and heads a pull may name. */
function nextBatch(ledger: Ledger, queue: Want[]): PullDoc[] {
  const batch: PullDoc[] = []
  let heads = 0
  while (queue.length > 0 && batch.length < SYNC_LIMITS.pullDocs) {
    const want = queue[0]!
    const mine = want.heads ?? ledger.log.heads(want.doc).slice(0, SYNC_LIMITS.heads)
    if (batch.length > 0 && heads + mine.length > SYNC_LIMITS.pullHeads) break
    queue.shift()
    heads += mine.length
    batch.push({ doc: want.doc, heads: mine, skip: want.skip })
  }
  return batch
}

/**
 * Pulls documents from the peer in batches, pipelined: the next batch is asked for while the
 * current one is ingested. A document with more to come is asked for again with the same heads,
 * reading on past what came (`skip`). False when the peer answered out of turn.
 */
async function pullDocs(puller: Puller, peer: PeerId, docs: readonly OpId[]): Promise<boolean> {
  const { ledger, strike, signal } = puller
  const queue: Want[] = docs.map((doc) => ({ doc, skip: 0 }))
  const send = (batch: PullDoc[]) => {
    const pending = askPaced(puller, peer, { t: 'pull', docs: batch })
    // Awaited on the next turn of the loop; until then a failure must not count as unhandled.
    pending.catch(() => undefined)
    return pending
  }
  let batch = nextBatch(ledger, queue)
  let inFlight = batch.length > 0 ? send(batch) : undefined
  // Two answers ingest at once (the ledger applies them in call order): while one is written to
  // the store, the next one's signatures are being checked.
  let ingesting: Promise<void> = Promise.resolve()
  for (let round = 0; inFlight && round < MAX_ROUNDS && !signal.aborted; round++) {
    const answer = await inFlight
    if (!answer) return false
    if (answer.t !== 'ops') {
      strike(peer, 'answered "pull" with something else')
      return false
    }
    const again = followUps(batch, answer.docs, ledger.log.has)
    if (again === undefined) {
      strike(peer, 'answered "pull" with documents it was not asked for, or with none')
      return false
    }
    queue.unshift(...again)
    batch = nextBatch(ledger, queue)
    inFlight = batch.length > 0 ? send(batch) : undefined
    const previous = ingesting
    ingesting = ingestAnswer(puller, peer, answer.docs)
    ingesting.catch(() => undefined)
    await previous
  }
  await ingesting
  return true
}

/** Ingests the ops of a pull answer, striking the peer for invalid ones. */
async function ingestAnswer(puller: Puller, peer: PeerId, docs: readonly PulledDoc[]) {
  const ops = docs.flatMap((d) => d.ops.map((op) => new Uint8Array(op)))
  for (const op of ops) puller.pulled?.add(op)
  const results = await puller.ledger.ingest(ops, { source: `peer:${peer.toString()}` })
  const bad = results.filter(peersFault)
  if (bad.length > 0) puller.strike(peer, `sent ${bad.length} invalid ops in sync`)
}

/**
 * What to ask for again after an answer: documents it did not reach, and those with more to
 * come (read on past what came), and those the peer sent its heads for, from the ones we hold.
 * Undefined when the answer is out of turn: a document not asked
 * for, in another order, or no document at all.
 */
function followUps(
  batch: readonly PullDoc[],
  answered: readonly PulledDoc[],
  has: (doc: OpId, id: OpId) => boolean,
): Want[] | undefined {
  if (answered.length === 0 || answered.length > batch.length) return undefined
  const again: Want[] = []
  for (let i = 0; i < batch.length; i++) {
    const asked = batch[i]!
    const got = answered[i]
    if (!got) {
      again.push({ doc: asked.doc, heads: asked.heads, skip: asked.skip })
      continue
    }
    if (got.doc !== asked.doc) return undefined
    if (got.heads) {
      // The peer knows none of our heads: pull from those of its heads we hold, if any are missing.
      const held = got.heads.filter((head) => has(asked.doc, head))
      if (held.length < got.heads.length) again.push({ doc: asked.doc, heads: held, skip: 0 })
      continue
    }
    // "More" with nothing sent would ask forever: left for the next sync.
    if (got.more && got.ops.length > 0)
      again.push({ doc: asked.doc, heads: asked.heads, skip: asked.skip + got.ops.length })
  }
  return again
}
