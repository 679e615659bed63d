import { hash } from 'node:crypto'

const SEED_TAG = Buffer.from('rwa/audit/assign/v1', 'utf8')
const BACKUP_TAG = Buffer.from('rwa/audit/backup/v1', 'utf8')

/**
 * A deterministic stream of uniform integers: SHA-256 in counter mode over a 32-byte seed
 * (block i = SHA-256(seed ‖ u64be(i)), read as big-endian u32 words). Anyone with the seed
 * draws the same numbers.
 */
export class SeededRandom {
  private readonly input: Buffer
  private block: Buffer = Buffer.alloc(0)
  private offset = 32
  private counter = 0n

  constructor(seed: Uint8Array) {
    this.input = Buffer.alloc(seed.length + 8)
    this.input.set(seed)
  }

  /** The next uniform 32-bit unsigned integer. */
  next32(): number {
    if (this.offset === 32) {
      this.input.writeBigUInt64BE(this.counter++, this.input.length - 8)
      this.block = hash('sha256', this.input, 'buffer') as unknown as Buffer
      this.offset = 0
    }
    const value = this.block.readUInt32BE(this.offset)
    this.offset += 4
    return value
  }

  /** A uniform integer in [0, n), without modulo bias (rejection sampling). */
  below(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32)
      throw new RangeError(`below(${n}) needs 1 ≤ n ≤ 2^32`)
    const limit = Math.floor(2 ** 32 / n) * n
    for (;;) {
      const x = this.next32()
      if (x < limit) return x % n
    }
  }
}

/** The assignment seed of an audit: SHA-256("rwa/audit/assign/v1" ‖ id bytes of its `start` op). */
export function assignmentSeed(startOpIdBytes: Uint8Array): Uint8Array {
  return new Uint8Array(
    hash('sha256', Buffer.concat([SEED_TAG, startOpIdBytes]), 'buffer') as unknown as Buffer,
  )
}

/**
 * Assigns `k` distinct auditors (numbered 0…auditors−1) to each of `items` items. Auditors are
 * drawn in rounds: each round draws every auditor once, uniformly from those not yet drawn in
 * it, so loads never differ by more than one. An auditor already chosen for the item being filled
 * when a round ends is held back from the next round until that item is full, so an item never
 * gets the same auditor twice. Returns the auditors of item i at [i·k, i·k + k).
 * @example
 * const slots = assignAuditors({ seed: assignmentSeed(startIdBytes), items: 4, auditors: 5, k: 3 })
 */
export function assignAuditors({
  seed,
  items,
  auditors,
  k,
}: {
  seed: Uint8Array
  items: number
  auditors: number
  k: number
}): Int32Array {
  if (k < 1 || auditors < k)
    throw new RangeError(`assignAuditors needs at least k = ${k} auditors, got ${auditors}`)
  const random = new SeededRandom(seed)
  const out = new Int32Array(items * k)
  const pool = new Int32Array(auditors)
  let size = 0
  const held = new Uint8Array(auditors)
  for (let item = 0; item < items; item++) {
    const base = item * k
    for (let j = 0; j < k; j++) {
      if (size === 0) {
        // New round: everyone, except auditors already on this item (they rejoin once it is full).
        for (let a = 0; a < auditors; a++) held[a] = 0
        for (let c = 0; c < j; c++) held[out[base + c]!] = 1
        for (let a = 0; a < auditors; a++) if (held[a] === 0) pool[size++] = a
      }
      const r = random.below(size)
      out[base + j] = pool[r]!
      pool[r] = pool[--size]!
    }
    for (let c = 0; c < k; c++) {
      const a = out[base + c]!
      if (held[a] === 1) {
        held[a] = 0
        pool[size++] = a
      }
    }
  }
  return out
}

/**
 * Draws a backup auditor for `item` after a missed deadline: uniformly among `eligible` (auditor
 * numbers, in roster order), from the stream SHA-256("rwa/audit/backup/v1" ‖ seed ‖ u32 item ‖
 * u32 attempt). Returns undefined when nobody is eligible.
 */
export function drawBackup(
  seed: Uint8Array,
  item: number,
  attempt: number,
  eligible: readonly number[],
): number | undefined {
  if (eligible.length === 0) return undefined
  const input = Buffer.alloc(BACKUP_TAG.length + seed.length + 8)
  input.set(BACKUP_TAG)
  input.set(seed, BACKUP_TAG.length)
  input.writeUInt32BE(item, input.length - 8)
  input.writeUInt32BE(attempt, input.length - 4)
  const random = new SeededRandom(
    new Uint8Array(hash('sha256', input, 'buffer') as unknown as Buffer),
  )
  return eligible[random.below(eligible.length)]
}
