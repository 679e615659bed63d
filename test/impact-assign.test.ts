import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  type AuditorCandidate,
  auditorRanking,
  DEFAULT_AREA_RADIUS_METRES,
  describeExclusions,
  distanceMetres,
  drawAuditors,
  drawReplacements,
  EARTH_RADIUS_METRES,
  eligibleAuditors,
  formatDraw,
  InvalidAssignmentInputError,
  InvalidLocationError,
  impactDrawSeed,
  isInArea,
  MAX_AUDITORS,
  parseArea,
  parseCoordinates,
  replacementSeed,
} from '../src/core/impact/assign.ts'

const BARCELONA = { lat: 41.3874, lon: 2.1686 }
const MADRID = { lat: 40.4168, lon: -3.7038 }
const bytes = (text: string) => new TextEncoder().encode(text)
const seedOf = (i: number) => impactDrawSeed(bytes(`request-${i}`), bytes('block-hash'))

/** The textbook haversine with Math's trigonometry, to check the deterministic one against. */
function referenceMetres(a: { lat: number; lon: number }, b: { lat: number; lon: number }) {
  const r = Math.PI / 180
  const s1 = Math.sin(((b.lat - a.lat) * r) / 2)
  const s2 = Math.sin(((b.lon - a.lon) * r) / 2)
  const h = s1 * s1 + Math.cos(a.lat * r) * Math.cos(b.lat * r) * s2 * s2
  return EARTH_RADIUS_METRES * 2 * Math.asin(Math.sqrt(Math.min(1, h)))
}

const pointArb = fc.record({
  lat: fc.double({ min: -90, max: 90, noNaN: true }),
  lon: fc.double({ min: -180, max: 180, noNaN: true }),
})

describe('distanceMetres', () => {
  test('measures Barcelona–Madrid as about 505 km (within 1 km)', () => {
    const d = distanceMetres(BARCELONA, MADRID)
    expect(Math.abs(d - 505_000)).toBeLessThanOrEqual(1_000)
    expect(distanceMetres(MADRID, BARCELONA)).toBe(d)
  })

  test('measures antipodes as half the circumference, π·R', () => {
    const half = Math.round(Math.PI * EARTH_RADIUS_METRES)
    expect(half).toBe(20_015_114)
    expect(distanceMetres({ lat: 0, lon: 0 }, { lat: 0, lon: 180 })).toBe(half)
    expect(distanceMetres({ lat: 90, lon: 0 }, { lat: -90, lon: 0 })).toBe(half)
    expect(distanceMetres({ lat: 45, lon: 10 }, { lat: -45, lon: -170 })).toBe(half)
  })

  test('measures a point to itself as 0 and one degree of a meridian as R·π/180', () => {
    expect(distanceMetres(BARCELONA, BARCELONA)).toBe(0)
    expect(distanceMetres({ lat: 10, lon: 20 }, { lat: 11, lon: 20 })).toBe(111_195)
  })

  test('rounds to the nearest metre: half a degree of a meridian, 55,597.54 m, is 55,598', () => {
    expect(distanceMetres({ lat: 0, lon: 0 }, { lat: 0.5, lon: 0 })).toBe(55_598)
  })

  test('gives the same whole metres on every run (a pinned value replicas must agree on)', () => {
    expect(distanceMetres(BARCELONA, MADRID)).toBe(505_096)
  })

  test('agrees with the textbook haversine (Math.sin, Math.asin) to within a rounding', () => {
    fc.assert(
      fc.property(pointArb, pointArb, (a, b) => {
        expect(Math.abs(distanceMetres(a, b) - referenceMetres(a, b))).toBeLessThanOrEqual(0.5001)
      }),
      { numRuns: 2_000 },
    )
  })

  test('returns whole metres, symmetric and within half the circumference for any two points', () => {
    fc.assert(
      fc.property(pointArb, pointArb, (a, b) => {
        const d = distanceMetres(a, b)
        expect(Number.isInteger(d)).toBe(true)
        expect(d).toBeGreaterThanOrEqual(0)
        expect(d).toBeLessThanOrEqual(20_015_114)
        expect(distanceMetres(b, a)).toBe(d)
      }),
    )
  })
})

describe('parseCoordinates', () => {
  test('reads "lat,lon", with spaces around the numbers', () => {
    expect(parseCoordinates('41.40338,2.17403')).toEqual({ lat: 41.40338, lon: 2.17403 })
    expect(parseCoordinates(' -33.9 , 151.2 ')).toEqual({ lat: -33.9, lon: 151.2 })
  })

  test.each([
    ['41.4', 'give two'],
    ['41.4,2.1,3', 'give two'],
    ['41.4;2.1', 'not a number of degrees'],
    ['1e1,2', 'not a number of degrees'],
    ['NaN,2', 'not a number of degrees'],
    ['91,2', 'latitude 91'],
    ['-45,180.5', 'longitude 180.5'],
    ['', 'not a number of degrees'],
  ])('refuses %j, saying %j', (text, words) => {
    expect(() => parseCoordinates(text)).toThrow(InvalidLocationError)
    expect(() => parseCoordinates(text)).toThrow(words)
  })

  test('refuses text over 128 bytes and values that are not text, naming the field', () => {
    expect(() => parseCoordinates(`1,${'1'.repeat(130)}`)).toThrow(/coordinates is 132 bytes/)
    expect(() => parseCoordinates(42, 'request coordinates')).toThrow(
      /^request coordinates 42 is not text/,
    )
  })
})

describe('parseArea', () => {
  test('gives a centre alone the default radius of 25 km', () => {
    expect(DEFAULT_AREA_RADIUS_METRES).toBe(25_000)
    expect(parseArea('41.40338,2.17403')).toEqual({
      centre: { lat: 41.40338, lon: 2.17403 },
      radius: 25_000,
    })
  })

  test('takes the radius from a border point: the distance to it', () => {
    const area = parseArea('41.3874,2.1686,40.4168,-3.7038')
    expect(area.border).toEqual(MADRID)
    expect(area.radius).toBe(distanceMetres(BARCELONA, MADRID))
    expect(isInArea(area, MADRID)).toBe(true)
    expect(isInArea(area, { lat: 48.8566, lon: 2.3522 })).toBe(false) // Paris, ≈ 830 km
  })

  test('refuses three numbers and a bad border point, naming it', () => {
    expect(() => parseArea('41,2,40')).toThrow(/area "41,2,40" has 3 numbers/)
    expect(() => parseArea('41,2,95,2')).toThrow(/area border point has latitude 95/)
  })

  test('covers a point at exactly the radius and not one metre beyond', () => {
    const centre = { lat: 0, lon: 0 }
    const edge = { lat: 0.1, lon: 0 }
    const radius = distanceMetres(centre, edge)
    expect(isInArea({ centre, radius }, edge)).toBe(true)
    expect(isInArea({ centre, radius: radius - 1 }, edge)).toBe(false)
  })
})

/** An auditor in Barcelona's default area, category 1, unless told otherwise. */
const auditor = (account: string, over: Partial<AuditorCandidate> = {}): AuditorCandidate => ({
  account,
  categories: [1],
  area: '41.3874,2.1686',
  ...over,
})

describe('eligibleAuditors', () => {
  const action = { category: 1 }
  const request = { coordinates: '41.40338,2.17403' }

  test('excludes each auditor for its reason and keeps the rest, sorted', () => {
    const auditors = [
      auditor('z-ok'),
      auditor('a-ok', { area: '41.3874,2.1686,40.4168,-3.7038' }),
      auditor('destroyed', { destroyed: true, suspended: true }),
      auditor('suspended', { suspended: true }),
      auditor('requester'),
      auditor('category', { categories: [2, 3] }),
      auditor('area', { area: '40.4168,-3.7038' }),
      auditor('assigned'),
      auditor('unassigned'),
    ]
    const result = eligibleAuditors({
      action,
      request: { ...request, assigned: ['assigned'], unassigned: ['unassigned'] },
      auditors,
      requester: 'requester',
    })
    expect(result.eligible).toEqual(['a-ok', 'z-ok'])
    expect(result.excluded).toEqual([
      { account: 'area', reason: 'area' },
      { account: 'assigned', reason: 'assigned' },
      { account: 'category', reason: 'category' },
      { account: 'destroyed', reason: 'destroyed' },
      { account: 'requester', reason: 'requester' },
      { account: 'suspended', reason: 'suspended' },
      { account: 'unassigned', reason: 'unassigned' },
    ])
  })

  test('matches every area when the request has no coordinates', () => {
    const auditors = [auditor('madrid', { area: '40.4168,-3.7038' }), auditor('barcelona')]
    const withPoint = eligibleAuditors({ action, request, auditors, requester: 'x' })
    expect(withPoint.eligible).toEqual(['barcelona'])
    const without = eligibleAuditors({ action, request: {}, auditors, requester: 'x' })
    expect(without.eligible).toEqual(['barcelona', 'madrid'])
  })

  test('excludes an auditor whose area text does not parse, for reason "area"', () => {
    const auditors = [auditor('broken', { area: 'somewhere' }), auditor('fine')]
    const result = eligibleAuditors({ action, request, auditors, requester: 'x' })
    expect(result.eligible).toEqual(['fine'])
    expect(result.excluded).toEqual([{ account: 'broken', reason: 'area' }])
  })

  test('refuses bad coordinates, duplicate accounts and too many auditors', () => {
    const auditors = [auditor('a')]
    expect(() =>
      eligibleAuditors({ action, request: { coordinates: '200,0' }, auditors, requester: 'x' }),
    ).toThrow(InvalidLocationError)
    expect(() =>
      eligibleAuditors({ action, request, auditors: [auditor('a'), auditor('a')], requester: 'x' }),
    ).toThrow(/lists account "a" twice/)
    const many = Array.from({ length: MAX_AUDITORS + 1 }, (_, i) => auditor(`a${i}`))
    expect(() => eligibleAuditors({ action, request, auditors: many, requester: 'x' })).toThrow(
      InvalidAssignmentInputError,
    )
  })

  test('counts the excluded by reason for "no eligible auditor" messages', () => {
    const { eligible, excluded } = eligibleAuditors({
      action,
      request,
      auditors: [auditor('a', { categories: [2] }), auditor('b', { categories: [3] })],
      requester: 'c',
    })
    expect(eligible).toEqual([])
    expect(describeExclusions(excluded)).toBe('2 auditors excluded: 2 in other categories')
    expect(describeExclusions([])).toBe('no auditor is registered')
  })
})

const accountsArb = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), {
  minLength: 0,
  maxLength: 30,
})
const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 })

describe('drawAuditors', () => {
  test('draws min(n, eligible) distinct eligible auditors, the same for the same seed whatever the input order', () => {
    fc.assert(
      fc.property(seedArb, accountsArb, fc.integer({ min: 1, max: 40 }), (seed, eligible, n) => {
        const result = drawAuditors({ seed, eligible, n })
        expect(result.chosen).toHaveLength(Math.min(n, eligible.length))
        expect(new Set(result.chosen).size).toBe(result.chosen.length)
        for (const a of result.chosen) expect(eligible).toContain(a)
        expect(result.shortfall).toBe(n - result.chosen.length)
        expect(result.eligible).toBe(eligible.length)
        const reversed = drawAuditors({ seed, eligible: [...eligible].reverse(), n })
        expect(reversed).toEqual(result)
      }),
    )
  })

  test('is fixed by its seed: a known seed draws a known set, another seed another', () => {
    const eligible = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
    const first = drawAuditors({ seed: seedOf(1), eligible, n: 3 }).chosen
    // A pinned vector: a verifier in another language must reproduce it from the seed bytes.
    expect(Buffer.from(seedOf(1)).toString('hex')).toBe(
      '2db5ed31aa6b1098aa5da85185657c684de987c1c8ad1e99f312d9eeb418692e',
    )
    expect(first).toEqual(['g', 'e', 'h'])
    expect(drawAuditors({ seed: seedOf(1), eligible, n: 3 }).chosen).toEqual(first)
    const others = Array.from({ length: 8 }, (_, i) =>
      drawAuditors({ seed: seedOf(i + 2), eligible, n: 3 }).chosen.join(),
    )
    expect(others.some((o) => o !== first.join())).toBe(true)
  })

  test('picks each of five auditors about equally often over 5,000 seeds', () => {
    const eligible = ['a', 'b', 'c', 'd', 'e']
    const counts = new Map<string, number>()
    for (let i = 0; i < 5_000; i++) {
      const [one] = drawAuditors({ seed: seedOf(i), eligible, n: 1 }).chosen
      counts.set(one!, (counts.get(one!) ?? 0) + 1)
    }
    // Expected 1,000 each; the standard deviation is about 28, so ±150 is over 5σ.
    expect([...counts.keys()].sort()).toEqual(eligible)
    for (const count of counts.values()) expect(Math.abs(count - 1_000)).toBeLessThan(150)
  })

  test('picks each pair of four auditors about equally often over 6,000 seeds', () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 6_000; i++) {
      const pair = drawAuditors({ seed: seedOf(i), eligible: ['a', 'b', 'c', 'd'], n: 2 })
      const key = [...pair.chosen].sort().join()
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    expect(counts.size).toBe(6)
    for (const count of counts.values()) expect(Math.abs(count - 1_000)).toBeLessThan(150)
  })

  test('reports a shortfall when fewer are eligible, and an empty draw', () => {
    const short = drawAuditors({ seed: seedOf(0), eligible: ['b', 'a'], n: 3 })
    expect([...short.chosen].sort()).toEqual(['a', 'b'])
    expect(short.shortfall).toBe(1)
    expect(formatDraw(short)).toBe('2 of 3 auditors assigned: only 2 eligible.')
    const none = drawAuditors({ seed: seedOf(0), eligible: [], n: 2 })
    expect(none).toEqual({ chosen: [], wanted: 2, eligible: 0, shortfall: 2 })
    expect(formatDraw(none, [{ account: 'x', reason: 'suspended' }])).toBe(
      'No auditor assigned of 2 wanted: none eligible (1 auditor excluded: 1 suspended).',
    )
    expect(formatDraw(drawAuditors({ seed: seedOf(0), eligible: ['a'], n: 1 }))).toBe(
      '1 of 1 auditor assigned.',
    )
  })

  test.each([
    [0, 'a draw of 0'],
    [1.5, 'a draw of 1.5'],
    [1_001, 'a draw of 1001'],
  ])('refuses n = %j', (n, words) => {
    expect(() => drawAuditors({ seed: seedOf(0), eligible: ['a'], n })).toThrow(
      new RegExp(words, 'i'),
    )
  })

  test('refuses a seed that is not 32 bytes and duplicate eligible accounts', () => {
    expect(() => drawAuditors({ seed: new Uint8Array(31), eligible: ['a'], n: 1 })).toThrow(
      /seed is 32 bytes/,
    )
    expect(() => drawAuditors({ seed: seedOf(0), eligible: ['a', 'a'], n: 1 })).toThrow(/twice/)
  })
})

describe('impactDrawSeed', () => {
  test('depends on the request and the entropy, and keeps the parts apart', () => {
    const s = impactDrawSeed(bytes('ab'), bytes('c'))
    expect(s).toHaveLength(32)
    expect(impactDrawSeed(bytes('ab'), bytes('c'))).toEqual(s)
    expect(impactDrawSeed(bytes('a'), bytes('bc'))).not.toEqual(s)
    expect(impactDrawSeed(bytes('ab'), bytes('d'))).not.toEqual(s)
    expect(() => impactDrawSeed(new Uint8Array(1025), bytes('x'))).toThrow(
      InvalidAssignmentInputError,
    )
  })

  test('gives each replacement attempt its own seed, and refuses attempt 0', () => {
    const seed = seedOf(0)
    expect(replacementSeed(seed, 1)).not.toEqual(replacementSeed(seed, 2))
    expect(replacementSeed(seed, 1)).not.toEqual(seed)
    expect(() => replacementSeed(seed, 0)).toThrow(/attempt 0/)
  })
})

describe('drawReplacements', () => {
  test('never draws anyone assigned or unassigned for the request', () => {
    fc.assert(
      fc.property(
        seedArb,
        accountsArb,
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 0, max: 40 }),
        (seed, accounts, attempt, cut) => {
          const taken = accounts.slice(0, cut)
          const result = drawReplacements({ seed, attempt, eligible: accounts, taken })
          const free = accounts.length - taken.length
          expect(result.chosen).toHaveLength(Math.min(1, free))
          for (const a of result.chosen) expect(taken).not.toContain(a)
          expect(result.shortfall).toBe(free > 0 ? 0 : 1)
        },
      ),
    )
  })

  test('replaces missed auditors one by one until nobody is left', () => {
    const everyone = ['a', 'b', 'c', 'd', 'e']
    const first = drawAuditors({ seed: seedOf(7), eligible: everyone, n: 2 })
    const taken = [...first.chosen]
    for (let attempt = 1; attempt <= 3; attempt++) {
      const next = drawReplacements({ seed: seedOf(7), attempt, eligible: everyone, taken })
      expect(next.chosen).toHaveLength(1)
      expect(taken).not.toContain(next.chosen[0])
      taken.push(next.chosen[0]!)
    }
    expect([...taken].sort()).toEqual(everyone)
    const last = drawReplacements({ seed: seedOf(7), attempt: 4, eligible: everyone, taken })
    expect(last.chosen).toEqual([])
    expect(last.shortfall).toBe(1)
  })
})

describe('auditorRanking', () => {
  test('is matched − 3·errors − 2·missed, starting at 0', () => {
    expect(auditorRanking({ matched: 0, errors: 0, missed: 0 })).toBe(0)
    expect(auditorRanking({ matched: 10, errors: 1, missed: 2 })).toBe(3)
  })

  test('goes down by a missed deadline and an error, up by a matched vote, whatever the history', () => {
    const count = fc.integer({ min: 0, max: 2 ** 39 })
    fc.assert(
      fc.property(count, count, count, (matched, errors, missed) => {
        const r = auditorRanking({ matched, errors, missed })
        expect(auditorRanking({ matched, errors, missed: missed + 1 })).toBeLessThan(r)
        expect(auditorRanking({ matched, errors: errors + 1, missed })).toBeLessThan(r)
        expect(auditorRanking({ matched: matched + 1, errors, missed })).toBeGreaterThan(r)
      }),
    )
  })

  test('refuses a count that is negative, fractional or too large, naming it', () => {
    expect(() => auditorRanking({ matched: -1, errors: 0, missed: 0 })).toThrow(/matched count/)
    expect(() => auditorRanking({ matched: 0, errors: 0.5, missed: 0 })).toThrow(/errors count/)
    expect(() => auditorRanking({ matched: 0, errors: 0, missed: 2 ** 41 })).toThrow(/missed count/)
  })
})
