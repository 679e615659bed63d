/**
 * A short, safe description of any value for an error message. Never calls a value's own
 * `toString` (an op body from the network may hold `{ "toString": 1 }`, which makes `String()`
 * throw), and never prints more than `max` characters of a string.
 * @example
 * describeValue('abc') // '"abc"'
 * describeValue({ toString: 1 }) // 'an object'
 */
export function describeValue(value: unknown, max = 80): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value.length > max ? `${value.slice(0, max)}…` : value)
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return `${value}`
    default:
      if (value === null) return 'null'
      if (value instanceof Uint8Array) return `${value.length} bytes`
      if (Array.isArray(value)) return `a list of ${value.length}`
      return 'an object'
  }
}

/** A millisecond timestamp as ISO 8601, or the bare number when it is outside `Date`'s range. */
export function formatTime(ms: number): string {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? `${ms} ms after 1970` : date.toISOString()
}
