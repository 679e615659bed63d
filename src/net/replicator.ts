import './polyfill.ts'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { gossipsub, StrictNoSign, TopicValidatorResult } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Logger } from 'pino'
import type { Ledger } from '../ledger/ledger.ts'
import type { OpId } from '../ledger/op-id.ts'
import { readSecretFile, writeSecretFile } from '../store/key-file.ts'
import { decodeGossip, encodeGossip, GOSSIP_BATCH } from './gossip-codec.ts'
import { createPeerScores, peersFault } from './peer-scores.ts'
import { ANTI_ENTROPY_GRACE_MS, createSync } from './sync.ts'

/** The gossip topic new ops are published on. */
export const OPS_TOPIC = 'rwa/ops/1'
/** Gossip messages of one peer (and of all peers) being checked at once; beyond, they are dropped. */
const MAX_VALIDATING_PER_PEER = 32
const MAX_VALIDATING = 256
/** How often every peer is synced with, to catch anything gossip missed. */
const ANTI_ENTROPY_MS = 5000

export { BAN_MS, isForgettable, MAX_STRIKES, peersFault } from './peer-scores.ts'

/** Options of `createReplicator`. */
export type ReplicatorOptions = {
  readonly ledger: Ledger
  readonly logger: Logger
  /** The libp2p identity key file (created with mode 0600 when missing). */
  readonly keyFile: string
  /** Multiaddrs to listen on; loopback by default. */
  readonly listen?: readonly string[]
  /** Peers to dial at start and whenever the connection drops. */
  readonly peers?: readonly string[]
}

/** Loads the node's libp2p key, or creates one (Ed25519, mode 0600). */
export async function loadPeerKey(path: string): Promise<PrivateKey> {
  if (existsSync(path))
    return privateKeyFromProtobuf(Buffer.from(readSecretFile(path).trim(), 'base64'))
  const key = await generateKeyPair('Ed25519')
  writeSecretFile(path, `${Buffer.from(privateKeyToProtobuf(key)).toString('base64')}\n`)
  return key
}

/**
 * Replicates the ledger with peers over libp2p: new ops are gossiped (gossipsub, each validated by
 * the ledger's rules before it is forwarded), and `/rwa/sync/1` fills gaps by walking the hash
 * graph from the peers' heads. Peers that send invalid data or flood are struck, and cut off and
 * banned past `MAX_STRIKES`.
 */
export async function createReplicator(options: ReplicatorOptions) {
  const { ledger, logger } = options
  const privateKey = await loadPeerKey(options.keyFile)
  const scores = createPeerScores({ logger })
  const fromGossip = new Set<OpId>()
  const validating = new Map<string, number>()
  let validatingTotal = 0
  let dropped = 0
  let antiEntropy: NodeJS.Timeout | undefined
  let unsubscribe: (() => void) | undefined

  const node: Libp2p<{ pubsub: ReturnType<ReturnType<typeof gossipsub>> }> = await createLibp2p({
    privateKey,
    addresses: { listen: [...(options.listen ?? ['/ip4/127.0.0.1/tcp/0'])] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialPeer: async (peer) => scores.isBanned(peer.toString()),
      denyInboundEncryptedConnection: async (peer) => scores.isBanned(peer.toString()),
    },
    services: {
      identify: identify(),
      pubsub: gossipsub({
        emitSelf: false,
        allowPublishToZeroTopicPeers: true,
        fallbackToFloodsub: false,
        globalSignaturePolicy: StrictNoSign,
        // An op's id is its hash: the same op from two publishers is one message.
        msgIdFn: (message) => new Uint8Array(createHash('sha256').update(message.data).digest()),
        maxInboundDataLength: 256 * 1024,
      }),
    },
    start: false,
  })

  /** Counts a misdeed against a peer; past the limit it is disconnected and banned. */
  function strike(peer: PeerId, why: string): void {
    if (scores.strike(peer.toString(), why)) node.hangUp(peer).catch(() => undefined)
  }

  const sync = createSync({ node, ledger, logger, allowRequest: scores.allowRequest, strike })

  // ---- gossip ----

  // A gossip message carries the ops one ledger write accepted (a DAG-CBOR list of op bytes):
  // per-message costs (encryption, framing, ids) are paid once per batch, not once per op.
  node.services.pubsub.topicValidators.set(OPS_TOPIC, async (peer, message) => {
    if (scores.isBanned(peer.toString())) return TopicValidatorResult.Reject
    // Bounded work: beyond the bounds a message is dropped. Not a strike: an honest peer whose
    // node is faster than this one looks the same as a flooder (as in go-libp2p-pubsub, where
    // throttled validation is not penalised). What was dropped is fetched by sync once the
    // backlog has cleared, at the rate sync allows.
    const key = peer.toString()
    const busy = validating.get(key) ?? 0
    if (busy >= MAX_VALIDATING_PER_PEER || validatingTotal >= MAX_VALIDATING) {
      dropped++
      void sync.scheduleSync(peer, ANTI_ENTROPY_GRACE_MS)
      return TopicValidatorResult.Ignore
    }
    validating.set(key, busy + 1)
    validatingTotal++
    try {
      return await validate(peer, message.data)
    } finally {
      const left = (validating.get(key) ?? 1) - 1
      if (left > 0) validating.set(key, left)
      else validating.delete(key)
      validatingTotal--
    }
  })

  async function validate(peer: PeerId, data: Uint8Array): Promise<TopicValidatorResult> {
    let ops: Uint8Array[]
    try {
      ops = decodeGossip(data)
    } catch (error) {
      strike(peer, (error as Error).message)
      return TopicValidatorResult.Reject
    }
    const results = await ledger.ingest(ops)
    const bad = results.filter(peersFault)
    if (bad.length > 0) {
      strike(
        peer,
        `gossiped ${bad.length} invalid ops (${(bad[0] as { error: Error }).error.name})`,
      )
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
    if (fromGossip.size > 100_000) fromGossip.clear()
    // Deps missing: forward anyway (others may need it too) and fetch what it builds on.
    if (waiting) void sync.scheduleSync(peer)
    return fresh ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
  }

  function publish(ops: readonly Uint8Array[]): void {
    for (let i = 0; i < ops.length; i += GOSSIP_BATCH) {
      node.services.pubsub
        .publish(OPS_TOPIC, encodeGossip(ops.slice(i, i + GOSSIP_BATCH)))
        .catch((err: Error) => {
          if (!/duplicate/i.test(err.message)) logger.debug({ err: err.message }, 'publish failed')
        })
    }
  }

  async function dialPeers(): Promise<void> {
    for (const address of options.peers ?? []) {
      try {
        await node.dial(multiaddr(address), { signal: AbortSignal.timeout(5000) })
      } catch (err) {
        logger.debug({ peer: address, err: (err as Error).message }, 'dial failed')
      }
    }
  }

  return {
    node,
    get peerId(): string {
      return node.peerId.toString()
    },
    multiaddrs: (): string[] => node.getMultiaddrs().map((m) => m.toString()),
    peerCount: (): number => node.getPeers().length,
    /** Gossip messages dropped unchecked because too many were being checked already. */
    gossipDropped: (): number => dropped,
    strikes: (peer: string): number => scores.strikes(peer),
    isBanned: (peer: string): boolean => scores.isBanned(peer),
    /** Syncs with every connected peer now; resolves when done. */
    async syncAll(): Promise<void> {
      await Promise.all(node.getPeers().map((peer) => sync.scheduleSync(peer)))
    },
    /** Dials a peer by multiaddr. */
    async connect(address: string): Promise<void> {
      await node.dial(multiaddr(address), { signal: AbortSignal.timeout(5000) })
    },
    async start(): Promise<void> {
      await sync.start()
      await node.start()
      node.services.pubsub.subscribe(OPS_TOPIC)
      unsubscribe = ledger.onAccepted((accepted) => {
        const mine: Uint8Array[] = []
        for (const { op } of accepted) if (!fromGossip.delete(op.id)) mine.push(op.bytes)
        if (mine.length > 0) publish(mine)
      })
      node.addEventListener('peer:connect', (event) => {
        void sync.scheduleSync(event.detail)
      })
      await dialPeers()
      antiEntropy = setInterval(() => {
        if (node.getPeers().length < (options.peers?.length ?? 0)) void dialPeers()
        for (const peer of node.getPeers()) void sync.scheduleSync(peer, ANTI_ENTROPY_GRACE_MS)
        scores.forgetBlameless(node.getPeers().map(String))
      }, ANTI_ENTROPY_MS)
      antiEntropy.unref()
      logger.info(
        { peerId: node.peerId.toString(), listen: node.getMultiaddrs().map(String) },
        'replication ready',
      )
    },
    async stop(): Promise<void> {
      clearInterval(antiEntropy)
      unsubscribe?.()
      await sync.stop()
      await node.stop()
    },
  }
}

export type Replicator = Awaited<ReturnType<typeof createReplicator>>
