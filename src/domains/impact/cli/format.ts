import type {
  AuditorState,
  ImpactState,
  PoolState,
  RequestState,
} from '../../../core/impact/state.ts'

// Human output of `rwa impact …`: tables a person can read, every amount with its unit.

type Tokens = ImpactState['tokens']

/**
 * An amount of a rewards token, with its unit: token 0 is the chain's native coin, token n the
 * ERC-20 the registry maps n to.
 * @example formatImpactAmount(1000n, 0, []) // "1000 base units of token 0 (native)"
 */
export function formatImpactAmount(amount: bigint, token: number, tokens: Tokens): string {
  return `${amount} base units of token ${token} (${tokenLabel(token, tokens)})`
}

function tokenLabel(token: number, tokens: Tokens): string {
  if (token === 0) return 'native'
  return tokens.find((t) => t.id === token)?.address ?? 'not mapped to an ERC-20 yet'
}

/** A key or op id cut to its first characters, for a table cell. */
export const short = (id: string, n = 12) => (id.length > n ? `${id.slice(0, n)}…` : id)

/** Rows as aligned columns under a header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/** The registry: governance, categories, actions, oracles, auditors, proxies, tokens, proposals. */
export function formatRegistry(s: ImpactState): string {
  const out = [
    `${s.name} (${s.id})`,
    `  governors: ${s.governors.map((g) => short(g)).join(', ')}; ${s.threshold} of ${s.governors.length} approve a change`,
    `  blocks per day: ${s.blocksPerDay}; last block the proxy claimed: ${s.block}`,
    `  categories ${s.categories.length}, impact actions ${s.actions.length}, oracles ${s.oracles.length}, auditors ${s.auditors.filter((a) => !a.destroyed).length}, proxies ${s.proxies.length}, requests ${s.requests.length}`,
  ]
  if (s.tokens.length > 0)
    out.push(`  tokens: ${s.tokens.map((t) => `${t.id} → ${t.address}`).join(', ')}`)
  if (s.proposals.length > 0) {
    out.push('', 'Pending changes (approve with "rwa impact approve <community> <proposal>"):')
    out.push(formatProposals(s))
  }
  return out.join('\n')
}

/** Pending registry changes and the governors who approved each. */
export function formatProposals(s: ImpactState): string {
  return table(
    ['proposal', 'change', 'approvals'],
    s.proposals.map((p) => [p.id, p.type, `${p.approvals.length} of ${s.threshold}`]),
  )
}

export function formatCategories(s: ImpactState): string {
  if (s.categories.length === 0)
    return 'No categories yet; create one with "rwa impact create-category".'
  return table(
    ['uid', 'description'],
    s.categories.map((c) => [String(c.uid), c.description]),
  )
}

export function formatActions(s: ImpactState): string {
  if (s.actions.length === 0)
    return 'No impact actions yet; create one with "rwa impact create-impact-action".'
  return s.actions
    .map(({ uid, config: a }) => {
      const money = (n: bigint) => formatImpactAmount(n, a.rewardstoken, s.tokens)
      const fields = a.fields.map(
        (f) =>
          `${f.fieldname} (${f.fieldtype === 'N' ? 'number' : 'text'}${f.mandatory ? ', mandatory' : ''})`,
      )
      return [
        `${uid}. ${a.description} (category ${a.category})`,
        `   blocks ${a.blockstart}–${a.blockend}; ${a.auditors} approval(s) of ${2 * a.auditors - 1} auditors decide`,
        `   reward ${money(a.rewardsamount)}; oracle ${money(a.rewardsoracle)}; auditors share ${money(a.rewardsauditors)}`,
        `   slashing ${money(a.slashingsauditors)} per error; suspended at ${a.maxerrorsauditor} error(s)`,
        `   fields: ${fields.length > 0 ? fields.join(', ') : 'none'}`,
      ].join('\n')
    })
    .join('\n')
}

export function formatOracles(s: ImpactState): string {
  if (s.oracles.length === 0) return 'No oracles yet; create one with "rwa impact create-oracle".'
  return table(
    ['uid', 'description', 'account', 'payout'],
    s.oracles.map((o) => [
      String(o.uid),
      o.config.description,
      short(o.config.account),
      o.payout ?? '-',
    ]),
  )
}

export function formatProxies(s: ImpactState): string {
  if (s.proxies.length === 0) return 'No proxies yet; create one with "rwa impact create-proxy".'
  return table(
    ['uid', 'account'],
    s.proxies.map((p) => [String(p.uid), p.account]),
  )
}

/** Per-token amounts of a record (stakes, earnings), each with its unit. */
function perToken(record: Readonly<Record<string, bigint>>, tokens: Tokens): string {
  const parts = Object.entries(record)
    .filter(([, v]) => v > 0n)
    .map(([t, v]) => formatImpactAmount(v, Number(t), tokens))
  return parts.length > 0 ? parts.join('; ') : '0'
}

const auditorStatus = (a: AuditorState) =>
  a.destroyed ? 'destroyed' : a.suspended ? 'suspended' : 'active'

/** Auditors by ranking: errors, missed deadlines, earnings and stake. */
export function formatAuditors(s: ImpactState): string {
  if (s.auditors.length === 0)
    return 'No auditors yet; create one with "rwa impact create-auditor".'
  const sorted = [...s.auditors].sort((a, b) => b.ranking - a.ranking)
  return table(
    ['account', 'status', 'ranking', 'matched', 'errors', 'missed', 'queue', 'earned', 'stake'],
    sorted.map((a) => [
      short(a.account),
      auditorStatus(a),
      String(a.ranking),
      String(a.matched),
      String(a.errors),
      String(a.missed),
      String(a.queue.length),
      perToken(a.earned, s.tokens),
      perToken(a.stakes, s.tokens),
    ]),
  )
}

/** One auditor in full. */
export function formatAuditor(a: AuditorState, s: ImpactState): string {
  return [
    `${a.account} (${auditorStatus(a)})`,
    `  ${a.description}; categories ${a.categories.join(', ')}; area ${a.area}`,
    `  ranking ${a.ranking}; matched ${a.matched}; errors ${a.errors}; missed deadlines ${a.missed}`,
    `  stake required: ${a.stakesmin} base units of each action's rewards token; held: ${perToken(a.stakes, s.tokens)}`,
    `  earned: ${perToken(a.earned, s.tokens)}`,
    `  payout: ${a.payout}`,
    `  queue: ${a.queue.length > 0 ? a.queue.join(', ') : 'empty'}`,
  ].join('\n')
}

/** Requests, one line each. */
export function formatRequests(requests: readonly RequestState[]): string {
  if (requests.length === 0) return 'No requests match.'
  return table(
    ['request', 'action', 'status', 'votes', 'requester', 'description'],
    requests.map((r) => [
      r.id,
      String(r.impactactionid),
      r.status,
      `${r.votes.filter((v) => v.vote === 'Y').length} Y / ${r.votes.filter((v) => v.vote === 'N').length} N of ${r.required}`,
      short(r.requester),
      r.description,
    ]),
  )
}

/** One request: status, fields, assignments with deadlines, votes, decision and payments. */
export function formatRequest(r: RequestState, s: ImpactState): string {
  const money = (n: bigint) => formatImpactAmount(n, r.action.rewardstoken, s.tokens)
  const out = [
    `${r.id}: ${r.status}`,
    `  ${r.note}`,
    `  impact action ${r.impactactionid} (${r.action.description}); ${r.required} approval(s) of ${r.seats} seats decide`,
    `  requester ${r.requester}; payout ${r.payout}`,
    `  description: ${r.description}`,
  ]
  if (r.coordinates) out.push(`  coordinates: ${r.coordinates.lat},${r.coordinates.lon}`)
  for (const [k, v] of Object.entries(r.fields)) out.push(`  ${k}: ${v}`)
  if (r.evidence.length > 0) out.push(`  evidence: ${r.evidence.join(', ')}`)
  if (r.attestations.length > 0)
    out.push(`  attested by oracle(s) ${r.attestations.map((a) => a.oracle).join(', ')}`)
  if (r.assignments.length > 0) {
    out.push('', 'Assignments:')
    out.push(
      table(
        ['auditor', 'assigned at', 'deadline', 'vote', 'unassigned'],
        r.assignments.map((a) => [
          short(a.auditor),
          `block ${a.block}`,
          `block ${a.deadline}`,
          r.votes.find((v) => v.auditor === a.auditor)?.vote ?? '-',
          a.unassigned ? `block ${a.unassigned.block} (${a.unassigned.reason})` : '-',
        ]),
      ),
    )
  }
  const d = r.decision
  if (d) {
    out.push(
      '',
      `Decision at block ${d.block}: ${d.status} (${d.approvals} Y, ${d.refusals} N); ${money(d.remainder)} left by the split returns to the pool`,
    )
    if (d.payments.length > 0)
      out.push(
        table(
          ['to', 'role', 'amount', 'batch'],
          d.payments.map((p) => [
            p.to,
            p.role,
            money(p.amount),
            p.batch === undefined ? 'queued' : String(p.batch),
          ]),
        ),
      )
    for (const slash of d.slashes)
      out.push(
        `  slashed ${short(slash.auditor)}: ${money(slash.taken)} of ${money(slash.due)} due`,
      )
  }
  return out.join('\n')
}

/** A token's pool: deposits, stakes held, queued and batched payments, and its batches. */
export function formatPool(p: PoolState, s: ImpactState): string {
  const money = (n: bigint) => formatImpactAmount(n, p.token, s.tokens)
  const out = [
    `Pool of token ${p.token} (${tokenLabel(p.token, s.tokens)}) in "${s.name}"`,
    `  deposited: ${money(p.deposited)}`,
    `  stakes held: ${money(p.stakes)}`,
    `  free for rewards: ${money(p.free)}`,
    `  decided, not batched: ${money(p.queued)}`,
    `  batched: ${money(p.batched)}; paid on chain: ${money(p.paid)}`,
  ]
  if (p.batches.length > 0)
    out.push(
      table(
        ['batch', 'block', 'payees', 'total', 'signatures', 'settled'],
        p.batches.map((b) => [
          String(b.batch),
          String(b.block),
          String(b.payees.length),
          money(b.total),
          String(b.signatures.length),
          b.settled ? `tx ${b.settled.tx} at block ${b.settled.block}` : 'no',
        ]),
      ),
    )
  return out.join('\n')
}
