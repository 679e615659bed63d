import './polyfill.ts'
import { existsSync } from 'node:fs'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Connection, PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { Logger } from 'pino'
import type { Ledger } from '../ledger/ledger.ts'
import type { LifecycleOptions, Startable } from '../node/startable.ts'
import { readSecretFile, writeSecretFile } from '../store/key-file.ts'
import { parsePeerId } from './denied-peers.ts'
import { createDialer, type Dialer } from './dialer.ts'
import { createGossip, type Gossip, gossipService } from './gossip.ts'
import { createPeerScores, type NetLimits, type PeerScores } from './peer-scores.ts'
import { openServing, type ServingPolicies } from './serving.ts'
import { ANTI_ENTROPY_GRACE_MS, createSync, type Sync, type SyncStats } from './sync.ts'

export { OPS_TOPIC } from './gossip.ts'
export {
  BAN_MS,
  DEFAULT_NET_LIMITS,
  isForgettable,
  MAX_STRIKES,
  type NetLimits,
  peersFault,
} from './peer-scores.ts'
export type { SyncStats } from './sync.ts'

/** How often every peer is synced with, to catch anything gossip missed. */
const ANTI_ENTROPY_MS = 5000
/** How long a peer taken off the deny list is redialled (each anti-entropy round) until it answers. */
const REDIAL_ALLOWED_MS = 60_000
/** How long one dial of an allowed peer may take. */
const REDIAL_TIMEOUT_MS = 5000

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
  /** Per-IP limits and sync work budgets; `DEFAULT_NET_LIMITS` where left out. */
  readonly limits?: Partial<NetLimits> | undefined
  /**
   * What prices and gates sync serving (the node's domains add theirs, SWAP accounting among
   * them); open and empty when left out.
   */
  readonly serving?: ServingPolicies | undefined
}

/** The libp2p host a replicator runs on, with its gossipsub service. */
export type ReplicatorHost = Libp2p<{ pubsub: GossipSub }>

/** A node's replication of its ledger with peers, started and stopped with the node. */
export interface Replicator extends Startable {
  readonly name: 'replicator'
  /** The libp2p host. */
  readonly node: ReplicatorHost
  /** This node's libp2p peer id. */
  readonly peerId: string
  /** The addresses this node listens on, for peers to dial. */
  multiaddrs(): string[]
  /** How many peers are connected. */
  peerCount(): number
  /** Gossip messages dropped unchecked because too many were being checked already. */
  gossipDropped(): number
  /** The strikes counted against a peer (by peer id). */
  strikes(peer: string): number
  /** Whether a ban is in force against a peer (by peer id). */
  isBanned(peer: string): boolean
  /** The strikes counted against the peers of an IP address. */
  ipStrikes(ip: string): number
  /** Whether a ban is in force against an IP address. */
  isIpBanned(ip: string): boolean
  /**
   * Denies peers (by peer id; what is none is logged and left out) until `allow`: their
   * connections are closed, and dials to them and connections from them refused, so neither gossip nor sync
   * reaches them. The operator's partition switch (`denied-peers.txt`).
   */
  deny(peers: readonly string[]): void
  /** Takes peers off the deny list and dials them again (for a minute, until they answer). */
  allow(peers: readonly string[]): void
  /** The peers denied, sorted. */
  denied(): string[]
  /** Round trips and bytes of this node's pulls so far, and sync bytes in and out. */
  syncStats(): SyncStats
  /** Strikes counted and bans started since the node started (peers and IP addresses). */
  misdeeds(): { readonly strikes: number; readonly bans: number; readonly ipBans: number }
  /** Syncs with every connected peer now; resolves when done. */
  syncAll(): Promise<void>
  /** Dials a peer by multiaddr. */
  connect(address: string): Promise<void>
  /** Closes the connections to a peer (it may dial again; what it asks is up to the policies). */
  hangUp(peer: string): Promise<void>
  /** The serving policies sync consults. */
  readonly serving: ServingPolicies
  /** Serves sync, starts the host, joins the gossip topic and dials the configured peers. */
  start(options?: LifecycleOptions): Promise<void>
  /** Stops; waits for running syncs unless `options.signal` aborts first. */
  stop(options?: LifecycleOptions): Promise<void>
}

/** Loads the node's libp2p key, or creates one (Ed25519, mode 0600). */
export async function loadPeerKey(path: string): Promise<PrivateKey> {
  if (existsSync(path))
    return privateKeyFromProtobuf(Buffer.from(readSecretFile(path).trim(), 'base64'))
  const key = await generateKeyPair('Ed25519')
  writeSecretFile(path, `${Buffer.from(privateKeyToProtobuf(key)).toString('base64')}\n`)
  return key
}

/** The IP address of a multiaddr, if it has one. */
export function ipOf(address: Multiaddr | undefined): string | undefined {
  return address?.getComponents().find((c) => c.name === 'ip4' || c.name === 'ip6')?.value
}

/** What the connection gater asks of peer standing. */
type Gate = {
  readonly scores: PeerScores
  /** Peers the operator denies (by peer id). */
  readonly denied: ReadonlySet<string>
  /** The host's open connections (the host is built after the gater). */
  readonly connections: () => readonly Connection[]
}

/**
 * Builds the (not yet started) libp2p host; its gater refuses denied and banned peers, banned IP
 * addresses, and connections past `maxPeersPerIp` from one address.
 */
function createHost(
  privateKey: PrivateKey,
  listen: readonly string[],
  gate: Gate,
): Promise<ReplicatorHost> {
  const { scores, denied } = gate
  const peerRefused = (peer: PeerId): boolean => {
    const id = peer.toString()
    return denied.has(id) || scores.isBanned(id)
  }
  const ipRefused = (ip: string | undefined): boolean => {
    if (ip === undefined) return false
    if (scores.isIpBanned(ip)) return true
    let open = 0
    for (const c of gate.connections()) if (ipOf(c.remoteAddr) === ip) open++
    return open >= scores.limits.maxPeersPerIp
  }
  return createLibp2p({
    privateKey,
    addresses: { listen: [...listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialPeer: async (peer) => peerRefused(peer),
      denyInboundConnection: async (conn) => ipRefused(ipOf(conn.remoteAddr)),
      denyInboundEncryptedConnection: async (peer, conn) => {
        const ip = ipOf(conn.remoteAddr)
        return peerRefused(peer) || (ip !== undefined && scores.isIpBanned(ip))
      },
      // A dial by address alone learns the peer id only once encrypted.
      denyOutboundEncryptedConnection: async (peer) => denied.has(peer.toString()),
    },
    services: { identify: identify(), pubsub: gossipService() },
    start: false,
  })
}

/** The parts a replicator composes. */
type Parts = {
  readonly node: ReplicatorHost
  readonly scores: PeerScores
  readonly denied: Set<string>
  /** Peers taken off the deny list, redialled until they answer or the time (ms) passes. */
  readonly allowed: Map<string, number>
  readonly logger: Logger
  readonly gossip: Gossip
  readonly sync: Sync
  readonly dialer: Dialer
  readonly serving: ServingPolicies
}

/**
 * Replicates the ledger with peers over libp2p: new ops are gossiped (gossipsub, each validated by
 * the ledger's rules before it is forwarded), and `/rwa/sync/2` fills gaps: range-based
 * reconciliation of the document set, then batched, paced pulls from the peers' heads. Peers that
 * send invalid data or flood are struck, and cut off and banned past `MAX_STRIKES` (per peer id)
 * or `ipMaxStrikes` (per IP address).
 */
export async function createReplicator(options: ReplicatorOptions): Promise<Replicator> {
  const { ledger, logger } = options
  const privateKey = await loadPeerKey(options.keyFile)
  const scores = createPeerScores({ logger, limits: options.limits ?? {} })
  const denied = new Set<string>()
  let host: ReplicatorHost | undefined
  const node = await createHost(privateKey, options.listen ?? ['/ip4/127.0.0.1/tcp/0'], {
    scores,
    denied,
    connections: () => host?.getConnections() ?? [],
  })
  host = node
  /** Counts a misdeed against a peer and its IP; past the limits they are disconnected and banned. */
  const strike = (peer: PeerId, why: string): void => {
    const ip = ipOf(node.getConnections(peer)[0]?.remoteAddr)
    if (!scores.strike(peer.toString(), why, ip)) return
    node.hangUp(peer).catch(() => undefined)
    if (ip === undefined || !scores.isIpBanned(ip)) return
    for (const c of node.getConnections())
      if (ipOf(c.remoteAddr) === ip) c.close().catch(() => undefined)
  }
  const pulled = new WeakSet<Uint8Array>()
  const serving = options.serving ?? openServing()
  const sync = createSync({ node, ledger, logger, scores, strike, pulled, serving })
  const gossip = createGossip({
    pubsub: node.services.pubsub,
    ledger,
    logger,
    // A message already on its way from a peer just denied is not taken.
    isBanned: (peer) => denied.has(peer) || scores.isBanned(peer),
    strike,
    scheduleSync: sync.scheduleSync,
    pulled,
  })
  const dialer = createDialer({ node, logger, peers: options.peers ?? [] })
  return compose({
    node,
    scores,
    denied,
    allowed: new Map(),
    logger,
    gossip,
    sync,
    dialer,
    serving,
  })
}

/** The replicator made of its parts: what it answers, and its start and stop. */
function compose(parts: Parts): Replicator {
  const { node, scores, denied, logger, gossip, sync, dialer } = parts
  let antiEntropy: NodeJS.Timeout | undefined
  return {
    name: 'replicator',
    node,
    get peerId(): string {
      return node.peerId.toString()
    },
    multiaddrs: () => node.getMultiaddrs().map((m) => m.toString()),
    peerCount: () => node.getPeers().length,
    gossipDropped: () => gossip.dropped(),
    strikes: (peer) => scores.strikes(peer),
    isBanned: (peer) => scores.isBanned(peer),
    ipStrikes: (ip) => scores.ipStrikes(ip),
    isIpBanned: (ip) => scores.isIpBanned(ip),
    deny(peers) {
      for (const text of peers) {
        const peer = parsePeerId(text)
        if (peer === undefined) {
          logger.warn({ peer: text.slice(0, 80) }, 'not a peer id; not denied')
          continue
        }
        denied.add(peer)
        parts.allowed.delete(peer)
      }
      for (const c of node.getConnections())
        if (denied.has(c.remotePeer.toString())) c.close().catch(() => c.abort(new Error('denied')))
      logger.info({ peers: peers.slice(0, 20), denied: denied.size }, 'peers denied')
    },
    allow(peers) {
      const until = Date.now() + REDIAL_ALLOWED_MS
      for (const text of peers) {
        const peer = parsePeerId(text)
        if (peer !== undefined && denied.delete(peer)) parts.allowed.set(peer, until)
      }
      logger.info({ peers: peers.slice(0, 20), denied: denied.size }, 'peers allowed')
      if (node.status !== 'started') return
      redialAllowed(parts)
      // A configured peer may be among them; the connected ones are not dialled again.
      void dialer.dialPeers()
    },
    denied: () => [...denied].sort(),
    syncStats: () => sync.stats(),
    misdeeds: () => scores.totals(),
    async syncAll() {
      await Promise.all(node.getPeers().map((peer) => sync.scheduleSync(peer)))
    },
    connect: (address) => dialer.connect(address),
    async hangUp(peer) {
      const id = parsePeerId(peer)
      if (id !== undefined) await node.hangUp(peerIdFromString(id)).catch(() => undefined)
    },
    serving: parts.serving,
    async start() {
      await sync.start()
      await node.start()
      gossip.start()
      node.addEventListener('peer:connect', (event) => {
        void sync.scheduleSync(event.detail)
      })
      await dialer.dialPeers()
      antiEntropy = setInterval(() => antiEntropyRound(parts), ANTI_ENTROPY_MS)
      antiEntropy.unref()
      logger.info(
        { peerId: node.peerId.toString(), listen: node.getMultiaddrs().map(String) },
        'replication ready',
      )
    },
    async stop(options) {
      clearInterval(antiEntropy)
      gossip.stop()
      await sync.stop(options)
      await node.stop()
    },
  }
}

/** One round of anti-entropy: redial if short of peers, sync with each, forget the blameless. */
function antiEntropyRound(parts: Parts): void {
  const { node, scores, sync, dialer } = parts
  dialer.redialIfShort()
  redialAllowed(parts)
  for (const peer of node.getPeers()) void sync.scheduleSync(peer, ANTI_ENTROPY_GRACE_MS)
  scores.forgetBlameless(node.getPeers().map(String))
}

/**
 * Dials the peers lately taken off the deny list that are not connected, by the addresses the
 * host learnt of them: their side may lift its own deny later, and a configured peer count that
 * looks full does not make the dialer redial them.
 */
function redialAllowed({ node, allowed, logger }: Parts): void {
  const now = Date.now()
  for (const [peer, until] of allowed) {
    if (now > until) {
      allowed.delete(peer)
      continue
    }
    const id = peerIdFromString(peer)
    if (node.getConnections(id).length > 0) {
      allowed.delete(peer)
      continue
    }
    node
      .dial(id, { signal: AbortSignal.timeout(REDIAL_TIMEOUT_MS) })
      .then(() => allowed.delete(peer))
      .catch((err: Error) => logger.debug({ peer, err: err.message }, 'redial failed'))
  }
}
