import type { Logger } from 'pino'
import { ETH_UNIT, formatAmount, type TokenUnit, unknownUnit } from '../../core/amount.ts'
import type { ImpactReducer } from '../../core/impact/domain.ts'
import { IMPACT_LIMITS } from '../../core/impact/formats.ts'
import { IMPACT_OP } from '../../core/impact/ops.ts'
import type { Assignment, RequestState } from '../../core/impact/state.ts'
import { BaseError } from '../../errors/base.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { Accounts, LocalAccount } from '../../node/accounts.ts'
import type { ChatContext, ChatMessage, ChatPart } from '../plugin.ts'
import type { ImpactActions, ImpactIndex } from './actions.ts'

// The impact domain's chat part, written against the seam only (ChatContext, ChatPart). A person's
// chat JID maps to a custodial local account; its key is the auditor key the governors
// registered. The part follows the ledger: a seat on an approval request is pushed to its auditor
// as a numbered open vote, a `Y` or `N` signs `impact.vote` for the account, and the decision is
// told to every auditor that held a seat and to the requester. Every reply uses chat's words (no
// op types, API fields or statuses in capitals).

/** What the impact chat needs from the node. */
export type ImpactChatDeps = {
  readonly index: ImpactIndex
  readonly actions: ImpactActions
  readonly accounts: Accounts
  /**
   * The node's ledger: pushes follow its accepted ops (the index has no subscription of its
   * own). Without it the part still answers, and catches up at start and on each reminder.
   */
  readonly ledger?: Pick<Ledger, 'onAccepted'> | undefined
  readonly logger?: Logger | undefined
  /** The unit of a rewards token (default: ETH for 0, base units of token n otherwise). */
  readonly unitOf?: ((token: number) => Promise<TokenUnit>) | undefined
}

/** One request this person follows: a seat it holds (an open vote while `n` is set) or its own request. */
type Followed = {
  /** Community and request. */
  c: OpId
  r: OpId
  as: 'auditor' | 'requester'
  /** The number of the open vote, while it is open. */
  n?: number
  /** When it was pushed (on the chat's clock). */
  at?: number
  /** Reminded of its deadline already. */
  reminded?: boolean
}

/** A person's record, kept across restarts in `context.memory`. */
type Talk = {
  /** The next vote number (numbers stay put while any vote is open; they restart at 1 after). */
  next: number
  follows: Followed[]
  /** The vote a bare `Y` or `N` answers: shown alone in a reply, or pushed before the answer came. */
  asked?: { c: OpId; r: OpId; at: number; push: boolean }
}

/** Requests followed per person at most: the record stays far under the memory's 16 kB. */
const MAX_FOLLOWED = 64
/** Open votes listed at most in one reply. */
const MAX_LISTED = 20
/** Characters of a request's description, field or note quoted in a message. */
const QUOTE = 300

const GREETING =
  'Impact actions: auditors assigned to an approval request get it here and answer Y or N.'

/** What an impact auditor may say. */
export const IMPACT_MENU = [
  'Impact action commands:',
  '  Y · N — approve or refuse the approval request I showed you; add a note after it ("N photo is of a bush")',
  '  vote <number> Y · vote <number> N <note> — vote on one of your numbered open votes',
  '  vote <number> — show that request again, so that Y and N answer it',
  '  votes — your open votes',
  '  status · help',
].join('\n')

const STATUS_WORDS: Record<RequestState['status'], string> = {
  WAITING_FOR_AUDITORS: 'waiting for auditors',
  VOTING: 'being voted on',
  APPROVED: 'approved',
  REFUSED: 'refused',
  EXPIRED: 'expired',
}

/** `1 vote`, `3 votes`. */
const count = (n: number, singular: string, plural = `${singular}s`) =>
  `${n} ${n === 1 ? singular : plural}`

/** Text from the network, quoted on one line and bounded. */
function quote(text: string, max = QUOTE): string {
  const line = text
    .replace(/\s+/g, ' ')
    .replace(/\p{Cc}/gu, '')
    .trim()
  return line.length > max ? `${line.slice(0, max)}…` : line
}

/** `12,345`: a block number as people read it. */
const blockText = (block: number) => block.toLocaleString('en-US')

/** An error of the shared impact rules (written for the CLI and the API) in chat words. */
export function inImpactChatWords(text: string): string {
  return text
    .replace(
      /\b(WAITING_FOR_AUDITORS|VOTING|APPROVED|REFUSED|EXPIRED)\b/g,
      (s) => STATUS_WORDS[s as RequestState['status']],
    )
    .replace(/ \(rwa impact [^)]*\)/g, '')
    .replace(/\bthis key holds\b/g, 'you hold')
    .replace(/\bThis auditor has\b/g, 'You have')
    .replace(/\bThis auditor was\b/g, 'You were')
    .replace(/\bThis auditor is\b/g, 'You are')
    .replace(/\bit votes no more\b/g, 'you vote no more')
}

/**
 * A bare answer: `Y` or `N` with an optional note (on one line: the vote's text refuses control
 * characters), or a lone yes/no when `loose` (nobody else took it).
 */
function parseAnswer(text: string, loose: boolean): { vote: 'Y' | 'N'; note?: string } | undefined {
  const match = /^(y|n|yes|no)(?:[\s:,.!-]+([\s\S]*))?$/i.exec(text.trim())
  if (!match) return undefined
  const word = match[1]!.toLowerCase()
  // Y and N are the original's values; a bare "yes" or "no" is taken too, but not "no idea…".
  const note = match[2]
    ?.replace(/\s+/g, ' ')
    .replace(/\p{Cc}/gu, '')
    .trim()
  if (word.length > 1 && (!loose || note)) return undefined
  return { vote: word.startsWith('y') ? 'Y' : 'N', ...(note ? { note } : {}) }
}

/** `vote 2 Y note`, `vote 2`, `vote`: the number, and the answer when given. */
function parseVoteCommand(arg: string): { n?: number; rest: string } {
  const match = /^(\d{1,6})\b\s*([\s\S]*)$/.exec(arg)
  if (!match) return { rest: arg }
  return { n: Number(match[1]), rest: match[2]!.trim() }
}

/**
 * Creates the impact chat: open votes pushed to assigned auditors, answered with `Y`/`N` or
 * `vote <n> Y`, decisions told to auditors and requesters, reminders near a deadline, and the
 * person's open votes in `help` and `status`.
 * @example
 * chat: (context) => createImpactChat({ index, actions, accounts, ledger }, context)
 */
export function createImpactChat(deps: ImpactChatDeps, context: ChatContext): ChatPart {
  const { index, actions, accounts } = deps
  const { send, memory, now } = context
  const unitOf =
    deps.unitOf ?? (async (token: number) => (token === 0 ? ETH_UNIT : unknownUnit(String(token))))
  let events: Promise<void> = Promise.resolve()
  let reminding = false
  let unsubscribe: (() => void) | undefined

  const run = (task: () => Promise<void>) => {
    events = events.then(task).catch(context.onError)
    return events
  }

  // ---- the person's record ----

  /** A person's record as stored (checked field by field: it may be from an older version). */
  function load(jid: string): Talk {
    const raw = memory.get(jid) as Record<string, unknown> | undefined
    const talk: Talk = { next: 1, follows: [] }
    if (!raw || typeof raw !== 'object') return talk
    if (typeof raw.next === 'number' && Number.isSafeInteger(raw.next) && raw.next > 0)
      talk.next = raw.next
    const list = Array.isArray(raw.follows) ? raw.follows.slice(-MAX_FOLLOWED) : []
    for (const item of list) {
      const e = item as Record<string, unknown> | null
      if (!e || typeof e.c !== 'string' || typeof e.r !== 'string') continue
      if (e.as !== 'auditor' && e.as !== 'requester') continue
      const f: Followed = { c: e.c as OpId, r: e.r as OpId, as: e.as }
      if (typeof e.n === 'number' && Number.isSafeInteger(e.n)) f.n = e.n
      if (typeof e.at === 'number') f.at = e.at
      if (e.reminded === true) f.reminded = true
      talk.follows.push(f)
    }
    const a = raw.asked as Record<string, unknown> | undefined
    if (a && typeof a.c === 'string' && typeof a.r === 'string')
      talk.asked = {
        c: a.c as OpId,
        r: a.r as OpId,
        at: typeof a.at === 'number' ? a.at : 0,
        push: a.push === true,
      }
    return talk
  }

  /** Changes a person's record: read, changed and written with no wait in between. */
  function update<T>(jid: string, change: (talk: Talk) => T): T {
    const talk = load(jid)
    const result = change(talk)
    if (!talk.follows.some((f) => f.n !== undefined)) talk.next = 1
    if (talk.asked && !open(talk, talk.asked.c, talk.asked.r)) delete talk.asked
    if (talk.follows.length > MAX_FOLLOWED) talk.follows = dropOldest(talk.follows)
    const keep = talk.follows.length > 0
    // Someone who follows only their own requests holds no seat: forgotten first in a flood.
    const disposable = !talk.follows.some((f) => f.as === 'auditor')
    memory.set(jid, keep ? talk : undefined, { disposable })
    return result
  }

  /** Over the limit: the oldest followed requests go first, open votes last. */
  function dropOldest(follows: Followed[]): Followed[] {
    const excess = follows.length - MAX_FOLLOWED
    const closed = follows.filter((f) => f.n === undefined).slice(0, excess)
    const kept = follows.filter((f) => !closed.includes(f))
    return kept.slice(-MAX_FOLLOWED)
  }

  const find = (talk: Talk, c: OpId, r: OpId, as: Followed['as']) =>
    talk.follows.find((f) => f.c === c && f.r === r && f.as === as)
  const open = (talk: Talk, c: OpId, r: OpId) => find(talk, c, r, 'auditor')?.n !== undefined
  const openVotes = (talk: Talk) =>
    talk.follows.filter((f) => f.as === 'auditor' && f.n !== undefined)
  const remove = (talk: Talk, c: OpId, r: OpId, as: Followed['as']) => {
    talk.follows = talk.follows.filter((f) => !(f.c === c && f.r === r && f.as === as))
  }

  // ---- who is who ----

  /** The JID of each of the node's chat accounts, by Ed25519 key. */
  function jidsByKey(): Map<string, string> {
    return new Map(accounts.list().flatMap((a) => (a.jid ? [[a.key, a.jid] as const] : [])))
  }

  /** The communities where `key` is a registered auditor (destroyed ones included). */
  async function auditorIn(key: string): Promise<ImpactReducer[]> {
    const out: ImpactReducer[] = []
    for (const { id } of index.list()) {
      const reducer = await index.reducer(id)
      if (reducer.auditor(key)) out.push(reducer)
    }
    return out
  }

  // ---- what the messages say ----

  async function money(amount: bigint, token: number): Promise<string> {
    return formatAmount(amount, await unitOf(token))
  }

  /** `block 21,610 (in about 3 days, around 06 Dec 2026 09:00 UTC; …)`: a deadline and roughly when. */
  function deadlineText(reducer: ImpactReducer, deadline: number): string {
    const current = reducer.machine.block
    const perDay = reducer.machine.blocksPerDay
    const left = deadline - current
    if (left < 0) return `block ${blockText(deadline)}, which has passed`
    const ms = (left / perDay) * 86_400_000
    const hours = ms / 3_600_000
    const about =
      hours < 1
        ? 'in less than an hour'
        : hours < 48
          ? `in about ${count(Math.round(hours), 'hour')}`
          : `in about ${count(Math.round(hours / 24), 'day')}`
    const when = new Date(now() + ms).toUTCString().slice(5, 22)
    return `block ${blockText(deadline)} (${about}, around ${when} UTC; the community counts ${blockText(perDay)} blocks a day)`
  }

  /** The request as an auditor needs it: description, fields, place, evidence. */
  function requestLines(request: RequestState): string[] {
    const lines = [
      `"${quote(request.description)}" (impact action ${request.impactactionid}: ${quote(request.action.description, 120)})`,
    ]
    for (const [name, value] of Object.entries(request.fields).slice(0, 32))
      lines.push(`  ${quote(name, 64)}: ${quote(value)}`)
    if (request.coordinates)
      lines.push(`  coordinates: ${request.coordinates.lat},${request.coordinates.lon}`)
    if (request.evidence.length > 0)
      lines.push(
        `  evidence: ${request.evidence
          .slice(0, 16)
          .map((e) => quote(e, 100))
          .join(', ')}`,
      )
    return lines
  }

  const seatOf = (request: RequestState, key: string): Assignment | undefined =>
    request.assignments.find((a) => a.auditor === key && !a.unassigned)

  /** An open vote, in full, with how to answer it. */
  function offerText(
    reducer: ImpactReducer,
    request: RequestState,
    key: string,
    n: number,
    several: boolean,
  ): string {
    const seat = seatOf(request, key)
    const head = `Community "${quote(reducer.name, 100)}", vote ${n}: is this approval request true?`
    const by = seat ? `Vote by ${deadlineText(reducer, seat.deadline)}.` : ''
    const how = several
      ? `Answer "vote ${n} Y" to approve or "vote ${n} N" to refuse, optionally with a note: "vote ${n} N photo is of a bush".`
      : 'Answer Y to approve or N to refuse, optionally with a note: "N photo is of a bush".'
    return [head, ...requestLines(request), by, how].filter(Boolean).join('\n')
  }

  /** One line per open vote, numbered. */
  async function listText(talk: Talk, key: string): Promise<string> {
    const votes = openVotes(talk)
    const lines: string[] = []
    for (const f of votes.slice(0, MAX_LISTED)) {
      const reducer = await index.reducer(f.c)
      const request = reducer.request(f.r)
      const seat = request && seatOf(request, key)
      lines.push(
        `${f.n}. "${quote(request?.description ?? '?', 80)}" in "${quote(reducer.name, 60)}"${seat ? `, by block ${blockText(seat.deadline)}` : ''}`,
      )
    }
    if (votes.length > MAX_LISTED) lines.push(`… and ${votes.length - MAX_LISTED} more.`)
    return `You have ${count(votes.length, 'open vote')}:\n${lines.join('\n')}\nAnswer with "vote <number> Y" or "vote <number> N <note>"; "vote <number>" shows one again.`
  }

  // ---- following the ledger ----

  /** Brings every chat account's record of request `r` up to date, and tells what changed. */
  async function syncRequest(c: OpId, r: OpId): Promise<void> {
    if (!index.has(c)) return
    const reducer = await index.reducer(c)
    const request = reducer.request(r)
    if (!request) return
    const byKey = jidsByKey()
    const requesterJid = byKey.get(request.requester)
    if (requesterJid) await syncRequester(requesterJid, reducer, request)
    const seen = new Set<string>()
    for (const { auditor } of request.assignments) {
      const jid = byKey.get(auditor)
      if (!jid || seen.has(auditor)) continue
      seen.add(auditor)
      await syncAuditor(jid, auditor, reducer, request)
    }
  }

  const closed = (request: RequestState) =>
    request.status === 'APPROVED' || request.status === 'REFUSED' || request.status === 'EXPIRED'

  async function syncRequester(
    jid: string,
    reducer: ImpactReducer,
    request: RequestState,
  ): Promise<void> {
    const c = reducer.machine.id
    const followed = find(load(jid), c, request.id, 'requester')
    if (!closed(request)) {
      if (!followed)
        update(jid, (t) => {
          t.follows.push({ c, r: request.id, as: 'requester' })
        })
      return
    }
    if (!followed) return
    update(jid, (t) => remove(t, c, request.id, 'requester'))
    send(jid, await requesterDecisionText(reducer, request))
  }

  async function syncAuditor(
    jid: string,
    key: string,
    reducer: ImpactReducer,
    request: RequestState,
  ): Promise<void> {
    const c = reducer.machine.id
    const seat = seatOf(request, key)
    const voted = request.votes.some((v) => v.auditor === key)
    const followed = find(load(jid), c, request.id, 'auditor')
    if (!closed(request) && seat && !voted) {
      if (followed?.n === undefined) pushOffer(jid, key, reducer, request)
      return
    }
    if (!followed) return
    if (closed(request)) {
      update(jid, (t) => remove(t, c, request.id, 'auditor'))
      send(jid, await auditorDecisionText(reducer, request, key))
      return
    }
    if (!seat) {
      update(jid, (t) => remove(t, c, request.id, 'auditor'))
      send(jid, unassignedText(reducer, request, key))
      return
    }
    // Voted (here or through another interface): the vote is no longer open; the decision comes.
    if (followed.n !== undefined)
      update(jid, (t) => {
        const f = find(t, c, request.id, 'auditor')
        if (f) delete f.n
      })
  }

  /** Pushes a new open vote, numbered when the person has several. */
  function pushOffer(jid: string, key: string, reducer: ImpactReducer, request: RequestState) {
    const c = reducer.machine.id
    const at = now()
    const { n, several } = update(jid, (t) => {
      let f = find(t, c, request.id, 'auditor')
      if (!f) {
        f = { c, r: request.id, as: 'auditor' }
        t.follows.push(f)
      }
      f.n = t.next++
      f.at = at
      delete f.reminded
      const several = openVotes(t).length > 1
      // A bare answer goes to the one open vote; with several, it needs the number.
      if (several) delete t.asked
      else t.asked = { c, r: request.id, at, push: true }
      return { n: f.n, several }
    })
    const others = several ? `\n(You have other open votes too; send "votes" to see them all.)` : ''
    deps.logger?.debug({ jid, community: c, request: request.id, n }, 'impact chat: vote offered')
    send(jid, `${offerText(reducer, request, key, n, several)}${others}`)
  }

  function unassignedText(reducer: ImpactReducer, request: RequestState, key: string): string {
    const seat = request.assignments.findLast((a) => a.auditor === key)
    const what = `"${quote(request.description, 80)}" in "${quote(reducer.name, 60)}"`
    const reason = seat?.unassigned?.reason
    if (reason === 'deadline')
      return `You missed the deadline (block ${blockText(seat!.deadline)}) for ${what}: your seat went to another auditor, and it lowers your ranking.`
    if (reason === 'suspended')
      return `You are suspended in "${quote(reducer.name, 60)}", so your seat on ${what} went to another auditor.`
    return `You are no longer an auditor of "${quote(reducer.name, 60)}", so your seat on ${what} was given up.`
  }

  /** `approved (2 Y, 1 N)`. */
  function outcome(request: RequestState): string {
    const d = request.decision
    if (!d) return STATUS_WORDS[request.status]
    return `${STATUS_WORDS[d.status]} (${d.approvals} Y, ${d.refusals} N)`
  }

  async function auditorDecisionText(
    reducer: ImpactReducer,
    request: RequestState,
    key: string,
  ): Promise<string> {
    const what = `Approval request "${quote(request.description, 80)}" in "${quote(reducer.name, 60)}"`
    const d = request.decision
    if (!d) return `${what} expired without a decision; it pays nobody, and your seat is closed.`
    const head = `${what} is decided: ${outcome(request)}.`
    const vote = request.votes.find((v) => v.auditor === key)
    if (!vote) return `${head} It was decided without your vote.`
    const token = request.action.rewardstoken
    if (d.matched.includes(key)) {
      const earned = d.payments
        .filter((p) => p.role === 'auditor' && p.account === key)
        .reduce((sum, p) => sum + p.amount, 0n)
      return `${head} Your vote ${vote.vote} matched it: you earned ${await money(earned, token)}, paid to ${seatPayout(request, key)} once settled on chain.`
    }
    const slash = d.slashes.find((s) => s.auditor === key)
    const taken = slash ? await money(slash.taken, token) : await money(0n, token)
    const short =
      slash && slash.taken < slash.due
        ? ` (${await money(slash.due, token)} was due; your stake held less)`
        : ''
    const auditor = reducer.auditor(key)
    const max = request.action.maxerrorsauditor
    const errors = auditor ? auditor.errors : 0
    const suspended = auditor?.suspended
      ? ` You are now suspended in "${quote(reducer.name, 60)}": ${count(errors, 'error')} reached the ${max} allowed, so you get no more votes there.`
      : ` That is ${count(errors, 'error')} of the ${max} that suspend an auditor.`
    return `${head} Your vote ${vote.vote} contradicted it: ${taken} was slashed from your stake${short}, and it counts as an error.${suspended}`
  }

  const seatPayout = (request: RequestState, key: string) =>
    request.assignments.findLast((a) => a.auditor === key)?.payout ?? 'your payout address'

  async function requesterDecisionText(
    reducer: ImpactReducer,
    request: RequestState,
  ): Promise<string> {
    const what = `Your approval request "${quote(request.description, 80)}" in "${quote(reducer.name, 60)}"`
    if (request.status === 'EXPIRED')
      return `${what} expired: its impact action no longer takes requests, so it pays nothing.`
    if (request.status === 'REFUSED') return `${what} was refused: ${outcome(request)}.`
    const paid = request
      .decision!.payments.filter((p) => p.role === 'requester')
      .reduce((sum, p) => sum + p.amount, 0n)
    return `${what} was approved: ${outcome(request)}. It pays you ${await money(paid, request.action.rewardstoken)} to ${request.payout}, once settled on chain.`
  }

  /** The request an accepted op is about, if it may change what a person is told. */
  function requestOf(type: string, id: OpId, body: unknown): OpId | undefined {
    if (type === IMPACT_OP.requestApproval) return id
    const watched: readonly string[] = [
      IMPACT_OP.assignAuditor,
      IMPACT_OP.destroyAssignedAuditor,
      IMPACT_OP.vote,
      IMPACT_OP.decide,
      IMPACT_OP.expire,
    ]
    if (!watched.includes(type)) return undefined
    const request = (body as { request?: unknown } | null)?.request
    return typeof request === 'string' ? (request as OpId) : undefined
  }

  /** After a start: every chat account's open votes and followed requests, brought up to date. */
  async function catchUp(): Promise<void> {
    const pairs = new Map<string, [OpId, OpId]>()
    const add = (c: OpId, r: OpId) => pairs.set(`${c} ${r}`, [c, r])
    for (const [jid] of memory.entries()) for (const f of load(jid).follows) add(f.c, f.r)
    const keys = new Set(jidsByKey().keys())
    for (const { id } of index.list()) {
      const reducer = await index.reducer(id)
      for (const key of keys) for (const r of reducer.auditor(key)?.queue ?? []) add(id, r)
    }
    for (const [c, r] of pairs.values()) await syncRequest(c, r)
  }

  // ---- answers ----

  /**
   * The open vote a bare answer received at `receivedAt` is for: the one asked about (shown in a
   * reply, or pushed before the answer came), else the only open vote pushed before it came.
   */
  function bareTarget(talk: Talk, receivedAt: number): Followed | undefined {
    const asked = talk.asked
    if (asked && (!asked.push || asked.at <= receivedAt)) {
      const f = find(talk, asked.c, asked.r, 'auditor')
      if (f?.n !== undefined) return f
    }
    const votes = openVotes(talk)
    if (votes.length === 1 && (votes[0]!.at ?? 0) <= receivedAt) return votes[0]
    return undefined
  }

  /** Why `account` cannot vote on `request` now, in chat words; undefined when it can. */
  function refusal(reducer: ImpactReducer, request: RequestState, key: string): string | undefined {
    const what = `"${quote(request.description, 80)}" in "${quote(reducer.name, 60)}"`
    const earlier = request.votes.find((v) => v.auditor === key)
    if (earlier) return `You voted ${earlier.vote} on ${what} already; each auditor votes once.`
    if (closed(request))
      return request.status === 'EXPIRED'
        ? `${what} expired; it takes no votes.`
        : `${what} is decided already: ${outcome(request)}. Your vote was not taken.`
    const seat = seatOf(request, key)
    if (!seat) {
      const last = request.assignments.findLast((a) => a.auditor === key)
      return last?.unassigned?.reason === 'deadline'
        ? `You no longer hold a seat on ${what}: you missed its deadline (block ${blockText(last.deadline)}) and the seat went to another auditor. Your vote was not taken.`
        : `You hold no seat on ${what}, so your vote was not taken.`
    }
    if (reducer.auditor(key)?.suspended)
      return `You are suspended in "${quote(reducer.name, 60)}"; your vote was not taken.`
    if (reducer.machine.block > seat.deadline)
      return `The deadline for ${what} (block ${blockText(seat.deadline)}) has passed: the community is at block ${blockText(reducer.machine.block)}, and your seat goes to another auditor. Your vote was not taken.`
    return undefined
  }

  /** Signs the vote for the person's account, and says what was recorded and what is left. */
  async function cast(
    jid: string,
    account: LocalAccount,
    target: Followed,
    vote: 'Y' | 'N',
    note: string | undefined,
  ): Promise<string[]> {
    const reducer = await index.reducer(target.c)
    const request = reducer.request(target.r)
    const forget = () => update(jid, (t) => remove(t, target.c, target.r, 'auditor'))
    if (!request) {
      forget()
      return ['That request is no longer here; send "votes" for your open votes.']
    }
    const refused = refusal(reducer, request, account.key)
    if (refused) {
      const seat = seatOf(request, account.key)
      if (!seat || closed(request)) forget()
      return [refused]
    }
    if (note && Buffer.byteLength(note) > IMPACT_LIMITS.infoBytes)
      return [
        `Your note is ${Buffer.byteLength(note)} bytes; a note may be at most ${IMPACT_LIMITS.infoBytes}. Send a shorter one; your vote was not taken.`,
      ]
    const body = { vote, ...(note ? { otherinfo: note } : {}) }
    await actions.act(account, target.c, IMPACT_OP.vote, {
      request: target.r,
      vote: JSON.stringify(body),
    })
    update(jid, (t) => {
      const f = find(t, target.c, target.r, 'auditor')
      if (f) delete f.n
    })
    return [await recordedText(target, vote, note), ...(await nextText(jid, account.key))]
  }

  async function recordedText(target: Followed, vote: 'Y' | 'N', note: string | undefined) {
    const reducer = await index.reducer(target.c)
    const request = reducer.request(target.r)!
    const noted = note ? `, with your note "${quote(note, 200)}"` : ''
    return `Recorded your vote ${vote} (${vote === 'Y' ? 'approve' : 'refuse'}) on "${quote(request.description, 80)}" in "${quote(reducer.name, 60)}"${noted}. ${count(request.votes.length, 'vote')} of ${count(request.seats, 'seat')} so far; ${count(request.required, 'matching vote')} ${request.required === 1 ? 'decides' : 'decide'}.`
  }

  /** What is left after a vote: the one open vote shown (Y and N answer it), or the list. */
  async function nextText(jid: string, key: string): Promise<string[]> {
    const talk = load(jid)
    const votes = openVotes(talk)
    if (votes.length === 0) return []
    if (votes.length > 1) return [await listText(talk, key)]
    return show(jid, votes[0]!, 'Your other open vote:')
  }

  /** Shows one open vote in a reply; a bare Y or N then answers it. */
  async function show(jid: string, f: Followed, lead?: string): Promise<string[]> {
    const account = accounts.byJid(jid)!
    const reducer = await index.reducer(f.c)
    const request = reducer.request(f.r)
    if (!request) return ['That request is no longer here; send "votes" for your open votes.']
    update(jid, (t) => {
      t.asked = { c: f.c, r: f.r, at: now(), push: false }
    })
    const text = offerText(reducer, request, account.key, f.n!, false)
    return [lead ? `${lead}\n${text}` : text]
  }

  async function voteCommand(message: ChatMessage, account: LocalAccount, arg: string) {
    const { jid } = message
    const talk = load(jid)
    const votes = openVotes(talk)
    if (votes.length === 0) return ['You have no open vote now.']
    const { n, rest } = parseVoteCommand(arg)
    if (n === undefined) return [await listText(talk, account.key)]
    const target = votes.find((f) => f.n === n)
    if (!target) return [`You have no open vote ${n}. ${await listText(talk, account.key)}`]
    if (!rest) return show(jid, target)
    const answer = parseAnswer(rest, true)
    if (!answer)
      return [`Say Y or N after the number: "vote ${n} Y", or "vote ${n} N photo is of a bush".`]
    return cast(jid, account, target, answer.vote, answer.note)
  }

  async function bareAnswer(
    message: ChatMessage,
    account: LocalAccount,
    answer: { vote: 'Y' | 'N'; note?: string },
  ): Promise<string[]> {
    const talk = load(message.jid)
    const target = bareTarget(talk, message.receivedAt)
    if (target) return cast(message.jid, account, target, answer.vote, answer.note)
    const votes = openVotes(talk)
    if (votes.length === 0) return ['You have no open vote now.']
    return [`Which one? ${await listText(talk, account.key)}`]
  }

  async function converse(message: ChatMessage): Promise<string[] | undefined> {
    const account = accounts.byJid(message.jid)
    if (!account) return undefined
    const text = message.text
    const [first = ''] = text.split(/\s+/)
    const word = first.toLowerCase()
    const talk = load(message.jid)
    const hasVotes = openVotes(talk).length > 0
    if (word === 'votes' && text.length === first.length)
      return hasVotes
        ? [await listText(talk, account.key)]
        : (await auditorIn(account.key)).length > 0
          ? ['You have no open vote now.']
          : undefined
    if (word === 'vote' && hasVotes)
      return voteCommand(message, account, text.slice(first.length).trim())
    const answer = parseAnswer(text, true)
    if (answer && hasVotes) return bareAnswer(message, account, answer)
    // An auditor of a community answering a vote that is gone (decided, unassigned).
    if (answer && (await auditorIn(account.key)).length > 0) return ['You have no open vote now.']
    return undefined
  }

  // ---- help, status, reminders ----

  async function statusText(jid: string): Promise<string | undefined> {
    const account = accounts.byJid(jid)
    if (!account) return undefined
    const talk = load(jid)
    const lines: string[] = []
    if (openVotes(talk).length > 0) lines.push(await listText(talk, account.key))
    else if ((await auditorIn(account.key)).length > 0)
      lines.push('Impact actions: you have no open vote now.')
    for (const f of talk.follows.filter((f) => f.as === 'requester').slice(-MAX_LISTED)) {
      const reducer = await index.reducer(f.c)
      const request = reducer.request(f.r)
      if (!request) continue
      const votes =
        request.status === 'VOTING'
          ? `, ${count(request.votes.length, 'vote')} of ${request.seats}`
          : ''
      lines.push(
        `Your approval request "${quote(request.description, 80)}" in "${quote(reducer.name, 60)}" is ${STATUS_WORDS[request.status]}${votes}.`,
      )
    }
    return lines.length > 0 ? lines.join('\n') : undefined
  }

  /** Reminds of open votes that have used half the time to their deadline (once per vote). */
  async function remindOnce(): Promise<void> {
    for (const [jid] of memory.entries()) {
      const account = accounts.byJid(jid)
      if (!account) continue
      for (const f of openVotes(load(jid))) {
        if (f.reminded) continue
        const reducer = await index.reducer(f.c)
        const request = reducer.request(f.r)
        const seat = request && seatOf(request, account.key)
        if (!request || !seat || closed(request)) continue
        if (reducer.machine.block - seat.block < (seat.deadline - seat.block) / 2) continue
        update(jid, (t) => {
          const e = find(t, f.c, f.r, 'auditor')
          if (e) e.reminded = true
        })
        const several = openVotes(load(jid)).length > 1
        send(
          jid,
          `Reminder: half the time for this vote has passed.\n${offerText(reducer, request, account.key, f.n!, several)}`,
        )
      }
    }
  }

  return {
    // Narrow: "votes", "vote <number of an open vote>", and Y or N while this person has an
    // open vote (the answer to what this part just asked). "yes"/"no" are only taken when no
    // other part answered them.
    claims({ jid, text }) {
      const talk = load(jid)
      const votes = openVotes(talk)
      if (votes.length === 0) return false
      const [first = ''] = text.split(/\s+/)
      const word = first.toLowerCase()
      if (word === 'votes' && text.length === first.length) return true
      if (word === 'vote') {
        const { n } = parseVoteCommand(text.slice(first.length).trim())
        return n !== undefined && votes.some((f) => f.n === n)
      }
      return parseAnswer(text, false) !== undefined
    },
    async handle(message) {
      try {
        return await converse(message)
      } catch (error) {
        // The impact rules speak to the CLI and the API; a refusal here is said in chat's words.
        if (error instanceof BaseError)
          return [`Your vote was not taken: ${inImpactChatWords(error.shortMessage)}`]
        throw error
      }
    },
    greeting: GREETING,
    async help(jid) {
      const account = accounts.byJid(jid)
      if (!account) return undefined
      const votes = openVotes(load(jid)).length
      if (votes === 0 && (await auditorIn(account.key)).length === 0) return undefined
      return votes > 0
        ? `${IMPACT_MENU}\nYou have ${count(votes, 'open vote')}: send "votes".`
        : IMPACT_MENU
    },
    status: statusText,
    async start() {
      unsubscribe = deps.ledger?.onAccepted((ops) => {
        const touched = new Map<string, [OpId, OpId]>()
        for (const { doc, op } of ops) {
          const r = requestOf(op.op.type, op.id, op.op.body)
          if (r && index.has(doc)) touched.set(`${doc} ${r}`, [doc, r])
        }
        for (const [c, r] of touched.values()) run(() => syncRequest(c, r))
      })
      await run(catchUp)
    },
    stop() {
      unsubscribe?.()
    },
    async remind() {
      // One pass at a time: a slow pass overlapped by the next would remind twice.
      if (reminding) return
      reminding = true
      try {
        if (!deps.ledger) await run(catchUp)
        await run(remindOnce)
      } finally {
        reminding = false
      }
    },
    settled: () => events,
  }
}
