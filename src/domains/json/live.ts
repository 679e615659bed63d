import type { Context } from 'hono'
import { type SSEStreamingApi, streamSSE } from 'hono/streaming'
import type { Logger } from 'pino'
import type { JsonCrdt, Patch } from '../../core/json/crdt.ts'
import type { JsonReducer, JsonState, JsonSummary } from '../../core/json/domain.ts'
import { JsonConflictError } from '../../core/json/ops.ts'
import { resolvePath } from '../../core/json/patch.ts'
import type { AppliedSplice } from '../../core/json/rebase.ts'
import { toJson } from '../../core/json.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { AcceptedOp } from '../../ledger/log.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { DocIndex } from '../../node/doc-index.ts'
import type { LifecycleOptions, Startable } from '../../node/startable.ts'
import { JsonStreamsBusyError } from './errors.ts'

// The json documents' change feed (issue 23): per document followed, the patches of each op as
// the CRDT applied it, fanned out to SSE streams once the op is durable, and a ring of the last
// versions' text splices, on which `POST /json/:doc/text` rebases splices made on an older
// version. A document is followed from its first use (a stream, a read with ?meta=1, a text
// edit); the ring starts there.

/** A node's JSON documents. */
export type JsonIndex = DocIndex<JsonState, JsonReducer, JsonSummary>

/** One applied op of a document, as its change feed sends it. */
export type ChangeEvent = {
  /** The document's version after the op: how many of its ops this node has applied. */
  readonly version: number
  readonly op: OpId
  /** The op's type: json.change, or json.editors (who may edit changed). */
  readonly type: string
  /** The op's author (hex Ed25519 key). */
  readonly author: string
  /** What it changed, in this node's coordinates when it applied (none for a refused op). */
  readonly patches: readonly Patch[]
}

/** The change feed of a node's JSON documents. */
export interface JsonLive extends Startable {
  /** Follows a document (from now on, if it was not followed) and answers its reducer. */
  follow(doc: OpId): Promise<JsonReducer>
  /**
   * The splices applied to text container `text` after version `base`, in order, to rebase on:
   * `crdt` is the document's, as `follow` answered it, and nothing may have been awaited since.
   * @throws JsonConflictError when `base` is older than the ring, ahead of the node, or older than
   * the text (the path then named another one).
   */
  textSince(doc: OpId, crdt: JsonCrdt, text: number, base: number): AppliedSplice[]
  /** Answers `GET /json/:doc/events`: a snapshot, then the document's changes as they apply. */
  stream(c: Context, doc: OpId): Promise<Response>
  /** Streams open. */
  readonly streams: number
}

/** Options of `createJsonLive`. */
export type JsonLiveOptions = {
  readonly ledger: Ledger
  readonly index: JsonIndex
  readonly logger: Logger
  /** Most streams open at once on the node (503 past it). */
  readonly maxStreams?: number
  /** Milliseconds between keep-alive comments on an idle stream. */
  readonly keepAliveMs?: number
  /** Versions of each document whose text splices are kept for rebasing. */
  readonly ringVersions?: number
  /**
   * What the ring of a document may hold (a splice weighs 1 and its inserted characters), past
   * which its oldest versions go.
   */
  readonly ringWeight?: number
  /** Documents followed at once; the least recently used without a stream goes first. */
  readonly maxFollowed?: number
  /** Messages waiting for a slow stream before the node closes it. */
  readonly maxQueue?: number
  /** Patches of one op past which its stream gets a new snapshot instead. */
  readonly maxEventPatches?: number
}

type TextSplice = AppliedSplice & { readonly obj: number }

/** One version in the ring: the containers that existed, and the splices of its op. */
type Version = {
  readonly version: number
  readonly containers: number
  readonly splices: readonly TextSplice[]
  /** A splice of the op could not be placed: nothing rebases across it. */
  readonly unknown: boolean
}

/** The patches of the op being applied. */
type Collecting = { op: string; patches: Patch[]; splices: TextSplice[]; unknown: boolean }

type Message = { event: 'snapshot' | 'change'; data: string } | { comment: string }

type Followed = {
  readonly doc: OpId
  reducer: JsonReducer
  unobserve: () => void
  /** The reducer's size when its last op was seen. */
  size: number
  collecting: Collecting | undefined
  ring: Version[]
  /** The version before the ring's first, and the containers then. */
  floor: { version: number; containers: number }
  /** The ring's weight (see `ringWeight`). */
  weight: number
  /** Events of ops applied but not yet durable, by op. */
  readonly pending: Map<string, ChangeEvent | 'snapshot'>
  readonly streams: Set<Subscriber>
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

/** One SSE stream: messages queue while it writes; a stream that falls too far behind is closed. */
class Subscriber {
  /** Events up to this version are in the snapshot it was sent. */
  since = 0
  private queue: Message[] = []
  private writing = false
  private sse: SSEStreamingApi | undefined
  closed = false
  readonly done: Promise<void>
  private resolve!: () => void

  constructor(
    private readonly maxQueue: number,
    private readonly onClose: (sub: Subscriber) => void,
  ) {
    this.done = new Promise((resolve) => {
      this.resolve = resolve
    })
  }

  attach(sse: SSEStreamingApi): void {
    this.sse = sse
    sse.onAbort(() => this.close())
    void this.pump()
  }

  push(message: Message): void {
    if (this.closed) return
    if (this.queue.length >= this.maxQueue) {
      this.close()
      return
    }
    this.queue.push(message)
    void this.pump()
  }

  get idle(): boolean {
    return !this.writing && this.queue.length === 0
  }

  private async pump(): Promise<void> {
    if (this.writing || !this.sse) return
    this.writing = true
    try {
      for (let m = this.queue.shift(); m && !this.closed; m = this.queue.shift()) {
        if ('comment' in m) await this.sse.write(`: ${m.comment}\n\n`)
        else await this.sse.writeSSE(m)
      }
    } finally {
      this.writing = false
    }
  }

  /** Ends the stream (its response ends even with writes pending). */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.queue = []
    this.onClose(this)
    this.sse?.abort()
    this.resolve()
  }
}

/**
 * Creates the change feed of a node's JSON documents: start it after the document index (it
 * follows the ledger after the index has applied each op).
 */
export function createJsonLive({
  ledger,
  index,
  logger,
  maxStreams = 64,
  keepAliveMs = 15_000,
  ringVersions = 1000,
  ringWeight = 4_000_000,
  maxFollowed = 1000,
  maxQueue = 1000,
  maxEventPatches = 10_000,
}: JsonLiveOptions): JsonLive {
  const followed = new Map<OpId, Followed>()
  let open = 0
  let stopping = false
  let timer: NodeJS.Timeout | undefined
  const unsubscribe: (() => void)[] = []

  function attach(f: Followed, reducer: JsonReducer): void {
    f.unobserve()
    f.reducer = reducer
    f.size = reducer.size
    f.collecting = undefined
    f.ring = []
    f.weight = 0
    f.floor = { version: reducer.size, containers: reducer.crdt.containers.length }
    f.pending.clear()
    f.unobserve = reducer.crdt.observe((patch, op) => onPatch(f, patch, op))
  }

  function onPatch(f: Followed, patch: Patch, op: string): void {
    let c = f.collecting
    if (c?.op !== op) {
      c = { op, patches: [], splices: [], unknown: false }
      f.collecting = c
    }
    if (c.patches.length <= maxEventPatches) c.patches.push(patch)
    if (patch.action !== 'splice') return
    // The path is the text's now, while the op applies: where it is later may differ.
    try {
      const at = resolvePath(f.reducer.crdt, patch.path)
      if ('container' in at)
        c.splices.push({
          obj: at.container,
          index: patch.index,
          remove: patch.remove,
          insert: patch.insert,
        })
      else c.unknown = true
    } catch {
      c.unknown = true
    }
  }

  function record(f: Followed, op: AcceptedOp['op']): void {
    const c = f.collecting?.op === op.id ? f.collecting : undefined
    f.collecting = undefined
    f.size = f.reducer.size
    // A refused op's edits were rolled back: its patches never happened.
    const counted = c !== undefined && f.reducer.verdict(op.id) === undefined
    const splices = counted ? c.splices : []
    f.ring.push({
      version: f.size,
      containers: f.reducer.crdt.containers.length,
      splices,
      unknown: counted && c.unknown,
    })
    for (const s of splices) f.weight += 1 + s.insert.length
    while (f.ring.length > ringVersions || (f.weight > ringWeight && f.ring.length > 0)) {
      const old = f.ring.shift()!
      for (const s of old.splices) f.weight -= 1 + s.insert.length
      f.floor = { version: old.version, containers: old.containers }
    }
    if (f.streams.size === 0) return
    const patches = counted ? c.patches : []
    f.pending.set(
      op.id,
      patches.length > maxEventPatches
        ? 'snapshot'
        : { version: f.size, op: op.id, type: op.op.type, author: hex(op.op.author), patches },
    )
  }

  function onAdded(accepted: readonly AcceptedOp[]): void {
    for (const { doc, op } of accepted) {
      const f = followed.get(doc)
      if (!f) continue
      if (f.reducer.size === f.size) {
        // The op went to another reducer: the index rebuilt the document. Follow the new one.
        f.collecting = undefined
        void refollow(f)
        continue
      }
      record(f, op)
    }
  }

  function onAccepted(accepted: readonly AcceptedOp[]): void {
    for (const { doc, op } of accepted) {
      const f = followed.get(doc)
      const event = f?.pending.get(op.id)
      if (!f || !event) continue
      f.pending.delete(op.id)
      if (event === 'snapshot') for (const sub of f.streams) snapshot(f, sub)
      else {
        const data = toJson(event)
        for (const sub of f.streams)
          if (event.version > sub.since) sub.push({ event: 'change', data })
      }
    }
  }

  function snapshot(f: Followed, sub: Subscriber): void {
    sub.since = f.reducer.size
    sub.push({
      event: 'snapshot',
      data: toJson({ version: f.reducer.size, content: f.reducer.content() }),
    })
  }

  async function refollow(f: Followed): Promise<void> {
    try {
      const reducer = await index.reducer(f.doc)
      if (reducer === f.reducer || followed.get(f.doc) !== f) return
      attach(f, reducer)
      for (const sub of f.streams) snapshot(f, sub)
    } catch (err) {
      logger.error({ err, doc: f.doc }, 'could not follow a rebuilt document')
    }
  }

  async function follow(doc: OpId): Promise<JsonReducer> {
    const reducer = await index.reducer(doc)
    let f = followed.get(doc)
    if (f) {
      // Most recently used last: the first ones are the first to go.
      followed.delete(doc)
      followed.set(doc, f)
      if (f.reducer !== reducer) {
        attach(f, reducer)
        for (const sub of f.streams) snapshot(f, sub)
      }
      return reducer
    }
    f = {
      doc,
      reducer,
      unobserve: () => undefined,
      size: 0,
      collecting: undefined,
      ring: [],
      floor: { version: 0, containers: 0 },
      weight: 0,
      pending: new Map(),
      streams: new Set(),
    }
    attach(f, reducer)
    followed.set(doc, f)
    if (followed.size > maxFollowed)
      for (const [id, other] of followed)
        if (other.streams.size === 0 && id !== doc) {
          other.unobserve()
          followed.delete(id)
          break
        }
    return reducer
  }

  function containersAt(f: Followed, version: number): number {
    if (version === f.floor.version) return f.floor.containers
    return f.ring[version - f.floor.version - 1]!.containers
  }

  function textSince(doc: OpId, crdt: JsonCrdt, text: number, base: number): AppliedSplice[] {
    const f = followed.get(doc)
    if (!f || f.reducer.crdt !== crdt)
      throw new JsonConflictError('The document was reloaded meanwhile; send the splices again.')
    if (base > f.size)
      throw new JsonConflictError(
        `Version ${base} is ahead of this node's (${f.size}); read the text from this node and edit that.`,
      )
    if (base < f.floor.version)
      throw new JsonConflictError(
        `Version ${base} is too old to rebase on: this node keeps the changes after version ${f.floor.version}; read the text again and send what was typed since.`,
      )
    if (text >= containersAt(f, base))
      throw new JsonConflictError(
        `The text at this path was replaced after version ${base}; read it again and edit the new one.`,
      )
    const since: AppliedSplice[] = []
    for (let i = base - f.floor.version; i < f.ring.length; i++) {
      const v = f.ring[i]!
      if (v.unknown)
        throw new JsonConflictError(
          `A change after version ${base} cannot be rebased on; read the text again.`,
        )
      for (const s of v.splices) if (s.obj === text) since.push(s)
    }
    return since
  }

  async function stream(c: Context, doc: OpId): Promise<Response> {
    await follow(doc)
    if (stopping)
      throw new JsonStreamsBusyError('This node is stopping; connect to it again later.')
    if (open >= maxStreams)
      throw new JsonStreamsBusyError(
        `This node serves ${maxStreams} change feeds at once, all taken; try again later, or raise [domains.json] max_streams.`,
      )
    const f = followed.get(doc)!
    // From here until the snapshot is queued nothing is awaited: it holds every op before the
    // first change the stream is sent.
    const sub = new Subscriber(maxQueue, (s) => {
      open--
      f.streams.delete(s)
    })
    open++
    f.streams.add(sub)
    snapshot(f, sub)
    return streamSSE(c, async (sse) => {
      sub.attach(sse)
      await sub.done
    })
  }

  function closeAll(): void {
    for (const f of followed.values()) for (const sub of [...f.streams]) sub.close()
  }

  return {
    name: 'json.live',
    follow,
    textSince,
    stream,
    get streams() {
      return open
    },
    start({ signal }: LifecycleOptions) {
      stopping = false
      unsubscribe.push(ledger.onAdded(onAdded), ledger.onAccepted(onAccepted))
      timer = setInterval(() => {
        for (const f of followed.values())
          for (const sub of f.streams) if (sub.idle) sub.push({ comment: 'keep-alive' })
      }, keepAliveMs)
      timer.unref()
      // The node stops its HTTP server before its services: streams end as soon as it stops.
      signal.addEventListener(
        'abort',
        () => {
          stopping = true
          closeAll()
        },
        { once: true },
      )
    },
    stop() {
      stopping = true
      clearInterval(timer)
      for (const u of unsubscribe.splice(0)) u()
      closeAll()
      for (const f of followed.values()) f.unobserve()
      followed.clear()
    },
  }
}
