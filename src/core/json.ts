/**
 * `JSON.stringify` replacer for rwa values: bigints as decimal strings (amounts never lose
 * precision), bytes as hex.
 */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex')
  return value
}

/** JSON of rwa values (see `jsonReplacer`). */
export function toJson(value: unknown, space?: number): string {
  return JSON.stringify(value, jsonReplacer, space)
}
