import type { Logger } from 'pino'
import type { IngestResult } from '../ledger/ledger.ts'

/** Strikes (invalid ops, garbage, bad or flooding sync requests) after which a peer is cut off. */
export const MAX_STRIKES = 5
/** How long a cut-off peer stays banned. */
export const BAN_MS = 10 * 60 * 1000
/** Early sync requests (before a wait the peer was told had passed) that make one strike. */
export const IGNORED_WAITS_PER_STRIKE = 8
/** How early a request may come, in ms, and still count as honouring a wait (clocks and timers). */
const WAIT_SLACK_MS = 100

/** The limits of peer standing and of sync work, as `[net]` in config.toml sets them. */
export type NetLimits = {
  /** Connections one IP address may have open to this node at once. */
  readonly maxPeersPerIp: number
  /** Strikes against peers of one IP address (whatever their ids) after which the IP is banned. */
  readonly ipMaxStrikes: number
  /** Ops per second served to one peer by sync (a burst of twice that). */
  readonly syncOpsPerSecond: number
  /** Bytes per second served to one peer by sync (a burst of twice that). */
  readonly syncBytesPerSecond: number
  /** Ops' worth of budget every sync request costs, whatever it asks. */
  readonly syncRequestCost: number
}

/** The defaults of `NetLimits`. */
export const DEFAULT_NET_LIMITS: NetLimits = {
  maxPeersPerIp: 8,
  ipMaxStrikes: 3 * 5,
  syncOpsPerSecond: 50_000,
  syncBytesPerSecond: 32 * 1024 * 1024,
  syncRequestCost: 32,
}

/** Work a sync answer cost: ops (or ops' worth of listing) and bytes. */
export type SyncWork = { readonly ops: number; readonly bytes: number }

/** Whether to serve a sync request now: 0, or the ms the peer must wait first. */
export type Admission = {
  readonly waitMs: number
  /**
   * True when the peer has now asked `IGNORED_WAITS_PER_STRIKE` times before a wait it was told
   * had passed: it ignores waits, and earns a strike.
   */
  readonly ignoring: boolean
}
/** Refusals that say this node is full or failing, not that the peer sent anything wrong. */
const LOCAL_LIMITS = new Set(['PendingBufferFullError', 'LedgerFailedError'])

/** Whether a refused op counts against the peer that sent it. */
export const peersFault = (result: IngestResult): boolean =>
  !result.ok && !LOCAL_LIMITS.has(result.error.name)

/** A peer's (or an IP address's) standing: strikes, sync work budget, and a ban. */
export type Standing = {
  strikes: number
  /** Ops and bytes of sync work left in the buckets (negative: owed), as of `refilled`. */
  ops: number
  bytes: number
  refilled: number
  /** Until when the peer was told to wait, and how many requests came before that. */
  waitUntil: number
  early: number
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
  /** Per-IP and sync limits; `DEFAULT_NET_LIMITS` by default. */
  readonly limits?: Partial<NetLimits>
}

/** The standing of every peer this node deals with, keyed by peer id and by IP address. */
export interface PeerScores {
  /**
   * Counts a misdeed against a peer, and against its IP address when known. Answers true when
   * this strike bans the peer or its IP (the caller cuts them off); a ban in force is not renewed.
   */
  strike(peer: string, why: string, ip?: string): boolean
  /**
   * Asks to serve a sync request of a peer: serves now (waitMs 0, the per-request cost taken),
   * or names the wait until its work budget has refilled (and says when the peer keeps asking
   * before the waits it was told have passed).
   */
  admit(peer: string): Admission
  /** Takes the work a sync answer cost from the peer's budget (it may go into debt). */
  charge(peer: string, work: SyncWork): void
  /** Whether a ban is in force against the peer. */
  isBanned(peer: string): boolean
  /** Whether a ban is in force against an IP address. */
  isIpBanned(ip: string): boolean
  /** The strikes counted against the peer and not yet forgotten. */
  strikes(peer: string): number
  /** The strikes counted against peers of an IP address and not yet forgotten. */
  ipStrikes(ip: string): number
  /** The limits in force. */
  readonly limits: NetLimits
  /**
   * Drops the standing of peers that are gone and owe nothing: no ban in force and no strike for
   * as long as a ban lasts. Peer ids are free, so keeping one per id ever seen would let peers
   * grow this map without bound. IP addresses owing nothing are dropped too.
   */
  forgetBlameless(connected: Iterable<string>): void
  /** How many peers have a standing kept. */
  size(): number
  /** Strikes counted and bans started (of peers and of IP addresses) since this node started. */
  totals(): { readonly strikes: number; readonly bans: number; readonly ipBans: number }
}

/**
 * Keeps peers' standing: strikes that lead to a ban past `MAX_STRIKES` (per peer id) or
 * `ipMaxStrikes` (per IP address, so fresh identities do not start afresh), a work budget for
 * sync, and forgetting. Bookkeeping only: cutting a banned peer off is the caller's part.
 */
export function createPeerScores(options: PeerScoresOptions): PeerScores {
  const { logger, now = Date.now } = options
  const limits: NetLimits = { ...DEFAULT_NET_LIMITS, ...options.limits }
  const standings = new Map<string, Standing>()
  const ips = new Map<string, Standing>()
  // Forgetting a peer's standing must not make the totals go down: they are counted apart.
  const totals = { strikes: 0, bans: 0, ipBans: 0 }

  const standing = (map: Map<string, Standing>, key: string): Standing => {
    let s = map.get(key)
    if (!s) {
      s = {
        strikes: 0,
        ops: limits.syncOpsPerSecond * 2,
        bytes: limits.syncBytesPerSecond * 2,
        refilled: now(),
        waitUntil: 0,
        early: 0,
        bannedUntil: 0,
        struck: 0,
      }
      map.set(key, s)
    }
    return s
  }

  /** Counts a strike on one standing; true when it starts a ban. */
  const count = (s: Standing, max: number, at: number): boolean => {
    s.strikes++
    s.struck = at
    if (s.strikes < max || s.bannedUntil > at) return false
    s.bannedUntil = at + BAN_MS
    return true
  }

  const refill = (s: Standing, at: number) => {
    const seconds = Math.max(0, at - s.refilled) / 1000
    s.ops = Math.min(limits.syncOpsPerSecond * 2, s.ops + seconds * limits.syncOpsPerSecond)
    s.bytes = Math.min(limits.syncBytesPerSecond * 2, s.bytes + seconds * limits.syncBytesPerSecond)
    s.refilled = at
  }

  return {
    limits,
    strike(peer, why, ip) {
      const at = now()
      const s = standing(standings, peer)
      const peerBanned = count(s, MAX_STRIKES, at)
      const ipBanned = ip !== undefined && count(standing(ips, ip), limits.ipMaxStrikes, at)
      totals.strikes++
      if (peerBanned) totals.bans++
      if (ipBanned) totals.ipBans++
      logger.warn({ peer, ip, strikes: s.strikes, why }, 'peer misbehaved')
      if (peerBanned) logger.warn({ peer }, 'peer banned and disconnected')
      if (ipBanned) logger.warn({ ip }, 'IP address banned and its peers disconnected')
      return peerBanned || ipBanned
    },
    admit(peer) {
      const s = standing(standings, peer)
      const at = now()
      refill(s, at)
      if (s.waitUntil - at > WAIT_SLACK_MS) {
        s.early++
        const ignoring = s.early >= IGNORED_WAITS_PER_STRIKE
        if (ignoring) s.early = 0
        return { waitMs: Math.ceil(s.waitUntil - at), ignoring }
      }
      const cost = limits.syncRequestCost
      if (s.ops < cost || s.bytes < 0) {
        const opsWait = ((cost - s.ops) / limits.syncOpsPerSecond) * 1000
        const bytesWait = (-s.bytes / limits.syncBytesPerSecond) * 1000
        const waitMs = Math.ceil(Math.max(opsWait, bytesWait, 1))
        s.waitUntil = at + waitMs
        return { waitMs, ignoring: false }
      }
      s.early = 0
      s.ops -= cost
      return { waitMs: 0, ignoring: false }
    },
    charge(peer, work) {
      const s = standing(standings, peer)
      s.ops -= work.ops
      s.bytes -= work.bytes
    },
    isBanned: (peer) => (standings.get(peer)?.bannedUntil ?? 0) > now(),
    isIpBanned: (ip) => (ips.get(ip)?.bannedUntil ?? 0) > now(),
    strikes: (peer) => standings.get(peer)?.strikes ?? 0,
    ipStrikes: (ip) => ips.get(ip)?.strikes ?? 0,
    forgetBlameless(connected) {
      const keep = new Set(connected)
      const at = now()
      for (const [peer, s] of standings)
        if (!keep.has(peer) && isForgettable(s, at)) standings.delete(peer)
      for (const [ip, s] of ips) if (isForgettable(s, at)) ips.delete(ip)
    },
    size: () => standings.size,
    totals: () => ({ ...totals }),
  }
}
