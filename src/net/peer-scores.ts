import type { Logger } from 'pino'
import type { IngestResult } from '../ledger/ledger.ts'

/** Strikes (invalid ops, garbage, bad or flooding sync requests) after which a peer is cut off. */
export const MAX_STRIKES = 5
/** How long a cut-off peer stays banned. */
export const BAN_MS = 10 * 60 * 1000
/** Sync requests a peer may make per second, in a burst of up to twice that. */
export const SYNC_RATE = 50

/** Refusals that say this node is full or failing, not that the peer sent anything wrong. */
const LOCAL_LIMITS = new Set(['PendingBufferFullError', 'LedgerFailedError'])

/** Whether a refused op counts against the peer that sent it. */
export const peersFault = (result: IngestResult): boolean =>
  !result.ok && !LOCAL_LIMITS.has(result.error.name)

/** A peer's standing: strikes, sync-request tokens, and a ban. */
export type Standing = {
  strikes: number
  tokens: number
  refilled: number
  bannedUntil: number
  /** When the last strike was counted (0: never). */
  struck: number
}

/**
 * Whether a disconnected peer's standing may be dropped: no ban in force and no strike for as
 * long as a ban lasts (so strikes fade, and a peer that never misbehaved is not kept at all).
 */
export const isForgettable = (s: Pick<Standing, 'bannedUntil' | 'struck'>, now: number): boolean =>
  s.bannedUntil <= now && now - s.struck >= BAN_MS

/** Options of `createPeerScores`. */
export type PeerScoresOptions = {
  readonly logger: Logger
  /** The clock, in ms since the epoch. */
  readonly now?: () => number
}

/** The standing of every peer this node deals with, keyed by peer id (as text). */
export interface PeerScores {
  /**
   * Counts a misdeed against a peer. Answers true when this strike bans it (the caller cuts it
   * off); a peer already banned is not banned again.
   */
  strike(peer: string, why: string): boolean
  /** Takes a sync-request token from a peer's bucket (refilled at SYNC_RATE per second). */
  allowRequest(peer: string): boolean
  /** Whether a ban is in force against the peer. */
  isBanned(peer: string): boolean
  /** The strikes counted against the peer and not yet forgotten. */
  strikes(peer: string): number
  /**
   * Drops the standing of peers that are gone and owe nothing: no ban in force and no strike for
   * as long as a ban lasts. Peer ids are free, so keeping one per id ever seen would let peers
   * grow this map without bound.
   */
  forgetBlameless(connected: Iterable<string>): void
  /** How many peers have a standing kept. */
  size(): number
}

/**
 * Keeps peers' standing: strikes that lead to a ban past `MAX_STRIKES`, a token bucket of sync
 * requests, and forgetting. Bookkeeping only: cutting a banned peer off is the caller's part.
 */
export function createPeerScores({ logger, now = Date.now }: PeerScoresOptions): PeerScores {
  const standings = new Map<string, Standing>()

  const standing = (peer: string): Standing => {
    let s = standings.get(peer)
    if (!s) {
      s = { strikes: 0, tokens: SYNC_RATE * 2, refilled: now(), bannedUntil: 0, struck: 0 }
      standings.set(peer, s)
    }
    return s
  }

  return {
    strike(peer, why) {
      const s = standing(peer)
      const at = now()
      s.strikes++
      s.struck = at
      logger.warn({ peer, strikes: s.strikes, why }, 'peer misbehaved')
      if (s.strikes < MAX_STRIKES || s.bannedUntil > at) return false
      s.bannedUntil = at + BAN_MS
      logger.warn({ peer }, 'peer banned and disconnected')
      return true
    },
    allowRequest(peer) {
      const s = standing(peer)
      const at = now()
      s.tokens = Math.min(SYNC_RATE * 2, s.tokens + ((at - s.refilled) / 1000) * SYNC_RATE)
      s.refilled = at
      if (s.tokens < 1) return false
      s.tokens--
      return true
    },
    isBanned: (peer) => (standings.get(peer)?.bannedUntil ?? 0) > now(),
    strikes: (peer) => standings.get(peer)?.strikes ?? 0,
    forgetBlameless(connected) {
      const keep = new Set(connected)
      const at = now()
      for (const [peer, s] of standings)
        if (!keep.has(peer) && isForgettable(s, at)) standings.delete(peer)
    },
    size: () => standings.size,
  }
}
