import type { Libp2p } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { Logger } from 'pino'

/** How long one dial may take. */
const DIAL_TIMEOUT_MS = 5000

/** Options of `createDialer`. */
export type DialerOptions = {
  /** The libp2p host that dials. */
  readonly node: Pick<Libp2p, 'dial' | 'getPeers'>
  readonly logger: Logger
  /** Multiaddrs of the peers to keep dialling. */
  readonly peers?: readonly string[]
}

/** Dials peers: the configured ones, and any other on demand. */
export interface Dialer {
  /** Dials every configured peer in turn; a failed dial is logged, not thrown. */
  dialPeers(): Promise<void>
  /** Dials the configured peers again when fewer peers are connected than are configured. */
  redialIfShort(): void
  /** Dials a peer by multiaddr. */
  connect(address: string): Promise<void>
}

/** Dials the configured peers (at start and whenever connections drop) and peers on demand. */
export function createDialer({ node, logger, peers = [] }: DialerOptions): Dialer {
  const connect = async (address: string): Promise<void> => {
    await node.dial(multiaddr(address), { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) })
  }
  async function dialPeers(): Promise<void> {
    for (const address of peers) {
      try {
        await connect(address)
      } catch (err) {
        logger.debug({ peer: address, err: (err as Error).message }, 'dial failed')
      }
    }
  }
  return {
    dialPeers,
    redialIfShort() {
      if (node.getPeers().length < peers.length) void dialPeers()
    },
    connect,
  }
}
