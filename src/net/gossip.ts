import { createHash } from 'node:crypto'
import {
  type GossipSub,
  type GossipSubComponents,
  gossipsub,
  StrictNoSign,
  type TopicValidatorFn,
  TopicValidatorResult,
} from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { Ledger } from '../ledger/ledger.ts'
import type { OpId } from '../ledger/op-id.ts'
import { decodeGossip, encodeGossip, GOSSIP_BATCH } from './gossip-codec.ts'
import { peersFault } from './peer-scores.ts'
import { ANTI_ENTROPY_GRACE_MS } from './sync.ts'

/** The gossip topic new ops are published on. */
export const OPS_TOPIC = 'rwa/ops/1'
/** Gossip messages of one peer (and of all peers) being checked at once; beyond, they are dropped. */
const MAX_VALIDATING_PER_PEER = 32
const MAX_VALIDATING = 256
/** Op ids that came by gossip kept at most (so they are not published again); then cleared. */
const MAX_FROM_GOSSIP = 100_000

/** The gossipsub service of the replicator's libp2p host, set up for the ops topic. */
export function gossipService(): (components: GossipSubComponents) => GossipSub {
  return gossipsub({
    emitSelf: false,
    allowPublishToZeroTopicPeers: true,
    fallbackToFloodsub: false,
    globalSignaturePolicy: StrictNoSign,
    // An op's id is its hash: the same op from two publishers is one message.
    msgIdFn: (message) => new Uint8Array(createHash('sha256').update(message.data).digest()),
    maxInboundDataLength: 256 * 1024,
  })
}

/** Options of `createGossip`. */
export type GossipOptions = {
  readonly pubsub: GossipSub
  readonly ledger: Ledger
  readonly logger: Logger
  /** Whether a ban is in force against the peer (its messages are rejected unchecked). */
  readonly isBanned: (peer: string) => boolean
  /** Counts a misdeed against a peer. */
  readonly strike: (peer: PeerId, why: string) => void
  /** Pulls from a peer what gossip did not deliver (after `grace` ms, if given). */
  readonly scheduleSync: (peer: PeerId, grace?: number) => Promise<void>
  /**
   * Buffers of ops that sync pulled: not published again. They are old news to the peer they
   * came from, and others fetch them by their own sync; echoing a catch-up of millions of ops to
   * every peer would cost each of them a decode per op.
   */
  readonly pulled?: WeakSet<Uint8Array>
}

/** The ops topic: validating what peers gossip, and publishing what this node accepts. */
export interface Gossip {
  /** Subscribes to the topic and publishes every op the ledger accepts that gossip did not bring. */
  start(): void
  /** Stops publishing. */
  stop(): void
  /** Gossip messages dropped unchecked because too many were being checked already. */
  dropped(): number
}

/**
 * Gossips ops on `OPS_TOPIC`: each message is checked by the ledger's rules before gossipsub
 * forwards it, with bounded work per peer and in all.
 */
export function createGossip(options: GossipOptions): Gossip {
  const { pubsub, ledger, logger } = options
  const fromGossip = new Set<OpId>()
  const load: Load = { validating: new Map(), total: 0, dropped: 0 }
  let unsubscribe: (() => void) | undefined
  // A gossip message carries the ops one ledger write accepted (a DAG-CBOR list of op bytes):
  // per-message costs (encryption, framing, ids) are paid once per batch, not once per op.
  pubsub.topicValidators.set(OPS_TOPIC, boundedValidator(options, fromGossip, load))
  return {
    start() {
      pubsub.subscribe(OPS_TOPIC)
      unsubscribe = ledger.onAccepted((accepted) => {
        const mine: Uint8Array[] = []
        for (const { op } of accepted)
          if (!fromGossip.delete(op.id) && !options.pulled?.has(op.bytes)) mine.push(op.bytes)
        if (mine.length > 0) publish(pubsub, logger, mine)
      })
    },
    stop() {
      unsubscribe?.()
    },
    dropped: () => load.dropped,
  }
}

/** Gossip messages being checked, per peer and in all, and how many were dropped unchecked. */
type Load = { readonly validating: Map<string, number>; total: number; dropped: number }

/** The topic validator: rejects banned peers, drops what is beyond the bounds, checks the rest. */
function boundedValidator(
  options: GossipOptions,
  fromGossip: Set<OpId>,
  load: Load,
): TopicValidatorFn {
  return async (peer, message) => {
    const key = peer.toString()
    if (options.isBanned(key)) return TopicValidatorResult.Reject
    // Bounded work: beyond the bounds a message is dropped. Not a strike: an honest peer whose
    // node is faster than this one looks the same as a flooder (as in go-libp2p-pubsub, where
    // throttled validation is not penalised). What was dropped is fetched by sync once the
    // backlog has cleared, at the rate sync allows.
    const busy = load.validating.get(key) ?? 0
    if (busy >= MAX_VALIDATING_PER_PEER || load.total >= MAX_VALIDATING) {
      load.dropped++
      void options.scheduleSync(peer, ANTI_ENTROPY_GRACE_MS)
      return TopicValidatorResult.Ignore
    }
    load.validating.set(key, busy + 1)
    load.total++
    try {
      return await validate(options, fromGossip, peer, message.data)
    } finally {
      const left = (load.validating.get(key) ?? 1) - 1
      if (left > 0) load.validating.set(key, left)
      else load.validating.delete(key)
      load.total--
    }
  }
}

/** Checks a gossiped message by the ledger's rules, noting in `fromGossip` the ops it brought. */
async function validate(
  { ledger, strike, scheduleSync }: GossipOptions,
  fromGossip: Set<OpId>,
  peer: PeerId,
  data: Uint8Array,
): Promise<TopicValidatorResult> {
  let ops: Uint8Array[]
  try {
    ops = decodeGossip(data)
  } catch (error) {
    strike(peer, (error as Error).message)
    return TopicValidatorResult.Reject
  }
  const results = await ledger.ingest(ops, { source: `peer:${peer.toString()}` })
  const bad = results.filter(peersFault)
  if (bad.length > 0) {
    strike(peer, `gossiped ${bad.length} invalid ops (${(bad[0] as { error: Error }).error.name})`)
    return TopicValidatorResult.Reject
  }
  let fresh = false
  let waiting = false
  for (const result of results) {
    if (!result.ok) continue
    fromGossip.add(result.id)
    if (result.status !== 'duplicate') fresh = true
    if (result.status === 'pending') waiting = true
  }
  if (fromGossip.size > MAX_FROM_GOSSIP) fromGossip.clear()
  // Deps missing: forward anyway (others may need it too) and fetch what it builds on.
  if (waiting) void scheduleSync(peer)
  return fresh ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
}

/** Publishes ops on the topic, `GOSSIP_BATCH` to a message. */
function publish(pubsub: GossipSub, logger: Logger, ops: readonly Uint8Array[]): void {
  for (let i = 0; i < ops.length; i += GOSSIP_BATCH) {
    pubsub.publish(OPS_TOPIC, encodeGossip(ops.slice(i, i + GOSSIP_BATCH))).catch((err: Error) => {
      if (!/duplicate/i.test(err.message)) logger.debug({ err: err.message }, 'publish failed')
    })
  }
}
