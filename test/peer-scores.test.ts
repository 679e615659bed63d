import { pino } from 'pino'
import { describe, expect, test } from 'vitest'
import {
  BAN_MS,
  createPeerScores,
  DEFAULT_NET_LIMITS,
  IGNORED_WAITS_PER_STRIKE,
  isForgettable,
  MAX_STRIKES,
} from '../src/net/peer-scores.ts'

/** Peer scores on a clock the test moves, with the warnings they log. */
function scoresAt(start = 1_000_000_000, limits = {}) {
  const clock = { now: start }
  const logged: { msg: string; peer: string; strikes?: number; why?: string }[] = []
  const logger = pino({ level: 'warn' }, { write: (line: string) => logged.push(JSON.parse(line)) })
  const scores = createPeerScores({ logger, now: () => clock.now, limits })
  return { clock, logged, scores }
}

describe('createPeerScores', () => {
  test('strikes add up to a ban at MAX_STRIKES, and only the banning strike says so', () => {
    const { clock, logged, scores } = scoresAt()
    for (let i = 1; i < MAX_STRIKES; i++) {
      expect(scores.strike('mallory', `misdeed ${i}`)).toBe(false)
      expect(scores.isBanned('mallory')).toBe(false)
    }
    expect(scores.strike('mallory', 'the last straw')).toBe(true)
    expect(scores.isBanned('mallory')).toBe(true)
    expect(scores.strikes('mallory')).toBe(MAX_STRIKES)
    // Struck again while banned: counted, but the ban is not renewed.
    clock.now += BAN_MS / 2
    expect(scores.strike('mallory', 'more')).toBe(false)
    expect(scores.strikes('mallory')).toBe(MAX_STRIKES + 1)
    expect(logged.filter((l) => l.msg === 'peer banned and disconnected')).toHaveLength(1)
    expect(logged.filter((l) => l.msg === 'peer misbehaved').map((l) => l.why)).toEqual([
      'misdeed 1',
      'misdeed 2',
      'misdeed 3',
      'misdeed 4',
      'the last straw',
      'more',
    ])
    // The ban runs BAN_MS from the banning strike.
    clock.now += BAN_MS / 2 - 1
    expect(scores.isBanned('mallory')).toBe(true)
    clock.now += 1
    expect(scores.isBanned('mallory')).toBe(false)
    // Strikes are remembered past the ban: the next one bans again.
    expect(scores.strike('mallory', 'again')).toBe(true)
    expect(scores.isBanned('mallory')).toBe(true)
  })

  test('strikes are counted per peer', () => {
    const { scores } = scoresAt()
    for (let i = 0; i < MAX_STRIKES; i++) scores.strike('mallory', 'x')
    expect(scores.isBanned('mallory')).toBe(true)
    expect(scores.isBanned('alice')).toBe(false)
    expect(scores.strikes('alice')).toBe(0)
  })

  test('sync work is budgeted in ops and bytes: past the budget a request is told how long to wait', () => {
    const limits = { syncOpsPerSecond: 1000, syncBytesPerSecond: 10_000, syncRequestCost: 10 }
    const { clock, scores } = scoresAt(1_000_000_000, limits)
    // A burst of two seconds' worth, then a wait long enough to refill the debt.
    expect(scores.admit('bob')).toEqual({ waitMs: 0, ignoring: false })
    scores.charge('bob', { ops: 2000, bytes: 100 })
    expect(scores.admit('bob')).toEqual({ waitMs: 20, ignoring: false })
    clock.now += 20
    expect(scores.admit('bob').waitMs).toBe(0)
    // Bytes count as well: 10,000 bytes owed is a second's wait.
    scores.charge('bob', { ops: 0, bytes: 30_000 })
    expect(scores.admit('bob').waitMs).toBe(1000)
    // Each peer has its own budget.
    expect(scores.admit('carol').waitMs).toBe(0)
    expect(scores.strikes('bob')).toBe(0)
  })

  test('a peer that keeps asking before its waits are over is told it ignores them', () => {
    const limits = { syncOpsPerSecond: 1000, syncRequestCost: 10 }
    const { clock, scores } = scoresAt(1_000_000_000, limits)
    scores.charge('mallory', { ops: 5000, bytes: 0 })
    expect(scores.admit('mallory').waitMs).toBe(3010)
    const ignoring: boolean[] = []
    for (let i = 0; i < 2 * IGNORED_WAITS_PER_STRIKE; i++) {
      clock.now += 10
      ignoring.push(scores.admit('mallory').ignoring)
    }
    expect(ignoring.filter(Boolean)).toHaveLength(2)
    expect(ignoring[IGNORED_WAITS_PER_STRIKE - 1]).toBe(true)
    // Coming back once the wait is over is honouring it.
    clock.now += 3010
    expect(scores.admit('mallory')).toEqual({ waitMs: 0, ignoring: false })
  })

  test('strikes count per IP address too: fresh peer ids from one address add up to its ban', () => {
    const { scores } = scoresAt()
    const ids = Math.ceil(DEFAULT_NET_LIMITS.ipMaxStrikes / MAX_STRIKES)
    let banned = 0
    for (let id = 0; id < ids; id++)
      for (let i = 0; i < MAX_STRIKES; i++)
        if (scores.strike(`sybil-${id}`, 'x', '10.0.0.9')) banned++
    expect(scores.ipStrikes('10.0.0.9')).toBe(ids * MAX_STRIKES)
    expect(scores.isIpBanned('10.0.0.9')).toBe(true)
    expect(scores.isIpBanned('10.0.0.10')).toBe(false)
    expect(banned).toBe(ids)
    // A new identity from the banned address has no strikes of its own, but the address is banned.
    expect(scores.strikes('sybil-new')).toBe(0)
  })

  test('forgets gone peers that owe nothing, and keeps connected, recently struck and banned ones', () => {
    const { clock, scores } = scoresAt()
    scores.admit('quiet') // a standing with no strike
    scores.strike('connected', 'x')
    scores.strike('struck', 'x')
    for (let i = 0; i < MAX_STRIKES; i++) scores.strike('banned', 'x')
    expect(scores.size()).toBe(4)
    scores.forgetBlameless(['connected'])
    expect(scores.size()).toBe(3)
    expect(scores.strikes('struck')).toBe(1)
    // A ban's length later the strikes have faded and the ban is over: all gone but the connected.
    clock.now += BAN_MS
    scores.forgetBlameless(['connected'])
    expect(scores.size()).toBe(1)
    expect(scores.strikes('connected')).toBe(1)
    expect(scores.strikes('banned')).toBe(0)
    expect(scores.isBanned('banned')).toBe(false)
  })
})

describe('isForgettable', () => {
  const now = 1_000_000_000

  test('a strike is kept for exactly a ban’s length', () => {
    expect(isForgettable({ bannedUntil: 0, struck: now - BAN_MS + 1 }, now)).toBe(false)
    expect(isForgettable({ bannedUntil: 0, struck: now - BAN_MS }, now)).toBe(true)
  })

  test('a ban in force is kept, whenever the last strike was', () => {
    expect(isForgettable({ bannedUntil: now + 1, struck: now - 2 * BAN_MS }, now)).toBe(false)
    expect(isForgettable({ bannedUntil: now, struck: now - 2 * BAN_MS }, now)).toBe(true)
  })
})
