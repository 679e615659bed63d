import './polyfill.ts'
import { existsSync } from 'node:fs'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Logger } from 'pino'
import type { Ledger } from '../ledger/ledger.ts'
import { readSecretFile, writeSecretFile } from '../store/key-file.ts'
import { createGossip, gossipService } from './gossip.ts'
import { createPeerScores } from './peer-scores.ts'
import { ANTI_ENTROPY_GRACE_MS, createSync } from './sync.ts'

/** How often every peer is synced with, to catch anything gossip missed. */
const ANTI_ENTROPY_MS = 5000

export { OPS_TOPIC } from './gossip.ts'
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
  let antiEntropy: NodeJS.Timeout | undefined

  const node: Libp2p<{ pubsub: GossipSub }> = await createLibp2p({
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
      pubsub: gossipService(),
    },
    start: false,
  })

  /** Counts a misdeed against a peer; past the limit it is disconnected and banned. */
  function strike(peer: PeerId, why: string): void {
    if (scores.strike(peer.toString(), why)) node.hangUp(peer).catch(() => undefined)
  }

  const sync = createSync({ node, ledger, logger, allowRequest: scores.allowRequest, strike })

  const gossip = createGossip({
    pubsub: node.services.pubsub,
    ledger,
    logger,
    isBanned: scores.isBanned,
    strike,
    scheduleSync: sync.scheduleSync,
  })

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
    gossipDropped: (): number => gossip.dropped(),
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
      gossip.start()
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
      gossip.stop()
      await sync.stop()
      await node.stop()
    },
  }
}

export type Replicator = Awaited<ReturnType<typeof createReplicator>>
