import type { Address } from '../identity.ts'
import { floor, formatRational, mul, type Rational, rational, subClamped } from '../rational.ts'
import type { AuditParams } from './params.ts'

/** One inspection as the tally sees it: answered (true/false) or missing. */
export type TallyInspection = {
  readonly item: number
  readonly auditor: number
  readonly answer: boolean | undefined
}

/** An item's outcome: its answers and the majority (a tie follows the audit's tie rule). */
export type ItemResult = {
  readonly item: number
  readonly yes: number
  readonly no: number
  readonly missing: number
  readonly result: boolean
}

/** An auditor's outcome and money, all amounts in base units. */
export type AuditorResult = {
  readonly auditor: number
  readonly payout: Address
  readonly inspections: number
  readonly aligned: number
  readonly misaligned: number
  readonly missing: number
  /** `max(0, aligned − slashingRatio × misaligned)` in classic mode; `aligned` in staked mode. */
  readonly units: string
  readonly reward: bigint
  /** Staked mode: stake taken at registration, slashed part, share of the slashed pool, stake returned. */
  readonly stake: bigint
  readonly slashed: bigint
  readonly share: bigint
  readonly returned: bigint
  /** What the auditor is paid besides its returned stake: reward + share. */
  readonly paid: bigint
}

/** The full result of an audit. */
export type AuditResults = {
  readonly items: readonly ItemResult[]
  readonly yesItems: number
  readonly noItems: number
  readonly auditors: readonly AuditorResult[]
  /** bond / (items × k), exact. */
  readonly inspectionReward: string
  /** What goes back to the payer: bond − rewards, plus slashed stake nobody earned, plus rounding. */
  readonly remainder: bigint
}

/**
 * Computes item results, per-auditor alignment and money. Classic (the RWA formula): each
 * auditor earns `floor(max(0, aligned − ratio × misaligned) × bond / (items × k))`, in exact
 * rational arithmetic, floored once per auditor. Staked: each earns `floor(aligned × bond /
 * (items × k))`; wrong and missing answers slash the stake at their rates (capped at the
 * stake); the slashed pool goes to aligned auditors pro rata to their aligned inspections; the
 * rest of each stake is returned. Whatever is not paid returns to the payer as `remainder`.
 */
export function tally({
  params,
  itemCount,
  payouts,
  inspections,
}: {
  params: AuditParams
  itemCount: number
  /** Payout address of each auditor, by auditor number. */
  payouts: readonly Address[]
  inspections: readonly TallyInspection[]
}): AuditResults {
  assertConsistent(params, itemCount, inspections)
  const items = itemResults(params, itemCount, inspections)
  const counts = payouts.map(() => ({ inspections: 0, aligned: 0, misaligned: 0, missing: 0 }))
  for (const inspection of inspections) {
    const c = counts[inspection.auditor]!
    c.inspections++
    if (inspection.answer === undefined) c.missing++
    else if (inspection.answer === items[inspection.item]!.result) c.aligned++
    else c.misaligned++
  }
  const reward = rational(params.bond, BigInt(Math.max(1, itemCount * params.auditsPerItem)))
  const auditors =
    params.reward.mode === 'staked'
      ? staked(params, reward, payouts, counts)
      : classic(params, reward, payouts, counts)
  const paidRewards = auditors.reduce((sum, a) => sum + a.reward, 0n)
  const pool = auditors.reduce((sum, a) => sum + a.slashed, 0n)
  const shares = auditors.reduce((sum, a) => sum + a.share, 0n)
  return {
    items,
    yesItems: items.filter((i) => i.result).length,
    noItems: items.filter((i) => !i.result).length,
    auditors,
    inspectionReward: formatRational(reward),
    remainder: params.bond - paidRewards + pool - shares,
  }
}

/** Each item has at most k answered inspections (others were reassigned away): else money could exceed the bond. */
function assertConsistent(
  params: AuditParams,
  itemCount: number,
  inspections: readonly TallyInspection[],
): void {
  const answered = new Array<number>(itemCount).fill(0)
  for (const { item, answer } of inspections) {
    if (item < 0 || item >= itemCount)
      throw new RangeError(`tally: inspection of item ${item} outside 0…${itemCount - 1}`)
    if (answer !== undefined && ++answered[item]! > params.auditsPerItem) {
      throw new RangeError(
        `tally: item ${item} has more than ${params.auditsPerItem} answered inspections`,
      )
    }
  }
}

function itemResults(
  params: AuditParams,
  itemCount: number,
  inspections: readonly TallyInspection[],
): ItemResult[] {
  const yes = new Array<number>(itemCount).fill(0)
  const no = new Array<number>(itemCount).fill(0)
  const missing = new Array<number>(itemCount).fill(0)
  for (const { item, answer } of inspections) {
    if (answer === undefined) missing[item]!++
    else if (answer) yes[item]!++
    else no[item]!++
  }
  return yes.map((y, item) => ({
    item,
    yes: y,
    no: no[item]!,
    missing: missing[item]!,
    result: y === no[item] ? params.tie : y > no[item]!,
  }))
}

type Counts = { inspections: number; aligned: number; misaligned: number; missing: number }

function classic(
  params: AuditParams,
  reward: Rational,
  payouts: readonly Address[],
  counts: Counts[],
): AuditorResult[] {
  return counts.map((c, auditor) => {
    const units = subClamped(
      rational(BigInt(c.aligned)),
      mul(params.slashingRatio, rational(BigInt(c.misaligned))),
    )
    const earned = floor(mul(units, reward))
    return {
      auditor,
      payout: payouts[auditor]!,
      ...c,
      units: formatRational(units),
      reward: earned,
      stake: 0n,
      slashed: 0n,
      share: 0n,
      returned: 0n,
      paid: earned,
    }
  })
}

function staked(
  params: AuditParams,
  reward: Rational,
  payouts: readonly Address[],
  counts: Counts[],
): AuditorResult[] {
  if (params.reward.mode !== 'staked') throw new Error('unreachable')
  const { stake, slashWrong, slashMissing } = params.reward
  const slashes = counts.map((c) => {
    const rate = rational(
      slashWrong.num * BigInt(c.misaligned) * slashMissing.den +
        slashMissing.num * BigInt(c.missing) * slashWrong.den,
      slashWrong.den * slashMissing.den,
    )
    const slash = floor(mul(rate, rational(stake)))
    return slash > stake ? stake : slash
  })
  const pool = slashes.reduce((sum, s) => sum + s, 0n)
  const totalAligned = BigInt(counts.reduce((sum, c) => sum + c.aligned, 0))
  return counts.map((c, auditor) => {
    const earned = floor(mul(rational(BigInt(c.aligned)), reward))
    const share = totalAligned === 0n ? 0n : (pool * BigInt(c.aligned)) / totalAligned
    const slashed = slashes[auditor]!
    return {
      auditor,
      payout: payouts[auditor]!,
      ...c,
      units: `${c.aligned}`,
      reward: earned,
      stake,
      slashed,
      share,
      returned: stake - slashed,
      paid: earned + share,
    }
  })
}
