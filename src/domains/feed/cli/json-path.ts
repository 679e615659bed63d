import { BaseError } from '../../../errors/base.ts'

// The JSON paths an oracle reads a source's price with: `data.price`, `a.b[0].c`,
// `rates["ETH USD"]`, `$.ticker['last']`. A small subset of JSONPath (no wildcards, filters or
// recursion): a source names one value.

/** One step of a JSON path: a property name or an array index. */
export type PathSegment = string | number

/** Thrown for a JSON path that cannot be read, or that names nothing in a source's answer. */
export class JsonPathError extends BaseError {
  override name = 'JsonPathError' as const
}

/** The longest path read, in characters. */
const MAX_PATH_CHARS = 256
/** The most steps a path may have. */
const MAX_SEGMENTS = 32

/**
 * Reads a JSON path into its steps.
 * @example parseJsonPath('data.rates["ETH USD"][0]') // ['data', 'rates', 'ETH USD', 0]
 */
export function parseJsonPath(path: string): PathSegment[] {
  if (path.length === 0 || path.length > MAX_PATH_CHARS)
    throw new JsonPathError(
      `JSON path "${path.slice(0, 40)}" must have 1 to ${MAX_PATH_CHARS} characters.`,
    )
  const segments: PathSegment[] = []
  let at = path.startsWith('$') ? 1 : 0
  // A bare name may open the path without a dot: `data.price`.
  if (at === 0 && path[0] !== '[') at = readName(path, 0, segments)
  while (at < path.length) {
    if (segments.length >= MAX_SEGMENTS)
      throw new JsonPathError(`JSON path "${path}" has more than ${MAX_SEGMENTS} steps.`)
    const c = path[at]
    if (c === '.') at = readName(path, at + 1, segments)
    else if (c === '[') at = readBracket(path, at + 1, segments)
    else throw pathError(path, at, 'a "." or a "["')
  }
  if (segments.length === 0) throw new JsonPathError(`JSON path "${path}" names no value.`)
  return segments
}

function pathError(path: string, at: number, expected: string): JsonPathError {
  return new JsonPathError(
    `JSON path "${path}" has "${path[at] ?? 'its end'}" at character ${at + 1} where ${expected} was expected; write it as a.b[0].c or a["x y"].`,
  )
}

/** Reads a bare name from `at`; answers where it ends. */
function readName(path: string, at: number, segments: PathSegment[]): number {
  let end = at
  while (end < path.length && !'.[]"\''.includes(path[end]!)) end++
  if (end === at) throw pathError(path, at, 'a name')
  segments.push(path.slice(at, end))
  return end
}

/** Reads `0]`, `"name"]` or `'name']` after a `[`; answers where it ends. */
function readBracket(path: string, at: number, segments: PathSegment[]): number {
  const quote = path[at]
  if (quote === '"' || quote === "'") {
    let name = ''
    let i = at + 1
    for (; i < path.length && path[i] !== quote; i++) {
      // A backslash takes the next character as it is (a quote, a backslash).
      if (path[i] === '\\') i++
      if (i >= path.length) break
      name += path[i]
    }
    if (path[i] !== quote) throw pathError(path, i, `a closing ${quote}`)
    if (path[i + 1] !== ']') throw pathError(path, i + 1, 'a "]"')
    segments.push(name)
    return i + 2
  }
  const match = /^(\d{1,9})\]/.exec(path.slice(at, at + 11))
  if (!match) throw pathError(path, at, 'an index (0, 1, …) or a quoted name')
  segments.push(Number(match[1]))
  return at + match[0].length
}

/** Formats steps back into a path (for messages). */
export function formatJsonPath(segments: readonly PathSegment[]): string {
  return segments
    .map((s, i) =>
      typeof s === 'number'
        ? `[${s}]`
        : /^[A-Za-z_$][\w$-]*$/.test(s)
          ? `${i === 0 ? '' : '.'}${s}`
          : `[${JSON.stringify(s)}]`,
    )
    .join('')
}

/**
 * The value at a path in parsed JSON; throws naming the first step that is missing. Only a
 * value's own properties count (`constructor` or `__proto__` name nothing in a price answer).
 */
export function readJsonPath(value: unknown, segments: readonly PathSegment[]): unknown {
  let current = value
  for (const [i, segment] of segments.entries()) {
    const found =
      typeof segment === 'number'
        ? Array.isArray(current) && segment < current.length
        : current !== null &&
          typeof current === 'object' &&
          !Array.isArray(current) &&
          Object.hasOwn(current, segment)
    if (!found)
      throw new JsonPathError(
        `The answer has nothing at ${formatJsonPath(segments.slice(0, i + 1))}${describe(current, segment)}.`,
      )
    current = (current as Record<string | number, unknown>)[segment]
  }
  return current
}

function describe(value: unknown, segment: PathSegment): string {
  if (Array.isArray(value))
    return typeof segment === 'number'
      ? ` (the array has ${value.length} items)`
      : ' (it is an array)'
  if (value === null || typeof value !== 'object')
    return ` (the value before it is ${kindOf(value)})`
  return ''
}

const kindOf = (value: unknown) => (value === null ? 'null' : `a ${typeof value}`)

/**
 * A JSON number or numeric string as exact decimal text (`2500.12`, `-0.5`, `12`): numbers in
 * their shortest round-trip form with any exponent written out, strings as they are (trimmed; a
 * leading `+` dropped). Throws for anything else.
 */
export function decimalText(value: unknown, what = 'the price'): string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new JsonPathError(`${capital(what)} is not a finite number.`)
    return expandExponent(String(value))
  }
  if (typeof value === 'string') {
    const text = value.trim().replace(/^\+/, '')
    if (/^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,3})?$/.test(text) && text.length <= 80)
      return expandExponent(text)
    throw new JsonPathError(
      `${capital(what)} "${value.slice(0, 40)}" is not a decimal number; point the path at a number.`,
    )
  }
  throw new JsonPathError(
    `${capital(what)} is ${kindOf(value)}, not a number or a numeric string; point the path at the number.`,
  )
}

const capital = (text: string) => text.charAt(0).toUpperCase() + text.slice(1)

/** `1.5e-7` → `0.00000015`, `2e+21` → `2000000000000000000000`; plain text as it is. */
function expandExponent(text: string): string {
  const match = /^(-?)(\d*)(?:\.(\d*))?[eE]([+-]?\d+)$/.exec(text)
  if (!match) return text.startsWith('.') || text.startsWith('-.') ? text.replace('.', '0.') : text
  const [, sign, whole = '', fraction = '', exponent] = match
  const digits = `${whole}${fraction}`
  const point = whole.length + Number(exponent)
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`
}
