import { type ZodType, z } from 'zod'
import { BaseError } from '../../errors/base.ts'
import { describeValue } from '../text.ts'
import {
  type Area,
  type GeoPoint,
  InvalidLocationError,
  parseArea,
  parseCoordinates,
} from './assign.ts'

// The JSON records of Bitgreen's impact-actions pallet (../shared/specs/impact-actions.md), read
// with schemas instead of the original's search for `"key":` in the text, which broke on a space.
// Every parser takes the JSON TEXT as the original stored it and returns a typed, normalised value,
// or throws an InvalidImpactInputError naming the field and the rule.

/** Thrown when an impact-action record (a category, a configuration, a request, a vote) is malformed. */
export class InvalidImpactInputError extends BaseError {
  override name = 'InvalidImpactInputError' as const
  override readonly kind = 'invalid' as const
}

/** Size and count limits of every record; inputs come from the network and are hostile. */
export const IMPACT_LIMITS = {
  /** Configurations (impact action, oracle, auditor): bytes of JSON text, as the original. */
  configBytes: { min: 13, max: 8191 },
  /** An approval request: bytes of JSON text, as the original. */
  requestBytes: 8192,
  /** A vote: bytes of JSON text. */
  voteBytes: 2048,
  /** A category's description, in bytes, as the original. */
  categoryDescriptionBytes: { min: 5, max: 127 },
  /** Any other description, in bytes, as the original. */
  descriptionBytes: { min: 4, max: 1024 },
  /** An auditor's area text, in bytes, as the original. */
  areaBytes: { min: 4, max: 128 },
  /** `otherinfo` and the value of a custom or free field, in bytes. */
  infoBytes: 1024,
  /** A custom field's name (and a free field's key), in bytes. */
  fieldNameBytes: 64,
  /** Custom fields of an impact action. */
  maxFields: 64,
  /** Free fields of a request (keys beyond the known ones and the action's custom fields). */
  maxFreeFields: 32,
  /** Categories of an auditor. */
  maxCategories: 64,
  /** Evidence CIDs of a request, and the bytes of each. */
  maxEvidence: 32,
  cidBytes: 128,
  /** Approvals an action may require. */
  maxAuditors: 100,
  /** Nesting of JSON objects and lists. */
  maxDepth: 4,
} as const

/** The largest amount a settlement can pay (the escrow's `uint256`). */
export const MAX_IMPACT_AMOUNT = 2n ** 256n - 1n
/** The largest id (the original pallet's `u32` keys). */
export const MAX_IMPACT_ID = 2 ** 32 - 1

/** A custom field an approval request must (or may) carry. */
export type ImpactField = {
  readonly fieldname: string
  /** `S` text, `N` a number. */
  readonly fieldtype: 'S' | 'N'
  /** The original's `mandatory` `"Y"` / `"N"`. */
  readonly mandatory: boolean
}

/** An impact action's configuration; the misspelt keys `rewardoracle`/`slashingauditors` are stored under the `s` spellings. */
export type ImpactActionConfig = {
  readonly description: string
  readonly category: number
  /** Approvals required (and auditors assigned). */
  readonly auditors: number
  /** The active window, in blocks of the settlement chain, inclusive. */
  readonly blockstart: number
  readonly blockend: number
  /** 0 the chain's native coin, n a token id of the registry. */
  readonly rewardstoken: number
  /** Base units to the requester; > 0. */
  readonly rewardsamount: bigint
  /** Base units to the oracle that attested. */
  readonly rewardsoracle: bigint
  /** Base units shared equally by the auditors whose vote matched. */
  readonly rewardsauditors: bigint
  /** Base units slashed per verified error. */
  readonly slashingsauditors: bigint
  /** Errors after which an auditor is suspended; > 0. */
  readonly maxerrorsauditor: number
  readonly fields: readonly ImpactField[]
}

/** A category of impact actions. */
export type ImpactCategory = { readonly uid: number; readonly description: string }

/** An oracle's configuration; `account` is the Ed25519 key (hex) it signs attestations with. */
export type OracleConfig = {
  readonly description: string
  readonly account: string
  readonly otherinfo?: string
}

/** A point in degrees: latitude in [−90, 90], longitude in [−180, 180]. */
export type { GeoPoint } from './assign.ts'

/** An auditor's region: a centre and, optionally, a point on its border (the radius). */
/** An auditor's area: a centre, an optional border point, and the radius they make (assign.ts). */
export type ImpactArea = Area

/** An auditor's configuration. */
export type AuditorConfig = {
  readonly description: string
  /** Category ids, distinct, at least one; their existence is state: see `checkCategories`. */
  readonly categories: readonly number[]
  readonly area: ImpactArea
  readonly otherinfo?: string
  /** The stake it must deposit, in base units. */
  readonly stakesmin: bigint
}

/** A proxy: the key that assigns auditors. */
export type ImpactProxy = { readonly uid: number; readonly account: string }

/** An approval request as read from its text, before its action's custom fields are checked. */
export type ApprovalRequestInput = {
  readonly impactactionid: number
  readonly description: string
  readonly coordinates?: GeoPoint
  /** CIDs of evidence (photos, documents). */
  readonly evidence: readonly string[]
  /** Every other key, its value as text (numbers in decimal). */
  readonly fields: Readonly<Record<string, string>>
}

/** A request's other keys split by `checkRequestFields`: the action's custom fields and free ones. */
export type RequestFields = {
  readonly custom: Readonly<Record<string, string>>
  readonly free: Readonly<Record<string, string>>
}

/** An auditor's vote on a request: `Y` approve, `N` refuse. */
export type ImpactVote = { readonly vote: 'Y' | 'N'; readonly otherinfo?: string }

// ---------------------------------------------------------------------------------------------
// JSON text. JSON.parse loses amounts above 2^53, takes the last of two equal keys and cannot
// tell 1 from 1.0, so a small reader keeps integers as bigint, other numbers as number, and
// refuses duplicate keys and deep nesting.

/** A JSON value as `readJson` returns it: integer literals are `bigint`, others are `number`. */
export type JsonValue =
  | null
  | boolean
  | string
  | bigint
  | number
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue }

// A string token; JSON.parse then decodes it and refuses raw control characters and bad escapes.
const STRING = /"(?:[^"\\]|\\.)*"/sy
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y
/** What only JSON.parse decodes (or refuses) in a string token: escapes and control characters. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const PLAIN_STRING_NEEDS_PARSE = /[\\\u0000-\u001f]/
const LITERALS = { t: ['true', true], f: ['false', false], n: ['null', null] } as const

class JsonReader {
  pos = 0
  constructor(
    readonly text: string,
    readonly what: string,
  ) {}

  fail(rule: string): never {
    throw new InvalidImpactInputError(
      `The ${this.what} is not valid JSON: ${rule} at character ${this.pos + 1}; send one JSON object.`,
    )
  }

  skip(): void {
    const text = this.text
    for (;;) {
      const c = text.charCodeAt(this.pos)
      // space, tab, line feed, carriage return
      if (c === 32 || c === 9 || c === 10 || c === 13) this.pos++
      else return
    }
  }

  token(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.pos
    const match = pattern.exec(this.text)
    if (match) this.pos += match[0].length
    return match?.[0]
  }

  string(): string {
    const token = this.token(STRING) ?? this.fail('a string without its closing quote')
    // Most strings have no escape and no control character: their text is what they hold.
    if (!PLAIN_STRING_NEEDS_PARSE.test(token)) return token.slice(1, -1)
    try {
      return JSON.parse(token) as string
    } catch {
      this.pos -= token.length
      return this.fail('a string with a control character or a bad escape')
    }
  }

  value(depth: number): JsonValue {
    this.skip()
    const c = this.text[this.pos]
    if (c === '{' || c === '[') {
      if (depth >= IMPACT_LIMITS.maxDepth)
        this.fail(`nesting deeper than ${IMPACT_LIMITS.maxDepth}`)
      return c === '{' ? this.object(depth + 1) : this.array(depth + 1)
    }
    if (c === '"') return this.string()
    const literal = LITERALS[c as keyof typeof LITERALS]
    if (literal && this.text.startsWith(literal[0], this.pos)) {
      this.pos += literal[0].length
      return literal[1]
    }
    const number = this.token(NUMBER) ?? this.fail(`unexpected ${describeValue(c ?? 'end')}`)
    return /[.eE]/.test(number) ? Number(number) : BigInt(number)
  }

  object(depth: number): Record<string, JsonValue> {
    // Null prototype: a key "__proto__" is a key like any other.
    const object: Record<string, JsonValue> = Object.create(null)
    this.pos++
    this.skip()
    if (this.text[this.pos] === '}') {
      this.pos++
      return object
    }
    for (;;) {
      this.skip()
      if (this.text[this.pos] !== '"') this.fail('expected a key')
      const key = this.string()
      if (Object.hasOwn(object, key)) this.fail(`key ${describeValue(key)} appears twice`)
      this.skip()
      if (this.text[this.pos++] !== ':') this.fail('expected ":"')
      object[key] = this.value(depth)
      this.skip()
      const next = this.text[this.pos++]
      if (next === '}') return object
      if (next !== ',') this.fail('expected "," or "}"')
    }
  }

  array(depth: number): JsonValue[] {
    const array: JsonValue[] = []
    this.pos++
    this.skip()
    if (this.text[this.pos] === ']') {
      this.pos++
      return array
    }
    for (;;) {
      array.push(this.value(depth))
      this.skip()
      const next = this.text[this.pos++]
      if (next === ']') return array
      if (next !== ',') this.fail('expected "," or "]"')
    }
  }
}

/**
 * Reads JSON text strictly: integer literals become `bigint` (no precision lost), other numbers
 * `number`; duplicate keys and nesting deeper than `IMPACT_LIMITS.maxDepth` are refused.
 * @throws InvalidImpactInputError naming `what` and the character where the text goes wrong.
 */
export function readJson(text: string, what = 'record'): JsonValue {
  const reader = new JsonReader(text, what)
  const value = reader.value(0)
  reader.skip()
  if (reader.pos !== text.length) reader.fail('text after the value')
  return value
}

/**
 * Encodes a value as canonical JSON for storing and hashing: keys sorted, no spaces, bigints as
 * integer literals, `undefined` members left out.
 * @example canonicalJson({ b: 1n, a: 'x' }) // '{"a":"x","b":1}'
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string')
    return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}`
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new InvalidImpactInputError('A number must be finite.')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (typeof value !== 'object') throw new InvalidImpactInputError('Only JSON values encode.')
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

// ---------------------------------------------------------------------------------------------
// Schemas. Each carries its rule as its error, so a refusal reads `"field" rule; got value`.

/** Bytes of a string in UTF-8 (the original's limits are bytes). */
export const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8')

// Control characters are refused: records are printed to terminals, pages and chats as they are.
const CONTROL = /\p{Cc}/u
const CONTROL_BUT_NEWLINE = /[^\P{Cc}\n]/u

const rule = (error: string) => ({ error })

function text(min: number, max: number, { multiline = true } = {}) {
  const message = `must be text of ${min} to ${max} bytes${multiline ? '' : ' on one line'}, without control characters`
  const control = multiline ? CONTROL_BUT_NEWLINE : CONTROL
  return z
    .string(rule(message))
    .transform((s) => s.trim())
    .refine((s) => utf8Bytes(s) >= min && utf8Bytes(s) <= max && !control.test(s), rule(message))
}

function integer(min: number, max: number, message: string) {
  return z
    .bigint(rule(message))
    .refine((v) => v >= BigInt(min) && v <= BigInt(max), rule(message))
    .transform(Number)
}

const idSchema = integer(
  1,
  MAX_IMPACT_ID,
  `must be an id: a whole number from 1 to ${MAX_IMPACT_ID}`,
)

function amount(min: 0n | 1n) {
  const message = `must be an integer ${min === 0n ? '≥ 0' : '> 0'} (base units, at most 2^256 − 1; a JSON integer or a decimal string)`
  return z.preprocess(
    (v) => (typeof v === 'string' && /^\d{1,80}$/.test(v) ? BigInt(v) : v),
    z.bigint(rule(message)).refine((v) => v >= min && v <= MAX_IMPACT_AMOUNT, rule(message)),
  )
}

const infoSchema = text(1, IMPACT_LIMITS.infoBytes).optional()

const keySchema = z
  .string(rule('must be an Ed25519 public key: 64 hex digits'))
  .regex(/^[0-9a-fA-F]{64}$/, rule('must be an Ed25519 public key: 64 hex digits'))
  .transform((s) => s.toLowerCase())

const POINT_RULE = 'must be "lat,lon" in degrees, lat in [−90, 90] and lon in [−180, 180]'
/** The one reader of places (assign.ts), its refusal said as this record's field rule. */
const pointSchema = z.string(rule(POINT_RULE)).transform((s, ctx) => {
  try {
    return parseCoordinates(s)
  } catch (error) {
    if (!(error instanceof InvalidLocationError)) throw error
    ctx.addIssue({ code: 'custom', message: POINT_RULE, input: s })
    return z.NEVER
  }
})

const AREA_RULE = `must be "lat,lon" (a centre) or "lat,lon,lat,lon" (a centre and a border point), ${IMPACT_LIMITS.areaBytes.min} to ${IMPACT_LIMITS.areaBytes.max} bytes, lat in [−90, 90] and lon in [−180, 180]`
const areaSchema = z.string(rule(AREA_RULE)).transform((s, ctx): ImpactArea => {
  const size = utf8Bytes(s)
  if (size >= IMPACT_LIMITS.areaBytes.min && size <= IMPACT_LIMITS.areaBytes.max) {
    try {
      return parseArea(s)
    } catch (error) {
      if (!(error instanceof InvalidLocationError)) throw error
    }
  }
  ctx.addIssue({ code: 'custom', message: AREA_RULE, input: s })
  return z.NEVER
})

// CIDv0 (base58btc "Qm…") or CIDv1 in a multibase (base32 "b…", base58btc "z…", base36 "k…").
const CID =
  /^(?:Qm[1-9A-HJ-NP-Za-km-z]{44}|b[a-z2-7]{50,}|z[1-9A-HJ-NP-Za-km-z]{40,}|k[0-9a-z]{40,})$/
const CID_RULE = `must be a list of at most ${IMPACT_LIMITS.maxEvidence} IPFS CIDs (CIDv0 "Qm…" or CIDv1 such as "bafy…"), each at most ${IMPACT_LIMITS.cidBytes} bytes`
const evidenceSchema = z
  .array(
    z
      .string(rule(CID_RULE))
      .refine((s) => s.length <= IMPACT_LIMITS.cidBytes && CID.test(s), rule(CID_RULE)),
    rule(CID_RULE),
  )
  .max(IMPACT_LIMITS.maxEvidence, rule(CID_RULE))

const FIELD_NAME = /^[A-Za-z0-9_-]{1,64}$/
const FIELD_NAME_RULE =
  'must be a field name of 1 to 64 letters, digits, "_" or "-", not one of impactactionid, description, coordinates, evidence'
/** Keys an approval request reads itself; a custom field may not take them. */
const REQUEST_KEYS = ['impactactionid', 'description', 'coordinates', 'evidence'] as const

const fieldSchema = z.strictObject(
  {
    fieldname: z
      .string(rule(FIELD_NAME_RULE))
      .refine(
        (s) => FIELD_NAME.test(s) && !(REQUEST_KEYS as readonly string[]).includes(s),
        rule(FIELD_NAME_RULE),
      ),
    fieldtype: z.enum(['S', 'N'], rule('must be "S" (text) or "N" (a number)')),
    mandatory: z
      .enum(['Y', 'N'], rule('must be "Y" (mandatory) or "N" (optional)'))
      .transform((m) => m === 'Y'),
  },
  rule('must be an object {"fieldname": …, "fieldtype": "S"|"N", "mandatory": "Y"|"N"}'),
)

const FIELD_KEYS = Object.keys(fieldSchema.shape)
const FIELDS_RULE = `must be a list of at most ${IMPACT_LIMITS.maxFields} custom fields`
const fieldsSchema = z
  .array(fieldSchema, rule(FIELDS_RULE))
  .max(IMPACT_LIMITS.maxFields, rule(FIELDS_RULE))
  .superRefine((fields, ctx) => {
    const seen = new Set<string>()
    fields.forEach((field, i) => {
      if (seen.has(field.fieldname))
        ctx.addIssue({
          code: 'custom',
          path: [i, 'fieldname'],
          message: 'must be unique among the fields',
          input: field.fieldname,
        })
      seen.add(field.fieldname)
    })
  })

const BLOCK_RULE = 'must be a block number: a whole number from 0 to 2^53 − 1'
const blockSchema = integer(0, Number.MAX_SAFE_INTEGER, BLOCK_RULE)

const configSchema = z
  .strictObject({
    description: text(IMPACT_LIMITS.descriptionBytes.min, IMPACT_LIMITS.descriptionBytes.max),
    category: idSchema,
    auditors: integer(
      1,
      IMPACT_LIMITS.maxAuditors,
      `must be a whole number from 1 to ${IMPACT_LIMITS.maxAuditors} (approvals required)`,
    ),
    blockstart: blockSchema,
    blockend: blockSchema,
    rewardstoken: integer(
      0,
      MAX_IMPACT_ID,
      `must be 0 (native coin) or a token id up to ${MAX_IMPACT_ID}`,
    ),
    rewardsamount: amount(1n),
    rewardsoracle: amount(0n),
    rewardsauditors: amount(0n),
    slashingsauditors: amount(0n),
    maxerrorsauditor: integer(
      1,
      MAX_IMPACT_ID,
      `must be a whole number from 1 to ${MAX_IMPACT_ID}`,
    ),
    fields: fieldsSchema.default([]),
  })
  .superRefine((config, ctx) => {
    if (config.blockend < config.blockstart)
      ctx.addIssue({
        code: 'custom',
        path: ['blockend'],
        message: `must be ≥ "blockstart" (${config.blockstart})`,
        input: config.blockend,
      })
  })

const oracleSchema = z.strictObject({
  description: text(IMPACT_LIMITS.descriptionBytes.min, IMPACT_LIMITS.descriptionBytes.max),
  account: keySchema,
  otherinfo: infoSchema,
})

const CATEGORIES_RULE = `must be a list of 1 to ${IMPACT_LIMITS.maxCategories} distinct category ids`
const auditorSchema = z.strictObject({
  description: text(IMPACT_LIMITS.descriptionBytes.min, IMPACT_LIMITS.descriptionBytes.max),
  categories: z
    .array(idSchema, rule(CATEGORIES_RULE))
    .min(1, rule(CATEGORIES_RULE))
    .max(IMPACT_LIMITS.maxCategories, rule(CATEGORIES_RULE))
    .refine((ids) => new Set(ids).size === ids.length, rule(CATEGORIES_RULE)),
  area: areaSchema,
  otherinfo: infoSchema,
  stakesmin: amount(0n).default(0n),
})

const voteSchema = z.strictObject({
  vote: z.enum(['Y', 'N'], rule('must be exactly "Y" (approve) or "N" (refuse)')),
  otherinfo: infoSchema,
})

// ---------------------------------------------------------------------------------------------
// Errors from schema issues.

function fieldPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, i) =>
      typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`,
    )
    .join('')
}

/** Turns the first schema issue into one sentence naming the field, the rule and the value. */
function issueError(issue: z.core.$ZodIssue, record: string, keys: readonly string[]): Error {
  const field = fieldPath(issue.path)
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? ''
    // The only strict objects inside a record are the custom fields of a configuration.
    const [where, known] = field === '' ? [record, keys] : [`"${field}"`, FIELD_KEYS]
    return new InvalidImpactInputError(
      `"${key}" is not a field of ${where}; its fields are ${known.join(', ')}.`,
    )
  }
  const name = field === '' ? record : `"${field}"`
  if (issue.input === undefined && field !== '')
    return new InvalidImpactInputError(`${name} is missing; it ${issue.message}.`)
  return new InvalidImpactInputError(`${name} ${issue.message}; got ${describeValue(issue.input)}.`)
}

function check<T>(schema: ZodType<T>, value: unknown, record: string, keys: readonly string[]): T {
  const result = schema.safeParse(value, { reportInput: true })
  if (result.success) return result.data
  throw issueError(result.error.issues[0]!, record, keys)
}

/** Bounds the text, reads it and insists on one JSON object. */
function readObject(
  text: unknown,
  record: string,
  { min, max }: { min: number; max: number },
): Record<string, JsonValue> {
  if (typeof text !== 'string')
    throw new InvalidImpactInputError(
      `The ${record} must be JSON text; got ${describeValue(text)}.`,
    )
  const size = utf8Bytes(text)
  if (size < min || size > max)
    throw new InvalidImpactInputError(
      `The ${record} must be ${min} to ${max} bytes of JSON; got ${size} bytes.`,
    )
  const value = readJson(text, record)
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidImpactInputError(
      `The ${record} must be one JSON object {…}; got ${describeValue(value)}.`,
    )
  return value as Record<string, JsonValue>
}

// ---------------------------------------------------------------------------------------------
// Parsers.

const CONFIG_KEYS = Object.keys(configSchema.shape)
/** The original's documentation spells these two keys without the `s` in places. */
const SPELLINGS = { rewardoracle: 'rewardsoracle', slashingauditors: 'slashingsauditors' } as const

function unifySpellings(object: Record<string, JsonValue>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = Object.assign(Object.create(null), object)
  for (const [alias, key] of Object.entries(SPELLINGS)) {
    if (!Object.hasOwn(out, alias)) continue
    if (Object.hasOwn(out, key))
      throw new InvalidImpactInputError(
        `"${alias}" and "${key}" are one field spelt two ways; give only one of them.`,
      )
    out[key] = out[alias]!
    delete out[alias]
  }
  return out
}

/**
 * Reads an impact action's configuration from its JSON text (13–8191 bytes). Key order and
 * whitespace do not matter; `rewardoracle`/`slashingauditors` are read as
 * `rewardsoracle`/`slashingsauditors`; amounts may be JSON integers or decimal strings.
 * Whether `category` exists is state: check it with `checkCategories`.
 * @throws InvalidImpactInputError naming the field and the rule.
 * @example
 * parseImpactActionConfig('{"description":"Planting a tree","category":1,…}').rewardsamount // 1000n
 */
export function parseImpactActionConfig(text: unknown): ImpactActionConfig {
  const record = 'impact action configuration'
  const object = unifySpellings(readObject(text, record, IMPACT_LIMITS.configBytes))
  return check(configSchema, object, `the ${record}`, CONFIG_KEYS)
}

/**
 * Reads an oracle's configuration (`description`, `account` as an Ed25519 key, `otherinfo`).
 * @throws InvalidImpactInputError naming the field and the rule.
 */
export function parseOracleConfig(text: unknown): OracleConfig {
  const object = readObject(text, 'oracle configuration', IMPACT_LIMITS.configBytes)
  const config = check(oracleSchema, object, 'the oracle configuration', [
    'description',
    'account',
    'otherinfo',
  ])
  return withoutUndefined(config) as OracleConfig
}

/**
 * Reads an auditor's configuration (`description`, `categories`, `area`, `otherinfo`,
 * `stakesmin`, which defaults to 0). Whether the categories exist is state: see `checkCategories`.
 * @throws InvalidImpactInputError naming the field and the rule.
 */
export function parseAuditorConfig(text: unknown): AuditorConfig {
  const object = readObject(text, 'auditor configuration', IMPACT_LIMITS.configBytes)
  const keys = Object.keys(auditorSchema.shape)
  return withoutUndefined(
    check(auditorSchema, object, 'the auditor configuration', keys),
  ) as AuditorConfig
}

/**
 * Reads a vote: `{"vote":"Y"|"N","otherinfo":…}`.
 * @throws InvalidImpactInputError naming the field and the rule.
 */
export function parseVote(text: unknown): ImpactVote {
  const object = readObject(text, 'vote', { min: 2, max: IMPACT_LIMITS.voteBytes })
  return withoutUndefined(
    check(voteSchema, object, 'the vote', ['vote', 'otherinfo']),
  ) as ImpactVote
}

// exactOptionalPropertyTypes: an absent optional member is absent, not `undefined`.
function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T
}

/**
 * Reads an id given as an argument (a category's or a proxy's `uid`, an `impactactionid`): a whole
 * number from 1 to 2^32 − 1, as a number, a bigint or decimal text.
 * @throws InvalidImpactInputError naming `field`.
 */
export function parseImpactId(value: unknown, field = 'uid'): number {
  const v =
    typeof value === 'number' && Number.isSafeInteger(value)
      ? BigInt(value)
      : typeof value === 'string' && /^\d{1,12}$/.test(value.trim())
        ? BigInt(value.trim())
        : value
  return check(idSchema, v, `"${field}"`, [])
}

/**
 * Reads an account argument (an auditor's, a proxy's): an Ed25519 public key, 64 hex digits,
 * returned in lower case.
 * @throws InvalidImpactInputError naming `field`.
 */
export function parseImpactAccount(value: unknown, field = 'account'): string {
  return check(keySchema, value, `"${field}"`, [])
}

/**
 * Validates `createCategory(uid, description)`: an id and a description of 5 to 127 bytes.
 * @throws InvalidImpactInputError naming the field and the rule.
 */
export function parseCategory(uid: unknown, description: unknown): ImpactCategory {
  const { min, max } = IMPACT_LIMITS.categoryDescriptionBytes
  const id = parseImpactId(uid, 'uid')
  return { uid: id, description: check(text(min, max), description, '"description"', []) }
}

/**
 * Validates `createProxy(uid, account)`.
 * @throws InvalidImpactInputError naming the field and the rule.
 */
export function parseProxy(uid: unknown, account: unknown): ImpactProxy {
  return { uid: parseImpactId(uid, 'uid'), account: parseImpactAccount(account, 'account') }
}

/**
 * Refuses category ids that are not among `known` (existence is state, not format).
 * @throws InvalidImpactInputError naming `field`, the unknown id and what to do.
 */
export function checkCategories(
  ids: readonly number[],
  known: ReadonlySet<number>,
  field = 'categories',
): void {
  const unknown = ids.find((id) => !known.has(id))
  if (unknown === undefined) return
  const some = [...known].sort((a, b) => a - b).slice(0, 10)
  throw new InvalidImpactInputError(
    `"${field}" names category ${unknown}, which does not exist; create it first or use one of: ${some.length > 0 ? some.join(', ') : '(no categories yet)'}.`,
  )
}

const requestSchema = z.object({
  impactactionid: idSchema,
  description: text(IMPACT_LIMITS.descriptionBytes.min, IMPACT_LIMITS.descriptionBytes.max),
  coordinates: pointSchema.optional(),
  evidence: evidenceSchema.default([]),
})

const FREE_RULE = `must be text or a number of at most ${IMPACT_LIMITS.infoBytes} bytes (a custom or free field)`

/** The request's other keys as text; bounded in count, key and value size. */
function readRequestFields(object: Record<string, JsonValue>): Record<string, string> {
  const fields: Record<string, string> = Object.create(null)
  const keys = Object.keys(object).filter((k) => !(REQUEST_KEYS as readonly string[]).includes(k))
  const most = IMPACT_LIMITS.maxFields + IMPACT_LIMITS.maxFreeFields
  if (keys.length > most)
    throw new InvalidImpactInputError(
      `The approval request has ${keys.length} custom and free fields; at most ${most} are allowed.`,
    )
  for (const key of keys) {
    if (!FIELD_NAME.test(key))
      throw new InvalidImpactInputError(
        `${describeValue(key)} is not a field name: a field name is 1 to 64 letters, digits, "_" or "-".`,
      )
    const value = object[key]
    const text =
      typeof value === 'string'
        ? value.trim()
        : typeof value === 'bigint'
          ? String(value)
          : typeof value === 'number' && Number.isFinite(value)
            ? plainDecimal(value)
            : undefined
    if (
      text === undefined ||
      utf8Bytes(text) > IMPACT_LIMITS.infoBytes ||
      CONTROL_BUT_NEWLINE.test(text)
    )
      throw new InvalidImpactInputError(`"${key}" ${FREE_RULE}; got ${describeValue(value)}.`)
    fields[key] = text
  }
  return fields
}

/**
 * Reads an approval request (at most 8192 bytes): `impactactionid`, `description`, optional
 * `coordinates` ("lat,lon") and `evidence` (CIDs), and every other key as a custom or free field
 * (text; numbers in decimal). Check the fields against the action with `checkRequestFields`.
 * @throws InvalidImpactInputError naming the field and the rule.
 */
export function parseApprovalRequest(text: unknown): ApprovalRequestInput {
  const record = 'approval request'
  const object = readObject(text, record, { min: 2, max: IMPACT_LIMITS.requestBytes })
  const known = check(requestSchema, object, `the ${record}`, [])
  const request = { ...known, fields: readRequestFields(object) }
  return withoutUndefined(request) as ApprovalRequestInput
}

const NUMERIC = /^[+-]?\d+(?:\.\d+)?$/

/**
 * A finite number in plain decimal notation, never with an exponent (`5e-7` → `0.0000005`,
 * `1e21` → `1000000000000000000000`): the shortest digits that read back as the same number, so
 * what an encoder writes its parser reads, and a numeric field stays numeric.
 */
export function plainDecimal(n: number): string {
  const shortest = String(n)
  const match = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(shortest)
  if (!match) return shortest
  const [, sign, first, rest = '', exponent] = match
  const digits = `${first}${rest}`
  const point = 1 + Number(exponent) // where the decimal point goes, counted from the first digit
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`
}

/**
 * Checks a request's fields against its action's `fields`: every mandatory one present and not
 * empty, every `N` one numeric. Returns them split into the action's custom fields and free ones
 * (an empty optional field counts as absent).
 * @throws InvalidImpactInputError naming the field and the rule.
 */
export function checkRequestFields(
  request: ApprovalRequestInput,
  fields: readonly ImpactField[],
): RequestFields {
  const custom: Record<string, string> = Object.create(null)
  const free: Record<string, string> = Object.assign(Object.create(null), request.fields)
  for (const field of fields) {
    const value = Object.hasOwn(free, field.fieldname) ? free[field.fieldname] : undefined
    delete free[field.fieldname]
    if (value === undefined || value === '') {
      if (!field.mandatory) continue
      throw new InvalidImpactInputError(
        `"${field.fieldname}" is mandatory for impact action ${request.impactactionid} and must not be empty; got ${describeValue(value)}.`,
      )
    }
    if (field.fieldtype === 'N' && !NUMERIC.test(value))
      throw new InvalidImpactInputError(
        `"${field.fieldname}" must be a number (fieldtype "N"), such as 12 or 3.5; got ${describeValue(value)}.`,
      )
    custom[field.fieldname] = value
  }
  if (Object.keys(free).length > IMPACT_LIMITS.maxFreeFields)
    throw new InvalidImpactInputError(
      `The approval request has ${Object.keys(free).length} free fields; at most ${IMPACT_LIMITS.maxFreeFields} are allowed beyond the action's fields.`,
    )
  return { custom, free }
}

// ---------------------------------------------------------------------------------------------
// Canonical encodings: the original's keys (with the `s` spellings), sorted, amounts as decimal
// strings (so any JSON reader keeps them exact); each parser reads its encoder's output back.

const point = (p: GeoPoint) => `${plainDecimal(p.lat)},${plainDecimal(p.lon)}`

/** The canonical JSON text of an impact action's configuration. */
export function encodeImpactActionConfig(config: ImpactActionConfig): string {
  return canonicalJson({
    ...config,
    rewardsamount: `${config.rewardsamount}`,
    rewardsoracle: `${config.rewardsoracle}`,
    rewardsauditors: `${config.rewardsauditors}`,
    slashingsauditors: `${config.slashingsauditors}`,
    fields: config.fields.map((f) => ({ ...f, mandatory: f.mandatory ? 'Y' : 'N' })),
  })
}

/** The canonical JSON text of an oracle's configuration. */
export function encodeOracleConfig(config: OracleConfig): string {
  return canonicalJson(config)
}

/** The canonical JSON text of an auditor's configuration. */
export function encodeAuditorConfig(config: AuditorConfig): string {
  const { centre, border } = config.area
  const area = border ? `${point(centre)},${point(border)}` : point(centre)
  return canonicalJson({ ...config, area, stakesmin: `${config.stakesmin}` })
}

/** The canonical JSON text of an approval request (its fields back at the top level). */
export function encodeApprovalRequest(request: ApprovalRequestInput): string {
  const { fields, coordinates, ...known } = request
  return canonicalJson({
    ...fields,
    ...known,
    coordinates: coordinates ? point(coordinates) : undefined,
  })
}

/** The canonical JSON text of a vote. */
export function encodeVote(vote: ImpactVote): string {
  return canonicalJson(vote)
}
