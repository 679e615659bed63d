import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { DEFAULT_AREA_RADIUS_METRES, distanceMetres } from '../src/core/impact/assign.ts'
import {
  type ApprovalRequestInput,
  canonicalJson,
  checkCategories,
  checkRequestFields,
  encodeApprovalRequest,
  encodeAuditorConfig,
  encodeImpactActionConfig,
  encodeOracleConfig,
  encodeVote,
  type ImpactActionConfig,
  InvalidImpactInputError,
  MAX_IMPACT_AMOUNT,
  parseApprovalRequest,
  parseAuditorConfig,
  parseCategory,
  parseImpactActionConfig,
  parseOracleConfig,
  parseProxy,
  parseVote,
  plainDecimal,
  readJson,
} from '../src/core/impact/formats.ts'

// The JSON examples of ../shared/specs/impact-actions.md, copied verbatim.
const SPEC_ACTION = `{"description":"Planting a tree","category":1,"auditors":1,"blockstart":1,"blockend":1000000,"rewardstoken":0,"rewardsamount":1000,"rewardsoracle":0,"rewardsauditors":50,"slashingsauditors":0,"maxerrorsauditor":10,"fields":[{"fieldname":"namesurname","fieldtype":"S","mandatory":"Y"},{"fieldname":"phonenumber","fieldtype":"S","mandatory":"Y"}]}`
const SPEC_ORACLE = `{"description":"Plastic Recycling Verification","account":"<address>","otherinfo":"<ipfs cid>"}`
const SPEC_AUDITOR = `{"description":"John Smith","categories":[1,2],"area":"41.40338,2.17403","otherinfo":"<ipfs cid>","stakesmin":0}`
const SPEC_REQUEST = `{"impactactionid":2,"description":"Planted a new tree","namesurname":"Jhone Smith","phonenumber":"+13489383845"}`
const SPEC_VOTE = `{"vote":"Y","otherinfo":"<ipfs cid>"}`

const KEY = 'ab'.repeat(32)
const CID_V0 = 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'
const CID_V1 = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'

/** The message of what `run` throws, failing the test unless it is an InvalidImpactInputError. */
function refusal(run: () => unknown): string {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidImpactInputError)
    return (error as InvalidImpactInputError).shortMessage
  }
  throw new Error('expected a refusal, but the input was accepted')
}

/** The spec's action with some keys replaced (`undefined` removes one). */
function action(changes: Record<string, unknown>): string {
  const object: Record<string, unknown> = { ...JSON.parse(SPEC_ACTION), ...changes }
  for (const [key, value] of Object.entries(changes)) if (value === undefined) delete object[key]
  return JSON.stringify(object)
}

describe('parseImpactActionConfig', () => {
  test('accepts the spec example verbatim', () => {
    expect(parseImpactActionConfig(SPEC_ACTION)).toEqual({
      description: 'Planting a tree',
      category: 1,
      auditors: 1,
      blockstart: 1,
      blockend: 1_000_000,
      rewardstoken: 0,
      rewardsamount: 1000n,
      rewardsoracle: 0n,
      rewardsauditors: 50n,
      slashingsauditors: 0n,
      maxerrorsauditor: 10,
      fields: [
        { fieldname: 'namesurname', fieldtype: 'S', mandatory: true },
        { fieldname: 'phonenumber', fieldtype: 'S', mandatory: true },
      ],
    })
  })

  test('accepts spaces, newlines and reordered keys, reading the same value', () => {
    const spaced = `{
      "fields" : [ { "mandatory" : "Y", "fieldtype" : "S", "fieldname" : "namesurname" },
                   {"fieldname": "phonenumber","mandatory":"Y" ,"fieldtype":"S"} ],
      "maxerrorsauditor" : 10, "slashingsauditors" : 0 , "rewardsauditors": 50,
      "rewardsoracle": 0, "rewardsamount" : 1000, "rewardstoken" : 0,
      "blockend" : 1000000, "blockstart" : 1, "auditors" : 1, "category" : 1,
      "description" : "Planting a tree"
    }`
    expect(parseImpactActionConfig(spaced)).toEqual(parseImpactActionConfig(SPEC_ACTION))
  })

  test('reads "rewardoracle" and "slashingauditors" as the s spellings', () => {
    const text = SPEC_ACTION.replace('"rewardsoracle":0', '"rewardoracle":7').replace(
      '"slashingsauditors":0',
      '"slashingauditors":3',
    )
    const config = parseImpactActionConfig(text)
    expect(config.rewardsoracle).toBe(7n)
    expect(config.slashingsauditors).toBe(3n)
    expect(Object.keys(config)).not.toContain('rewardoracle')
    expect(Object.keys(config)).not.toContain('slashingauditors')
  })

  test('refuses both spellings of one field together', () => {
    expect(refusal(() => parseImpactActionConfig(action({ rewardoracle: 1 })))).toMatch(
      /"rewardoracle" and "rewardsoracle" are one field/,
    )
    expect(refusal(() => parseImpactActionConfig(action({ slashingauditors: 1 })))).toMatch(
      /"slashingauditors" and "slashingsauditors"/,
    )
  })

  test('refuses a rewardsamount of 0, naming the field and the rule', () => {
    expect(refusal(() => parseImpactActionConfig(action({ rewardsamount: 0 })))).toBe(
      '"rewardsamount" must be an integer > 0 (base units, at most 2^256 − 1; a JSON integer or a decimal string); got 0.',
    )
  })

  test('refuses blockend < blockstart', () => {
    const message = refusal(() =>
      parseImpactActionConfig(action({ blockstart: 500, blockend: 499 })),
    )
    expect(message).toBe('"blockend" must be ≥ "blockstart" (500); got 499.')
    expect(parseImpactActionConfig(action({ blockstart: 500, blockend: 500 })).blockend).toBe(500)
  })

  test('reads amounts as JSON integers or decimal strings, exactly, up to 2^256 − 1', () => {
    const max = MAX_IMPACT_AMOUNT.toString()
    const big = SPEC_ACTION.replace('"rewardsamount":1000', `"rewardsamount":${max}`)
    expect(parseImpactActionConfig(big).rewardsamount).toBe(MAX_IMPACT_AMOUNT)
    expect(parseImpactActionConfig(action({ rewardsauditors: '12345678901234567890' }))).toEqual(
      expect.objectContaining({ rewardsauditors: 12345678901234567890n }),
    )
    const over = SPEC_ACTION.replace('"rewardsamount":1000', `"rewardsamount":${max.slice(0, -1)}6`)
    expect(refusal(() => parseImpactActionConfig(over))).toMatch(/^"rewardsamount" must be/)
  })

  test.each([
    ['rewardsamount', 1.5, /^"rewardsamount" must be an integer > 0 .*got 1\.5\.$/],
    ['rewardsoracle', -1, /^"rewardsoracle" must be an integer ≥ 0 .*got -1\.$/],
    ['rewardsauditors', '-5', /^"rewardsauditors" must be an integer ≥ 0/],
    ['slashingsauditors', '1.5', /^"slashingsauditors" must be an integer ≥ 0/],
    ['rewardsauditors', true, /^"rewardsauditors" must be an integer ≥ 0 .*got true\.$/],
    ['auditors', 0, /^"auditors" must be a whole number from 1 to 100 .*got 0\.$/],
    ['auditors', 101, /^"auditors" must be a whole number from 1 to 100/],
    ['maxerrorsauditor', 0, /^"maxerrorsauditor" must be a whole number from 1/],
    ['category', '1', /^"category" must be an id.*got "1"\.$/],
    ['category', 0, /^"category" must be an id/],
    ['blockstart', -1, /^"blockstart" must be a block number/],
    ['rewardstoken', 1.25, /^"rewardstoken" must be 0 \(native coin\) or a token id/],
    ['description', 'abc', /^"description" must be text of 4 to 1024 bytes.*got "abc"\.$/],
    ['description', 42, /^"description" must be text/],
    ['fields', 'none', /^"fields" must be a list of at most 64 custom fields; got "none"\.$/],
  ])('refuses %s = %j naming the field', (key, value, pattern) => {
    expect(refusal(() => parseImpactActionConfig(action({ [key]: value })))).toMatch(pattern)
  })

  test('refuses an amount written with an exponent or a fraction, even a whole one', () => {
    for (const amount of ['1e3', '1000.0', '-1000']) {
      const text = SPEC_ACTION.replace('"rewardsamount":1000', `"rewardsamount":${amount}`)
      expect(refusal(() => parseImpactActionConfig(text))).toMatch(
        /^"rewardsamount" must be an integer > 0 \(base units/,
      )
    }
  })

  test('refuses a missing required field, saying it is missing', () => {
    expect(refusal(() => parseImpactActionConfig(action({ maxerrorsauditor: undefined })))).toBe(
      '"maxerrorsauditor" is missing; it must be a whole number from 1 to 4294967295.',
    )
  })

  test('takes "fields" as optional, an empty list', () => {
    expect(parseImpactActionConfig(action({ fields: undefined })).fields).toEqual([])
  })

  test('refuses an unknown key, listing the fields', () => {
    expect(refusal(() => parseImpactActionConfig(action({ rewardamount: 5 })))).toMatch(
      /^"rewardamount" is not a field of the impact action configuration; its fields are description, category,/,
    )
  })

  test.each([
    [
      { fieldname: 'age', fieldtype: 'X', mandatory: 'Y' },
      /^"fields\[0\]\.fieldtype" must be "S" \(text\) or "N" \(a number\); got "X"\.$/,
    ],
    [
      { fieldname: 'age', fieldtype: 'N', mandatory: 'yes' },
      /^"fields\[0\]\.mandatory" must be "Y" \(mandatory\) or "N"/,
    ],
    [
      { fieldname: '', fieldtype: 'N', mandatory: 'Y' },
      /^"fields\[0\]\.fieldname" must be a field name/,
    ],
    [
      { fieldname: 'description', fieldtype: 'S', mandatory: 'Y' },
      /^"fields\[0\]\.fieldname" must be a field name.*not one of/,
    ],
    [{ fieldname: 'age', fieldtype: 'N' }, /^"fields\[0\]\.mandatory" is missing/],
    [
      { fieldname: 'age', fieldtype: 'N', mandatory: 'N', size: 3 },
      /^"size" is not a field of "fields\[0\]"; its fields are fieldname, fieldtype, mandatory\.$/,
    ],
  ])('refuses the custom field %j', (field, pattern) => {
    expect(refusal(() => parseImpactActionConfig(action({ fields: [field] })))).toMatch(pattern)
  })

  test('refuses two custom fields of one name', () => {
    const field = { fieldname: 'age', fieldtype: 'N', mandatory: 'Y' }
    expect(refusal(() => parseImpactActionConfig(action({ fields: [field, field] })))).toBe(
      '"fields[1].fieldname" must be unique among the fields; got "age".',
    )
  })

  test('refuses more than 64 custom fields', () => {
    const fields = Array.from({ length: 65 }, (_, i) => ({
      fieldname: `f${i}`,
      fieldtype: 'S',
      mandatory: 'N',
    }))
    expect(refusal(() => parseImpactActionConfig(action({ fields })))).toMatch(
      /^"fields" must be a list of at most 64/,
    )
  })

  test('refuses text under 13 or over 8191 bytes', () => {
    expect(refusal(() => parseImpactActionConfig('{"a":1}'))).toBe(
      'The impact action configuration must be 13 to 8191 bytes of JSON; got 7 bytes.',
    )
    const long = action({ description: 'é'.repeat(4000) })
    expect(refusal(() => parseImpactActionConfig(long))).toMatch(
      /must be 13 to 8191 bytes of JSON; got 8330 bytes/,
    )
  })

  test('refuses text that is not one JSON object, saying where', () => {
    expect(refusal(() => parseImpactActionConfig(`${SPEC_ACTION}x`))).toMatch(
      /is not valid JSON: text after the value at character 346/,
    )
    expect(refusal(() => parseImpactActionConfig(SPEC_ACTION.replace(':1,', ':1 ,,')))).toMatch(
      /is not valid JSON: expected a key/,
    )
    expect(refusal(() => parseImpactActionConfig('[1,2,3,4,5,6,7,8,9,10,11]'))).toMatch(
      /must be one JSON object \{…\}; got a list of 11/,
    )
    expect(refusal(() => parseImpactActionConfig(42 as unknown as string))).toMatch(
      /must be JSON text; got 42/,
    )
  })

  test('refuses a key given twice (JSON.parse would silently keep the last)', () => {
    const twice = SPEC_ACTION.replace('"auditors":1,', '"auditors":1,"auditors":0,')
    expect(refusal(() => parseImpactActionConfig(twice))).toMatch(/key "auditors" appears twice/)
  })
})

describe('canonical encoding', () => {
  test('sorts keys, drops spaces and writes amounts as decimal strings', () => {
    const text = encodeImpactActionConfig(parseImpactActionConfig(SPEC_ACTION))
    expect(text).toBe(
      '{"auditors":1,"blockend":1000000,"blockstart":1,"category":1,"description":"Planting a tree","fields":[{"fieldname":"namesurname","fieldtype":"S","mandatory":"Y"},{"fieldname":"phonenumber","fieldtype":"S","mandatory":"Y"}],"maxerrorsauditor":10,"rewardsamount":"1000","rewardsauditors":"50","rewardsoracle":"0","rewardstoken":0,"slashingsauditors":"0"}',
    )
    expect(canonicalJson({ b: 1n, a: ['x', null, true], c: undefined })).toBe(
      '{"a":["x",null,true],"b":1}',
    )
  })

  const fieldArb = fc.record({
    fieldname: fc.stringMatching(/^[a-z][a-z0-9_]{0,20}$/),
    fieldtype: fc.constantFrom('S' as const, 'N' as const),
    mandatory: fc.boolean(),
  })
  const amountArb = (min: bigint) => fc.bigInt({ min, max: MAX_IMPACT_AMOUNT })
  const configArb: fc.Arbitrary<ImpactActionConfig> = fc
    .record({
      description: fc.stringMatching(/^[A-Za-z][A-Za-z ]{2,40}[a-z]$/),
      category: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
      auditors: fc.integer({ min: 1, max: 100 }),
      blockstart: fc.integer({ min: 0, max: 2 ** 40 }),
      length: fc.integer({ min: 0, max: 2 ** 40 }),
      rewardstoken: fc.integer({ min: 0, max: 1000 }),
      rewardsamount: amountArb(1n),
      rewardsoracle: amountArb(0n),
      rewardsauditors: amountArb(0n),
      slashingsauditors: amountArb(0n),
      maxerrorsauditor: fc.integer({ min: 1, max: 1000 }),
      fields: fc.uniqueArray(fieldArb, { maxLength: 5, selector: (f) => f.fieldname }),
    })
    .map(({ length, ...config }) => ({ ...config, blockend: config.blockstart + length }))

  /** JSON text of `object` with its keys shuffled by `order` and random whitespace. */
  function scramble(object: Record<string, unknown>, order: number[], space: string): string {
    const keys = Object.keys(object).sort(
      (a, b) => (order[a.length % order.length] ?? 0) - (order[b.length % order.length] ?? 0),
    )
    const members = keys.map((k) => `${space}"${k}"${space}:${space}${JSON.stringify(object[k])}`)
    return `${space}{${members.join(`,${space}`)}${space}}${space}`
  }

  test('parse(encode(config)) is config, whatever the key order and whitespace (property)', () => {
    fc.assert(
      fc.property(
        configArb,
        fc.array(fc.integer(), { minLength: 1, maxLength: 8 }),
        fc.constantFrom('', ' ', '\n', '\t ', ' \r\n '),
        (config, order, space) => {
          const text = encodeImpactActionConfig(config)
          expect(parseImpactActionConfig(text)).toEqual(config)
          const scrambled = scramble(JSON.parse(text), order, space)
          expect(parseImpactActionConfig(scrambled)).toEqual(config)
          expect(encodeImpactActionConfig(parseImpactActionConfig(scrambled))).toBe(text)
        },
      ),
    )
  })

  test('every other record reads its own encoding back', () => {
    const oracle = parseOracleConfig(SPEC_ORACLE.replace('<address>', KEY))
    expect(parseOracleConfig(encodeOracleConfig(oracle))).toEqual(oracle)
    const auditor = parseAuditorConfig(SPEC_AUDITOR.replace('2.17403"', '2.17403,41.5,2.2"'))
    expect(parseAuditorConfig(encodeAuditorConfig(auditor))).toEqual(auditor)
    const request = parseApprovalRequest(
      `{"impactactionid":2,"description":"Planted","coordinates":"1.5,-2","evidence":["${CID_V0}"],"age":31}`,
    )
    expect(parseApprovalRequest(encodeApprovalRequest(request))).toEqual(request)
    const vote = parseVote(SPEC_VOTE)
    expect(parseVote(encodeVote(vote))).toEqual(vote)
  })
})

describe('parseCategory', () => {
  test('accepts an id and a description of 5 to 127 bytes', () => {
    expect(parseCategory(1, 'Trees')).toEqual({ uid: 1, description: 'Trees' })
    expect(parseCategory('7', `  ${'x'.repeat(127)} `)).toEqual({
      uid: 7,
      description: 'x'.repeat(127),
    })
  })

  test('counts the description in bytes, not characters', () => {
    expect(refusal(() => parseCategory(1, 'é'.repeat(64)))).toMatch(
      /^"description" must be text of 5 to 127 bytes/,
    )
    expect(refusal(() => parseCategory(1, 'Tree'))).toBe(
      '"description" must be text of 5 to 127 bytes, without control characters; got "Tree".',
    )
  })

  test('refuses an id that is not a whole number from 1 to 2^32 − 1', () => {
    expect(refusal(() => parseCategory(0, 'Trees'))).toMatch(/^"uid" must be an id/)
    expect(refusal(() => parseCategory(2 ** 32, 'Trees'))).toMatch(/^"uid" must be an id/)
    expect(refusal(() => parseCategory(1.5, 'Trees'))).toMatch(/^"uid" must be an id.*got 1\.5\.$/)
  })

  test('refuses control characters in a description', () => {
    expect(refusal(() => parseCategory(1, 'Tre\u0007es'))).toMatch(/without control characters/)
  })
})

describe('checkCategories', () => {
  test('refuses a category that does not exist, naming the field and the id', () => {
    expect(refusal(() => checkCategories([1, 9], new Set([1, 2]), 'categories'))).toBe(
      '"categories" names category 9, which does not exist; create it first or use one of: 1, 2.',
    )
    expect(refusal(() => checkCategories([3], new Set(), 'category'))).toMatch(
      /^"category" names category 3.*\(no categories yet\)/,
    )
  })

  test('passes categories that all exist', () => {
    expect(checkCategories([2, 1], new Set([1, 2, 3]))).toBeUndefined()
  })
})

describe('parseOracleConfig', () => {
  test('accepts the spec example with a key in place of "<address>"', () => {
    // The spec's "<address>" is a placeholder: an oracle's account is the key it signs with.
    expect(parseOracleConfig(SPEC_ORACLE.replace('<address>', KEY.toUpperCase()))).toEqual({
      description: 'Plastic Recycling Verification',
      account: KEY,
      otherinfo: '<ipfs cid>',
    })
  })

  test('refuses an account that is not a key, and a missing description', () => {
    expect(refusal(() => parseOracleConfig(SPEC_ORACLE))).toBe(
      '"account" must be an Ed25519 public key: 64 hex digits; got "<address>".',
    )
    expect(refusal(() => parseOracleConfig(`{"account":"${KEY}"}`))).toMatch(
      /^"description" is missing/,
    )
  })
})

describe('parseAuditorConfig', () => {
  test('accepts the spec example verbatim', () => {
    expect(parseAuditorConfig(SPEC_AUDITOR)).toEqual({
      description: 'John Smith',
      categories: [1, 2],
      area: { centre: { lat: 41.40338, lon: 2.17403 }, radius: DEFAULT_AREA_RADIUS_METRES },
      otherinfo: '<ipfs cid>',
      stakesmin: 0n,
    })
  })

  test('reads an area with a border point, spaces allowed, and stakesmin as 0 when absent', () => {
    const config = parseAuditorConfig(
      '{ "area" : "-33.8688, 151.2093, -33.9, 151.3", "categories" : [3], "description" : "Sydney team" }',
    )
    // The radius is the distance from the centre to the border point, in whole metres.
    expect(config.area).toEqual({
      centre: { lat: -33.8688, lon: 151.2093 },
      border: { lat: -33.9, lon: 151.3 },
      radius: distanceMetres({ lat: -33.8688, lon: 151.2093 }, { lat: -33.9, lon: 151.3 }),
    })
    expect(config.area.radius).toBeGreaterThan(9000)
    expect(config.stakesmin).toBe(0n)
    expect('otherinfo' in config).toBe(false)
  })

  test.each([
    ['area', '91,2', /^"area" must be "lat,lon" \(a centre\) or "lat,lon,lat,lon".*got "91,2"\.$/],
    ['area', '41,181', /^"area" must be/],
    ['area', '1,2', /^"area" must be.*4 to 128 bytes/],
    ['area', '41.4,2.1,40', /^"area" must be/],
    ['area', 'Barcelona', /^"area" must be/],
    ['area', `1.${'1'.repeat(130)},2`, /^"area" must be/],
    [
      'categories',
      [],
      /^"categories" must be a list of 1 to 64 distinct category ids; got a list of 0\.$/,
    ],
    ['categories', [1, 1], /^"categories" must be a list of 1 to 64 distinct/],
    ['categories', [1, 0], /^"categories\[1\]" must be an id/],
    ['categories', ['1'], /^"categories\[0\]" must be an id/],
    ['stakesmin', 1.5, /^"stakesmin" must be an integer ≥ 0/],
    ['stakesmin', -3, /^"stakesmin" must be an integer ≥ 0/],
    ['otherinfo', '', /^"otherinfo" must be text of 1 to 1024 bytes/],
  ])('refuses %s = %j naming the field', (key, value, pattern) => {
    const text = JSON.stringify({ ...JSON.parse(SPEC_AUDITOR), [key]: value })
    expect(refusal(() => parseAuditorConfig(text))).toMatch(pattern)
  })

  test('accepts a stake as a decimal string beyond 2^53', () => {
    const text = SPEC_AUDITOR.replace('"stakesmin":0', '"stakesmin":"90071992547409930"')
    expect(parseAuditorConfig(text).stakesmin).toBe(90071992547409930n)
  })
})

describe('parseProxy', () => {
  test('accepts an id and a key, the key in lower case', () => {
    expect(parseProxy(3, KEY.toUpperCase())).toEqual({ uid: 3, account: KEY })
  })

  test('refuses a bad account, naming it', () => {
    expect(refusal(() => parseProxy(3, '0x1234'))).toMatch(
      /^"account" must be an Ed25519 public key/,
    )
  })
})

describe('parseApprovalRequest and checkRequestFields', () => {
  const actionFields = parseImpactActionConfig(SPEC_ACTION).fields

  test('accepts the spec example verbatim, with the action of the spec', () => {
    const request = parseApprovalRequest(SPEC_REQUEST)
    expect(request).toEqual({
      impactactionid: 2,
      description: 'Planted a new tree',
      evidence: [],
      fields: { namesurname: 'Jhone Smith', phonenumber: '+13489383845' },
    })
    expect(checkRequestFields(request, actionFields)).toEqual({
      custom: { namesurname: 'Jhone Smith', phonenumber: '+13489383845' },
      free: {},
    })
  })

  test('accepts spaces and reordered keys', () => {
    const spaced = `
      { "phonenumber" : "+13489383845" , "namesurname":"Jhone Smith",
        "description" : "Planted a new tree", "impactactionid" : 2 }`
    expect(parseApprovalRequest(spaced)).toEqual(parseApprovalRequest(SPEC_REQUEST))
  })

  test('reads coordinates, evidence CIDs and free fields', () => {
    const request = parseApprovalRequest(
      `{"impactactionid":2,"description":"Planted a new tree","coordinates":"41.40338, 2.17403","evidence":["${CID_V0}","${CID_V1}"],"namesurname":"J S","phonenumber":"1","trees":12,"species":"oak"}`,
    )
    expect(request.coordinates).toEqual({ lat: 41.40338, lon: 2.17403 })
    expect(request.evidence).toEqual([CID_V0, CID_V1])
    expect(checkRequestFields(request, actionFields).free).toEqual({ trees: '12', species: 'oak' })
  })

  test('refuses a missing or empty mandatory field', () => {
    const missing = parseApprovalRequest(SPEC_REQUEST.replace(',"phonenumber":"+13489383845"', ''))
    expect(refusal(() => checkRequestFields(missing, actionFields))).toBe(
      '"phonenumber" is mandatory for impact action 2 and must not be empty; got undefined.',
    )
    const empty = parseApprovalRequest(SPEC_REQUEST.replace('"Jhone Smith"', '"   "'))
    expect(refusal(() => checkRequestFields(empty, actionFields))).toBe(
      '"namesurname" is mandatory for impact action 2 and must not be empty; got "".',
    )
  })

  test('refuses a non-numeric N field and accepts numbers as JSON or text', () => {
    const fields = [
      { fieldname: 'trees', fieldtype: 'N', mandatory: true },
      { fieldname: 'area_m2', fieldtype: 'N', mandatory: false },
    ] as const
    const base = '{"impactactionid":2,"description":"Planted trees",'
    expect(
      refusal(() => checkRequestFields(parseApprovalRequest(`${base}"trees":"many"}`), fields)),
    ).toBe('"trees" must be a number (fieldtype "N"), such as 12 or 3.5; got "many".')
    expect(
      refusal(() => checkRequestFields(parseApprovalRequest(`${base}"trees":"1e3"}`), fields)),
    ).toMatch(/^"trees" must be a number/)
    const ok = parseApprovalRequest(`${base}"trees":12,"area_m2":" 3.5 "}`)
    expect(checkRequestFields(ok, fields).custom).toEqual({ trees: '12', area_m2: '3.5' })
    const optionalEmpty = parseApprovalRequest(`${base}"trees":"-4","area_m2":""}`)
    expect(checkRequestFields(optionalEmpty, fields).custom).toEqual({ trees: '-4' })
  })

  test.each([
    ['{"description":"Planted a new tree"}', /^"impactactionid" is missing; it must be an id/],
    [
      '{"impactactionid":"2","description":"Planted a new tree"}',
      /^"impactactionid" must be an id.*got "2"\.$/,
    ],
    ['{"impactactionid":2,"description":"abc"}', /^"description" must be text of 4 to 1024 bytes/],
    [
      '{"impactactionid":2,"description":"Planted","coordinates":"41.4"}',
      /^"coordinates" must be "lat,lon"/,
    ],
    [
      '{"impactactionid":2,"description":"Planted","coordinates":"41.4,2,5,6"}',
      /^"coordinates" must be "lat,lon"/,
    ],
    [
      '{"impactactionid":2,"description":"Planted","coordinates":"-91,2"}',
      /^"coordinates" must be "lat,lon"/,
    ],
    [
      '{"impactactionid":2,"description":"Planted","evidence":["photo.jpg"]}',
      /^"evidence\[0\]" must be a list of at most 32 IPFS CIDs/,
    ],
    ['{"impactactionid":2,"description":"Planted","evidence":"QmX"}', /^"evidence" must be a list/],
    [
      '{"impactactionid":2,"description":"Planted","extra":{"a":1}}',
      /^"extra" must be text or a number.*got an object\.$/,
    ],
    [
      '{"impactactionid":2,"description":"Planted","extra":null}',
      /^"extra" must be text or a number/,
    ],
    [
      '{"impactactionid":2,"description":"Planted","bad key":"x"}',
      /^"bad key" is not a field name/,
    ],
  ])('refuses %s naming the field', (text, pattern) => {
    expect(refusal(() => parseApprovalRequest(text))).toMatch(pattern)
  })

  test('refuses more than 32 evidence CIDs', () => {
    const evidence = JSON.stringify(Array.from({ length: 33 }, () => CID_V0))
    expect(
      refusal(() =>
        parseApprovalRequest(`{"impactactionid":2,"description":"Planted","evidence":${evidence}}`),
      ),
    ).toMatch(/^"evidence" must be a list of at most 32/)
  })

  test('refuses a request over 8192 bytes, and accepts one of exactly 8192', () => {
    const head = '{"impactactionid":2,"description":"Planted","note":"'
    const fit = `${head}${'x'.repeat(1000)}"}`
    expect(parseApprovalRequest(fit).fields.note).toHaveLength(1000)
    const pad = (n: number) => `{"impactactionid":2,"description":"Planted"${' '.repeat(n)}}`
    const exact = pad(8192 - pad(0).length)
    expect(exact).toHaveLength(8192)
    expect(parseApprovalRequest(exact).impactactionid).toBe(2)
    expect(refusal(() => parseApprovalRequest(pad(8193 - pad(0).length)))).toBe(
      'The approval request must be 2 to 8192 bytes of JSON; got 8193 bytes.',
    )
  })

  test('refuses too many free fields beyond the action fields', () => {
    const free = Array.from({ length: 33 }, (_, i) => `"f${i}":"v"`).join(',')
    const request = parseApprovalRequest(`{"impactactionid":2,"description":"Planted",${free}}`)
    expect(refusal(() => checkRequestFields(request, []))).toMatch(/33 free fields; at most 32/)
    const custom = Array.from({ length: 3 }, (_, i) => ({
      fieldname: `f${i}`,
      fieldtype: 'S' as const,
      mandatory: false,
    }))
    expect(Object.keys(checkRequestFields(request, custom).free)).toHaveLength(30)
  })

  test('refuses a free field value over 1024 bytes', () => {
    const text = `{"impactactionid":2,"description":"Planted","note":"${'é'.repeat(513)}"}`
    expect(refusal(() => parseApprovalRequest(text))).toMatch(
      /^"note" must be text or a number of at most 1024 bytes/,
    )
  })

  test('keeps a free field named "__proto__" as data', () => {
    const request: ApprovalRequestInput = parseApprovalRequest(
      '{"impactactionid":2,"description":"Planted","__proto__":"x"}',
    )
    expect(Object.keys(request.fields)).toEqual(['__proto__'])
    expect(Object.getOwnPropertyDescriptor(request.fields, '__proto__')?.value).toBe('x')
  })
})

describe('parseVote', () => {
  test('accepts the spec example verbatim', () => {
    expect(parseVote(SPEC_VOTE)).toEqual({ vote: 'Y', otherinfo: '<ipfs cid>' })
    expect(parseVote(' { "vote" : "N" } ')).toEqual({ vote: 'N' })
  })

  test.each([
    ['{"vote":"y"}', '"vote" must be exactly "Y" (approve) or "N" (refuse); got "y".'],
    ['{"vote":"YES"}', '"vote" must be exactly "Y" (approve) or "N" (refuse); got "YES".'],
    ['{"vote":true}', '"vote" must be exactly "Y" (approve) or "N" (refuse); got true.'],
    ['{"otherinfo":"x"}', '"vote" is missing; it must be exactly "Y" (approve) or "N" (refuse).'],
    [
      '{"vote":"Y","reason":"x"}',
      '"reason" is not a field of the vote; its fields are vote, otherinfo.',
    ],
  ])('refuses %s', (text, message) => {
    expect(refusal(() => parseVote(text))).toBe(message)
  })

  test('refuses an otherinfo over 1024 bytes and a vote over 2048 bytes', () => {
    expect(refusal(() => parseVote(`{"vote":"Y","otherinfo":"${'x'.repeat(1025)}"}`))).toMatch(
      /^"otherinfo" must be text of 1 to 1024 bytes/,
    )
    expect(refusal(() => parseVote(`{"vote":"Y"${' '.repeat(2040)}}`))).toMatch(/2 to 2048 bytes/)
  })
})

describe('readJson', () => {
  test('keeps integers exact as bigint and other numbers as number', () => {
    expect(readJson('[123456789012345678901234567890, 1.5, -0, 2e3, "a\\u00e9"]')).toEqual([
      123456789012345678901234567890n,
      1.5,
      0n,
      2000,
      'aé',
    ])
  })

  test('refuses nesting deeper than 4, raw control characters and unclosed strings', () => {
    expect(refusal(() => readJson('[[[[[1]]]]]'))).toMatch(/nesting deeper than 4 at character 5/)
    expect(refusal(() => readJson('["a\u0001"]'))).toMatch(/a string with a control character/)
    expect(refusal(() => readJson('["abc'))).toMatch(/without its closing quote/)
    expect(refusal(() => readJson('{"a" 1}'))).toMatch(/expected ":"/)
    expect(refusal(() => readJson(''))).toMatch(/unexpected "end" at character 1/)
  })
})

describe('hostile text', () => {
  const parsers = [
    parseImpactActionConfig,
    parseOracleConfig,
    parseAuditorConfig,
    parseApprovalRequest,
    parseVote,
  ]

  /** What a parser does with `text`: 'ok', or the name of what it threw. */
  function outcome(parse: (text: string) => unknown, text: string): string {
    try {
      parse(text)
      return 'ok'
    } catch (error) {
      return (error as Error).name
    }
  }

  test('any text is either read or refused with an InvalidImpactInputError (property)', () => {
    const textArb = fc.oneof(
      fc.string({ maxLength: 300 }),
      fc.json({ maxDepth: 6 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ vote: v, impactactionid: v })),
    )
    fc.assert(
      fc.property(textArb, (text) => {
        for (const parse of parsers)
          expect(['ok', 'InvalidImpactInputError']).toContain(outcome(parse, text))
      }),
      { numRuns: 300 },
    )
  })

  test('reads what JSON.parse reads, integers as bigint (property)', () => {
    const asBigint = (v: unknown): unknown =>
      Number.isInteger(v)
        ? BigInt(v as number)
        : Array.isArray(v)
          ? v.map(asBigint)
          : v !== null && typeof v === 'object'
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, asBigint(x)]))
            : v
    // JSON.parse itself rounds integers past 2^53, so the comparison keeps to 15 digits.
    const valueArb = fc
      .jsonValue({ maxDepth: 3 })
      .filter((v) => !/e|\d{16}/.test(JSON.stringify(v)))
    fc.assert(
      fc.property(valueArb, (value) => {
        const text = JSON.stringify(value)
        const read = readJson(text)
        expect(read).toEqual(asBigint(JSON.parse(text)))
      }),
      { numRuns: 300 },
    )
  })
})

describe('plain decimals in what the encoders write', () => {
  test('numbers never get an exponent, and read back as the same number', () => {
    for (const [n, text] of [
      [5e-7, '0.0000005'],
      [-1.5e-10, '-0.00000000015'],
      [1e21, '1000000000000000000000'],
      [1.234e22, '12340000000000000000000'],
      [41.40338, '41.40338'],
      [0, '0'],
    ] as const) {
      expect(plainDecimal(n)).toBe(text)
      expect(Number(plainDecimal(n))).toBe(n)
    }
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => {
        const text = plainDecimal(n)
        expect(text).not.toMatch(/e/i)
        expect(Number(text)).toBe(n === 0 ? 0 : n)
      }),
    )
  })

  test('an area and coordinates near zero survive encoding and parsing again', () => {
    const auditor = parseAuditorConfig(
      '{"description":"Null Island","categories":[1],"area":"0.0000005,2.17403"}',
    )
    expect(parseAuditorConfig(encodeAuditorConfig(auditor))).toEqual(auditor)
    const request = parseApprovalRequest(
      '{"impactactionid":2,"description":"At sea","coordinates":"-0.0000001,0.0000003"}',
    )
    expect(parseApprovalRequest(encodeApprovalRequest(request))).toEqual(request)
  })

  test('a free field given as a JSON number with an exponent is kept in plain decimals', () => {
    const request = parseApprovalRequest(
      '{"impactactionid":2,"description":"Big wood","trees":1e21}',
    )
    expect(request.fields.trees).toBe('1000000000000000000000')
  })
})
