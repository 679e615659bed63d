import { pino } from 'pino'
import { describe, expect, test } from 'vitest'
import {
  BAN_MS,
  createPeerScores,
  isForgettable,
  MAX_STRIKES,
  SYNC_RATE,
} from '../src/net/peer-scores.ts'

/** Peer scores on a clock the test moves, with the warnings they log. */
function scoresAt(start = 1_000_000_000) {
  const clock = { now: start }
  const logged: { msg: string; peer: string; strikes?: number; why?: string }[] = []
  const logger = pino({ level: 'warn' }, { write: (line: string) => logged.push(JSON.parse(line)) })
  const scores = createPeerScores({ logger, now: () => clock.now })
  return { clock, logged, scores }
}

/** How many requests in a row the bucket allows before it refuses one (at most `max`). */
function drain(allow: () => boolean, max = 1000): number {
  let n = 0
  while (n < max && allow()) n++
  return n
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

  test('the sync-request bucket holds a burst of twice SYNC_RATE and refills at SYNC_RATE per second', () => {
    const { clock, scores } = scoresAt()
    const allow = () => scores.allowRequest('bob')
    expect(drain(allow)).toBe(SYNC_RATE * 2)
    // 100 ms later: a tenth of a second's worth of tokens.
    clock.now += 100
    expect(drain(allow)).toBe(SYNC_RATE / 10)
    // However long the wait, the bucket holds no more than the burst.
    clock.now += 60_000
    expect(drain(allow)).toBe(SYNC_RATE * 2)
    // Each peer has its own bucket.
    expect(scores.allowRequest('carol')).toBe(true)
  })

  test('forgets gone peers that owe nothing, and keeps connected, recently struck and banned ones', () => {
    const { clock, scores } = scoresAt()
    scores.allowRequest('quiet') // a standing with no strike
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
