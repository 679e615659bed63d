import { recoverMessageAddress } from 'viem'
import type { ChainInfo } from '../../chain/chain-service.ts'
import {
  ETH_UNIT,
  formatAmount,
  parseAmount,
  type TokenUnit,
  unknownUnit,
} from '../../core/amount.ts'
import { parseAnswer } from '../../core/audit/answer.ts'
import { auditorSummary, nextInspection, outstandingInspections } from '../../core/audit/queries.ts'
import type { AuditState } from '../../core/audit/state.ts'
import { AUDIT_OP, S } from '../../core/audit/states.ts'
import { identityMessage, parseChecksumAddress } from '../../core/identity.ts'
import { BaseError } from '../../errors/base.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { AccountQuotaError, type Accounts, type LocalAccount } from '../../node/accounts.ts'
import { memoryOnly } from '../../xmpp/conversations.ts'
import type { ChatMemory, ChatMessage, ChatPart } from '../plugin.ts'
import type { AuditActions } from './actions.ts'
import type { AuditIndex } from './audit-index.ts'
import { createChatMoney } from './chat-money.ts'
import { CHAT_PARAMS, count, inChatWords, nearMiss, PHASE, refusedNow } from './chat-words.ts'
import type { AuditMoney } from './funding.ts'
import { settledTransaction } from './settled-tx.ts'

/** What the audit chat needs from the node, and how it sends messages nobody asked for. */
export type AuditChatDeps = {
  readonly accounts: Accounts
  readonly audits: AuditIndex
  readonly actions: AuditActions
  readonly ledger: Ledger
  /** Bare JIDs (lowercase) that may create audits by chat. */
  readonly admins: readonly string[]
  /** Sends a message to a bare JID (inspections, reminders, results): every device gets it. */
  send(jid: string, text: string): void
  now?: () => number
  onError?: (error: unknown) => void
  /** The unit of an audit's token, to show amounts in (default: ETH for native, else base units). */
  unitOf?: (token: string) => Promise<TokenUnit>
  /** Where each person's conversation is kept across restarts (default: memory only). */
  memory?: ChatMemory
  /** The absolute URL of a page of the node's dashboard. */
  pageUrl?: (path: string) => string
  /** The escrow's side: how much funding an audit needs, what an address is owed. */
  money?: Pick<AuditMoney, 'funding' | 'owed'>
  /** The node's chain, when it has one. */
  chain?: () => ChainInfo | undefined
  /** `[chain] explorer_url`: transactions link there. */
  explorerUrl?: string | undefined
}

const defaultUnitOf = async (token: string) => (token === 'native' ? ETH_UNIT : unknownUnit(token))

/** A registration in progress: the audit chosen, then the address given. */
type Joining = { audit: OpId; name: string; payout?: string; at: number }

/** The inspection last shown to a person, and whether a push (not a reply) showed it. */
type Shown = { audit: OpId; item: OpId; at: number; push: boolean }

/** A person's conversation, kept across restarts. */
type Conversation = {
  joining?: Joining
  /** The audit an admin's commands act on (`use`). */
  use?: OpId
  /**
   * The inspections shown most recently, oldest first (at most `SHOWN_KEPT`): a message answers
   * the newest one shown before it was sent, or shown in a reply to the person.
   */
  shown?: Shown[]
}

/** The last inspection pushed to a chat auditor in an audit, for reminders. */
type Sent = { item: OpId; at: number; reminded: boolean }

/** Joinings younger than this are resumed with a message after a restart; older ones wait silently. */
const RESUME_JOINING_MS = 24 * 60 * 60 * 1000
/** Inspections remembered as shown, per person. */
const SHOWN_KEPT = 8

/** Audits listed at most in one reply. */
const MAX_LISTED = 20

export const ADMIN_MENU = [
  'Admin commands:',
  '  create <name> <bond> — a new audit; the bond in ETH ("create Street lights 0.5 ETH") or in base units',
  '  use <audit name> — pick which of your audits the commands act on',
  '  state · items · add <description> · del <number>',
  '  set num_audits_per_item <odd number ≥ 3> · set slashing_ratio <ratio> · set num_items <n>',
  '  set inspection_deadline <milliseconds>',
  '  open · close · start · stop · stop force',
  '  outstanding_inspections · results · settlement',
  '  status — your audits and what each waits for · help',
  "You may also audit other people's audits: send me an audit's exact name while it is open for registration.",
].join('\n')

export const AUDITOR_MENU = [
  'Auditor commands:',
  '  <audit name> — join an audit while it is open for registration',
  '  yes · no — answer the inspection I showed you last (also y/n, true/false, 1/0, t/f)',
  "  answer <audit name> yes — answer that audit's inspection",
  "  use <audit name> — show that audit's inspection, so that yes and no answer it",
  '  status — your audits and what each waits for',
  '  result [audit name] — your result and pay in finished audits',
  '  help',
].join('\n')

const STRANGER_HELP =
  "Hi! I'm the Real World Auditor bot. To become an auditor, send me the exact name of an audit while it is open for registration."

/** When the node may hold no more chat accounts (`[xmpp] max_accounts`), in chat's words. */
const FULL =
  "This node cannot take anyone new by chat right now (it holds as many chat accounts as its operator allows); please ask the node's operator."

const ANSWER_HELP = 'Please answer yes or no (yes, true, 1, y, t / no, false, 0, n, f).'

/** A person's audits: those they run (admin) and those they audit (on the roster). */
type Roles = { readonly admin: AuditState[]; readonly auditor: AuditState[] }

/** Who wrote a message, to the audits. */
type Person = {
  readonly jid: string
  readonly account: LocalAccount | undefined
  readonly roles: Roles
  readonly isAdmin: boolean
  /** Runs or audits an audit here. */
  readonly known: boolean
}

/**
 * The RWA conversation, independent of the transport: admins drive audits with the original
 * bot's words, auditors register and answer one inspection at a time, in as many audits as they
 * like. Chat users hold no keys: each JID gets a custodial local account whose key the node signs
 * with. Every reply uses chat's own words (no CLI flags, API fields or states in capitals).
 */
export function createAuditChat(deps: AuditChatDeps): ChatPart {
  const { accounts, audits, actions, ledger, send, now = Date.now, unitOf = defaultUnitOf } = deps
  const memory = deps.memory ?? memoryOnly()
  const pageUrl = deps.pageUrl ?? ((path: string) => path)
  const sent = new Map<string, Sent>()
  let reminding = false
  let events: Promise<void> = Promise.resolve()
  let unsubscribe: (() => void) | undefined

  const fail = (error: unknown) => deps.onError?.(error)
  const sentKey = (audit: OpId, jid: string) => `${audit}\n${jid}`

  // ---- conversations ----

  /** A person's conversation as stored (checked field by field: it may be from an older version). */
  function load(jid: string): Conversation {
    const raw = memory.get(jid)
    if (!raw || typeof raw !== 'object') return {}
    const r = raw as Record<string, unknown>
    const out: Conversation = {}
    const j = r.joining as Record<string, unknown> | undefined
    if (j && typeof j.audit === 'string' && typeof j.name === 'string')
      out.joining = {
        audit: j.audit as OpId,
        name: j.name,
        ...(typeof j.payout === 'string' ? { payout: j.payout } : {}),
        at: typeof j.at === 'number' ? j.at : 0,
      }
    if (typeof r.use === 'string') out.use = r.use as OpId
    const shownList = Array.isArray(r.shown) ? r.shown : r.shown ? [r.shown] : []
    const shown: Shown[] = []
    for (const raw of shownList.slice(-SHOWN_KEPT)) {
      const e = raw as Record<string, unknown> | undefined
      if (e && typeof e.audit === 'string' && typeof e.item === 'string')
        shown.push({
          audit: e.audit as OpId,
          item: e.item as OpId,
          at: typeof e.at === 'number' ? e.at : 0,
          push: e.push === true,
        })
    }
    if (shown.length > 0) out.shown = shown
    return out
  }

  /** Changes a person's conversation: read, changed and written with no wait in between. */
  function update(jid: string, change: (c: Conversation) => void): void {
    const c = load(jid)
    change(c)
    const keep = c.joining || c.use || c.shown?.length
    // A stranger who only named an audit holds nothing yet: forgotten first in a flood.
    const disposable =
      !!c.joining && !c.joining.payout && !c.use && !c.shown && !accounts.byJid(jid)
    memory.set(jid, keep ? c : undefined, { disposable })
  }

  /**
   * Records that `jid` was just shown `item` of `audit` (by a push, or in a reply). Showing again
   * what was shown last (a reminder) changes nothing: it must not make an older inspection the
   * one a message in flight answers.
   */
  function markShown(jid: string, audit: OpId, item: OpId, push: boolean): void {
    update(jid, (c) => {
      const list = c.shown ?? []
      const last = list.at(-1)
      if (last && last.audit === audit && last.item === item) return
      c.shown = [...list, { audit, item, at: now(), push }].slice(-SHOWN_KEPT)
    })
  }

  /** Forgets the inspections of `audit` shown to `jid` (all answered); others stay. */
  function forgetShown(jid: string, audit: OpId): void {
    update(jid, (c) => {
      const kept = c.shown?.filter((e) => e.audit !== audit)
      if (kept?.length) c.shown = kept
      else delete c.shown
    })
  }

  /**
   * What a message received at `receivedAt` answers: the newest inspection shown in a reply, or
   * pushed before the message came (a push that came while it waited is not what it meant).
   */
  const shownFor = (c: Conversation, receivedAt: number) =>
    c.shown?.findLast((e) => !e.push || e.at <= receivedAt)

  // ---- who is who ----

  async function rolesOf(account: LocalAccount | undefined): Promise<Roles> {
    const roles: Roles = { admin: [], auditor: [] }
    if (!account) return roles
    for (const { id } of audits.list()) {
      const state = await audits.state(id)
      if (state.params.admins.includes(account.key)) roles.admin.push(state)
      if (state.auditors.some((a) => a.key === account.key)) roles.auditor.push(state)
    }
    return roles
  }

  /** JIDs of the node's chat accounts, by Ed25519 key. */
  function jidsByKey(): Map<string, string> {
    return new Map(
      accounts
        .list()
        .filter((a) => a.jid)
        .map((a) => [a.key, a.jid!]),
    )
  }

  /** The chat auditors of an audit: its roster's keys that belong to JID-bound accounts. */
  function chatAuditors(state: AuditState): { jid: string; key: string }[] {
    const byKey = jidsByKey()
    return state.auditors.flatMap((a) =>
      byKey.has(a.key) ? [{ jid: byKey.get(a.key)!, key: a.key }] : [],
    )
  }

  /** The JIDs of an audit's admins that have chat accounts. */
  function chatAdmins(state: AuditState): string[] {
    return accounts
      .list()
      .filter((a) => a.jid && state.params.admins.includes(a.key))
      .map((a) => a.jid!)
  }

  /** How people know an auditor: its JID when it chats, else its payout address. */
  function auditorName(state: AuditState, key: string, byKey = jidsByKey()): string {
    return (
      byKey.get(key) ?? state.auditors.find((a) => a.key === key)?.payout ?? `${key.slice(0, 12)}…`
    )
  }

  // ---- inspections ----

  function prompt(state: AuditState, key: string): string | undefined {
    const next = nextInspection(state, key)
    if (!next) return undefined
    const mine = state.inspections.filter((i) => i.auditor === key && i.status !== 'reassigned')
    const n = mine.findIndex((i) => i.item === next.item) + 1
    return `Audit "${state.params.name}", inspection ${n} of ${mine.length}: ${next.description}\nIs it true? Answer yes or no.`
  }

  /** The audits among `states` where `key` has an inspection to answer now. */
  const openIn = (states: readonly AuditState[], key: string) =>
    states.filter((s) => s.stateIndex === S.AUDITING && nextInspection(s, key))

  /** Pushes each chat auditor of an audit its current inspection, unless it already has it. */
  async function syncInspections(
    id: OpId,
    resumed?: {
      before: ReadonlyMap<string, Shown | undefined>
      only: (jid: string) => boolean
    },
  ): Promise<void> {
    const state = await audits.state(id)
    if (state.stateIndex !== S.AUDITING) return
    for (const { jid, key } of chatAuditors(state)) {
      if (resumed && !resumed.only(jid)) continue
      const next = nextInspection(state, key)
      const last = sent.get(sentKey(id, jid))
      if (!next || last?.item === next.item) continue
      const seen = resumed?.before.get(jid)
      const again = seen?.audit === id && seen.item === next.item
      sent.set(sentKey(id, jid), { item: next.item, at: now(), reminded: false })
      markShown(jid, id, next.item, true)
      send(jid, `${again ? 'I was restarted; where we were:\n' : ''}${prompt(state, key)!}`)
    }
  }

  const { txText, fundingNotice, withdrawHow, resultText, excessText, owedInAll } = createChatMoney(
    {
      ledger,
      unitOf,
      pageUrl,
      explorerUrl: deps.explorerUrl,
      money: deps.money,
      chain: deps.chain,
    },
  )

  // ---- messages nobody asked for ----

  async function announceClose(id: OpId): Promise<void> {
    const state = await audits.state(id)
    for (const { jid } of chatAuditors(state))
      send(
        jid,
        `Registration for "${state.params.name}" is closed: you are one of ${count(state.auditors.length, 'auditor')}. Your first inspection comes when the audit starts.`,
      )
  }

  async function announceResults(id: OpId): Promise<void> {
    const state = await audits.state(id)
    // Settled already (this ran late): the settlement notice tells everyone their pay.
    if (!state.results || state.stateIndex === S.COMPLETE) return
    for (const { jid, key } of chatAuditors(state)) {
      if (!auditorSummary(state, key).result) continue
      send(jid, await resultText(state, key, true))
    }
    const admins = chatAdmins(state)
    if (admins.length === 0) return
    const notice =
      state.stateIndex === S.WAITING_FOR_CONTRACT
        ? `\n${await fundingNotice(state)}`
        : ` It is ${PHASE[state.state]}.`
    for (const jid of admins)
      send(
        jid,
        `Audit "${state.params.name}" is finished: send "results" for its results, or "settlement" for what it pays each auditor.${notice}`,
      )
  }

  async function announceSettled(id: OpId): Promise<void> {
    const state = await audits.state(id)
    if (state.stateIndex !== S.COMPLETE) return
    const name = state.params.name
    const unit = await unitOf(state.params.token)
    const tx = await settledTransaction(ledger, state)
    // Without a chain of its own the node hands the settlement to the Chainlink job that asked.
    const handedOver = !tx && !deps.chain?.()
    const where = tx ? ` in ${txText(tx.hash)}` : ''
    if (!handedOver && state.settlement?.total === 0n) {
      // Nothing to pay: the node completed it without a transaction.
      const line = `Audit "${name}" is complete: it paid nobody, so nothing went through the chain.`
      for (const jid of [...chatAdmins(state), ...chatAuditors(state).map((a) => a.jid)])
        send(jid, line)
      return
    }
    const excess = handedOver ? '' : await excessText(state, unit)
    for (const jid of chatAdmins(state))
      send(
        jid,
        handedOver
          ? `Audit "${name}" is complete: its settlement went to the Chainlink job that pays it out.`
          : `Audit "${name}" is settled on chain${where}. Its auditors can now withdraw their pay.${excess}`,
      )
    const auditors = chatAuditors(state)
    // Read at once, not one after another: a chain that does not answer holds up every push.
    const owed = await Promise.all(
      auditors.map(({ key }) => {
        const payout = auditorSummary(state, key).result?.payout
        return payout && !handedOver ? owedInAll(payout, state.params.token) : ''
      }),
    )
    for (const [i, { jid, key }] of auditors.entries()) {
      const { result } = auditorSummary(state, key)
      if (!result) continue
      const pay = result.paid + result.returned
      if (handedOver)
        send(
          jid,
          `Audit "${name}" is complete: its settlement went to the Chainlink job that pays it out; your compensation is ${formatAmount(pay, unit)}, for ${result.payout}.`,
        )
      else if (pay === 0n)
        send(jid, `Audit "${name}" is settled on chain${where}; it paid you nothing.`)
      else
        send(
          jid,
          `Audit "${name}" is settled on chain${where}: your compensation of ${formatAmount(pay, unit)} waits in the escrow for ${result.payout}.${owed[i]}\n${withdrawHow(result.payout, state.params.token)}`,
        )
    }
  }

  function onOp(doc: OpId, type: string): void {
    const run = (task: () => Promise<void>) => {
      events = events.then(task).catch(fail)
    }
    if (type === AUDIT_OP.close) run(() => announceClose(doc))
    else if (type === AUDIT_OP.start || type === AUDIT_OP.reassign) run(() => syncInspections(doc))
    else if (type === AUDIT_OP.stop || type === AUDIT_OP.finish) run(() => announceResults(doc))
    else if (type === AUDIT_OP.settled) run(() => announceSettled(doc))
  }

  // ---- admin conversation ----

  async function currentAudit(
    jid: string,
    mine: readonly AuditState[],
  ): Promise<AuditState | string> {
    const chosen = load(jid).use
    const picked = chosen && mine.find((s) => s.id === chosen)
    if (picked) return picked
    if (mine.length === 1) return mine[0]!
    const active = mine.filter((s) => s.stateIndex !== S.COMPLETE)
    if (active.length === 1) return active[0]!
    if (mine.length === 0) return 'You run no audit yet. Create one with: create <name> <bond>'
    return `You run ${mine.length} audits; pick one with "use <name>": ${listed(mine)}.`
  }

  const listed = (states: readonly AuditState[]) =>
    `${states
      .slice(0, MAX_LISTED)
      .map((s) => `"${s.params.name}" (${PHASE[s.state]})`)
      .join(', ')}${states.length > MAX_LISTED ? `, and ${states.length - MAX_LISTED} more` : ''}`

  async function admin(
    jid: string,
    account: LocalAccount | undefined,
    mine: readonly AuditState[],
    command: string,
    text: string,
  ): Promise<string[]> {
    const arg = text.slice(command.length).trim()
    if (command === 'create') return [await create(jid, arg)]
    const current = await currentAudit(jid, mine)
    if (typeof current === 'string') return [current]
    const refused = refusedNow(command, current.params.name, current.stateIndex)
    if (refused) return [refused]
    return [await adminCommands[command]!(account!, current, arg)]
  }

  /** What each admin command does to the admin's current audit; each answers one message. */
  const adminCommands: Record<
    string,
    (me: LocalAccount, current: AuditState, arg: string) => Promise<string>
  > = {
    state: async (_me, current) =>
      `"${current.params.name}" is ${PHASE[current.state]}: ${count(current.items.length, 'item')}, ${count(current.auditors.length, 'auditor')}.`,
    items: async (_me, current) =>
      current.items.length
        ? current.items.map((i) => `${i.number}. ${i.description}`).join('\n')
        : `"${current.params.name}" has no items yet: add <description>`,
    async add(me, current, arg) {
      if (!arg) return 'Say what to add: add <description>'
      await actions.addItem(me, current.id, arg)
      const items = (await audits.state(current.id)).items.length
      return `Added "${arg}". "${current.params.name}" has ${count(items, 'item')} now.`
    },
    async del(me, current, arg) {
      if (!/^\d+$/.test(arg)) return 'Say which item, by its number in "items": del <number>'
      if (Number(arg) < 1 || Number(arg) > current.items.length)
        return `"${current.params.name}" has ${count(current.items.length, 'item')}, so there is no item ${arg.slice(0, 12)}; send "items" to see their numbers.`
      await actions.deleteItem(me, current.id, Number(arg))
      return `Deleted item ${arg}.`
    },
    set: (me, current, arg) => set(me, current.id, arg.split(/\s+/)),
    async open(me, current) {
      await actions.control(me, current.id, 'open', false)
      return `"${current.params.name}" is open for registration: auditors join by sending me its exact name.`
    },
    async close(me, current) {
      const k = current.params.auditsPerItem
      if (current.auditors.length < k)
        return `"${current.params.name}" has ${count(current.auditors.length, 'registered auditor')} but needs at least ${k} (num_audits_per_item), so it stays open for registration.`
      await actions.control(me, current.id, 'close', false)
      const after = await audits.state(current.id)
      return `Registration for "${current.params.name}" is closed with ${count(after.auditors.length, 'auditor')}. Send "start" to send out the inspections.`
    },
    async start(me, current) {
      await actions.control(me, current.id, 'start', false)
      const after = await audits.state(current.id)
      return `"${current.params.name}" has started: ${count(after.inspections.length, 'inspection')} went out to ${count(after.auditors.length, 'auditor')}.`
    },
    async stop(me, current, arg) {
      const force = arg.toLowerCase() === 'force'
      const outstanding = outstandingInspections(current)
      if (outstanding.length > 0 && !force) return outstandingText(current, outstanding, true)
      await actions.control(me, current.id, 'stop', force)
      const missing =
        force && outstanding.length > 0
          ? `; ${count(outstanding.length, 'unanswered inspection')} count as missing`
          : ''
      return `"${current.params.name}" is stopped${missing}. Its results come next.`
    },
    async outstanding_inspections(_me, current) {
      const outstanding = outstandingInspections(current)
      if (outstanding.length === 0)
        return `"${current.params.name}" has no outstanding inspections.`
      return outstandingText(current, outstanding, false)
    },
    settlement: (_me, current) => settlementText(current),
  }

  function outstandingText(
    state: AuditState,
    outstanding: ReturnType<typeof outstandingInspections>,
    stopping: boolean,
  ): string {
    const description = new Map(state.items.map((i) => [i.id, i.description]))
    const byKey = jidsByKey()
    const lines = outstanding
      .slice(0, MAX_LISTED)
      .map((i) => `${description.get(i.item)}: ${auditorName(state, i.auditor, byKey)}`)
    if (outstanding.length > MAX_LISTED) lines.push(`… and ${outstanding.length - MAX_LISTED} more`)
    const head = `"${state.params.name}" has ${count(outstanding.length, 'outstanding inspection')}:`
    const tail = stopping
      ? ['Wait for the answers, or send "stop force" to stop now and count them as missing.']
      : []
    return [head, ...lines, ...tail].join('\n')
  }

  async function create(jid: string, arg: string): Promise<string> {
    if (!deps.admins.includes(jid))
      return "Only the admins in this node's config may create audits by chat; ask the node's operator."
    const words = arg.split(/\s+/).filter(Boolean)
    // The bond: base units ("900"), or a decimal with its unit ("0.5 ETH").
    const unitWord = words.length >= 3 && /^\p{L}+$/u.test(words.at(-1)!) ? 2 : 1
    const bondText = words.slice(-unitWord).join(' ')
    const name = words.slice(0, -unitWord).join(' ')
    let bond: bigint
    try {
      bond = parseAmount(bondText, ETH_UNIT)
    } catch {
      return 'Usage: create <name> <bond>, e.g. "create Street lights 0.5 ETH" or, in base units, "create Street lights 900"'
    }
    if (!name || bond <= 0n)
      return 'Usage: create <name> <bond>, e.g. "create Street lights 0.5 ETH" or, in base units, "create Street lights 900"'
    const account = custodial(jid)
    if (!account) return FULL
    const op = await actions.create(account, { name, bond: `${bond}` })
    update(jid, (c) => {
      c.use = op.id
    })
    return `Created "${name}" with a bond of ${formatAmount(bond, ETH_UNIT)}. Add items with "add <description>", then "open".`
  }

  async function set(me: LocalAccount, audit: OpId, words: string[]): Promise<string> {
    const [name = '', value = ''] = words
    const usage = `Usage: set <${CHAT_PARAMS.join('|')}> <value>`
    if (!name || !value) return usage
    if (name === 'num_items')
      return 'Here the number of items is the items you add: use "add <description>" and "del <number>".'
    if (!(CHAT_PARAMS as readonly string[]).includes(name))
      return `"${name.slice(0, 40)}" is not a setting. ${usage}`
    const numeric = name === 'num_audits_per_item' || name === 'inspection_deadline'
    const typed = numeric && /^-?\d+$/.test(value) ? Number(value) : value
    await actions.setParam(me, audit, name, typed)
    return `Set ${name} to ${value}.`
  }

  async function settlementText(state: AuditState): Promise<string> {
    const s = state.settlement
    if (!s) return `No settlement yet: "${state.params.name}" is ${PHASE[state.state]}.`
    const unit = await unitOf(state.params.token)
    const byPayout = new Map<string, string>()
    const byKey = jidsByKey()
    for (const a of state.auditors) if (byKey.has(a.key)) byPayout.set(a.payout, byKey.get(a.key)!)
    const lines = s.payees.map(
      (p, i) =>
        `${p}${byPayout.has(p) ? ` (${byPayout.get(p)})` : ''}: ${formatAmount(s.amounts[i]!, unit)}`,
    )
    lines.push(
      `Total ${formatAmount(s.total, unit)}, remainder ${formatAmount(s.remainder, unit)}.`,
    )
    if (state.stateIndex === S.COMPLETE) {
      const tx = await settledTransaction(ledger, state)
      lines.push(`Settled on chain${tx ? ` in ${txText(tx.hash)}` : ''}.`)
    } else lines.push(await fundingNotice(state))
    return lines.join('\n')
  }

  async function resultsText(state: AuditState): Promise<string> {
    if (!state.results) return `No results yet: "${state.params.name}" is ${PHASE[state.state]}.`
    const unit = await unitOf(state.params.token)
    const byKey = jidsByKey()
    const items = state.results.items.map(
      (r) =>
        `${state.items[r.item]?.description}: ${r.result ? 'yes' : 'no'} (${r.yes} yes, ${r.no} no, ${r.missing} missing)`,
    )
    const auditors = state.results.auditors.map((a) => {
      const key = state.auditors[a.auditor]?.key
      const who = key ? auditorName(state, key, byKey) : a.payout
      return `${who}: ${a.aligned} aligned, ${a.misaligned} misaligned, ${a.missing} missing → ${formatAmount(a.paid + a.returned, unit)}`
    })
    const remainder = `Remainder to the payer: ${formatAmount(state.results.remainder, unit)}`
    return [...items, ...auditors, remainder].join('\n')
  }

  // ---- registration ----

  /** What a registration waits for, as a clause. */
  const joiningWaits = (step: Joining) =>
    step.payout
      ? 'send me the signature of the message I gave you, or "cancel".'
      : 'send me your payout address, or "cancel".'

  /** Where a registration stands, and what to send next. */
  function joiningAsk(step: Joining, account: LocalAccount | undefined): string {
    if (!step.payout)
      return `You're joining "${step.name}". Send the Ethereum address (EIP-55 checksummed) where you want to be paid, or "cancel".`
    return `You're joining "${step.name}", paid to ${step.payout}. Now prove the address is yours: sign this exact message with its wallet ("Sign message") and send me the signature (0x…), or "cancel":\n${identityMessage(account!.signer.publicKey)}`
  }

  async function startJoining(jid: string, account: LocalAccount | undefined, state: AuditState) {
    const name = state.params.name
    const registered = account && state.auditors.find((a) => a.key === account.key)
    if (registered)
      return [
        `You're already registered for "${name}", paid to ${registered.payout}. ${sentence(auditorWaits(state, account.key))}`,
      ]
    if (account && state.params.admins.includes(account.key))
      return [`You run "${name}"; its admins do not audit it. ${sentence(adminWaits(state))}`]
    if (state.stateIndex !== S.AUDITOR_REGISTRATION)
      return [`"${name}" is not taking registrations now: it is ${PHASE[state.state]}.`]
    const step: Joining = { audit: state.id, name, at: now() }
    update(jid, (c) => {
      c.joining = step
    })
    return [joiningAsk(step, account)]
  }

  /**
   * A message while a registration is half done: `cancel`, or the address or signature it waits
   * for (text starting with 0x). Anything else is not registration input: undefined, and the
   * message is handled as any other (an answer, a command), with `notice` said first when the
   * registration ended meanwhile.
   */
  async function join(
    jid: string,
    step: Joining,
    word: string,
    text: string,
  ): Promise<{ replies?: string[]; notice?: string }> {
    const stop = () =>
      update(jid, (c) => {
        delete c.joining
      })
    if (word === 'cancel') {
      stop()
      return { replies: [`Cancelled: you did not join "${step.name}".`] }
    }
    const state = await audits.state(step.audit).catch(() => undefined)
    if (!state || state.stateIndex !== S.AUDITOR_REGISTRATION) {
      stop()
      return {
        notice: `Registration for "${step.name}" closed before you finished, so you did not join it.`,
      }
    }
    if (!/^0x/i.test(text)) return {}
    return { replies: await joinStep(jid, step, state, text) }
  }

  /** The account that signs for `jid`, made if missing; undefined when the node may make no more. */
  function custodial(jid: string): LocalAccount | undefined {
    try {
      return accounts.custodialFor(jid)
    } catch (error) {
      if (error instanceof AccountQuotaError) return undefined
      throw error
    }
  }

  /** The address or the signature of a registration in progress. */
  async function joinStep(
    jid: string,
    step: Joining,
    state: AuditState,
    text: string,
  ): Promise<string[]> {
    const stop = () =>
      update(jid, (c) => {
        delete c.joining
      })
    if (!step.payout) {
      let payout: string
      try {
        payout = parseChecksumAddress(text)
      } catch (error) {
        if (!(error instanceof BaseError)) throw error
        return [`${error.shortMessage} Send the address again, or "cancel".`]
      }
      const mine = custodial(jid)
      if (!mine) {
        stop()
        return [FULL]
      }
      if (state.auditors.some((a) => a.key === mine.key)) {
        stop()
        return [`You're already registered for "${step.name}".`]
      }
      const next = { ...step, payout }
      update(jid, (c) => {
        c.joining = next
      })
      return [joiningAsk(next, mine)]
    }
    if (!/^0x[0-9a-fA-F]{130}$/.test(text))
      return ['A signature is 0x followed by 130 hex digits. Send it again, or "cancel".']
    const mine = accounts.custodialFor(jid)
    const message = identityMessage(mine.signer.publicKey)
    const signer = await recoverMessageAddress({ message, signature: text as `0x${string}` }).catch(
      () => undefined,
    )
    if (signer !== step.payout)
      return [
        `That signature is not from the wallet of ${step.payout}${signer ? ` (it is from ${signer})` : ''}. Sign exactly this message with the wallet of ${step.payout} and send me the signature, or "cancel":\n${message}`,
      ]
    await actions.register(mine, step.audit, { payout: step.payout, proof: text })
    stop()
    return [
      `You're registered for "${step.name}", paid to ${step.payout}. Your first inspection comes when the audit starts.`,
    ]
  }

  // ---- answers ----

  /** What an auditor's audit waits for, as a clause ("your first inspection comes…"). */
  function auditorWaits(state: AuditState, key: string): string {
    switch (state.stateIndex) {
      case S.AUDITOR_REGISTRATION:
      case S.AUDITOR_REGISTRATION_COMPLETE:
        return 'your first inspection comes when the audit starts'
      case S.AUDITING:
        return nextInspection(state, key)
          ? 'an inspection waits for your answer'
          : 'you answered all your inspections; your result comes when the audit ends'
      case S.COMPLETE:
        return `send "result ${state.params.name}" for your pay and how to withdraw it`
      default:
        return `send "result ${state.params.name}" for your result`
    }
  }

  /** A clause as a sentence of its own. */
  const sentence = (clause: string) => `${clause[0]!.toUpperCase()}${clause.slice(1)}.`

  async function answerIn(
    jid: string,
    account: LocalAccount,
    state: AuditState,
    value: boolean,
    others: readonly AuditState[],
  ): Promise<string[]> {
    const next = nextInspection(state, account.key)!
    await actions.answer(account, state.id, value, next.item)
    const after = await audits.state(state.id)
    const thanks = `Thanks: "${value ? 'yes' : 'no'}" recorded for "${next.description}".`
    const following = nextInspection(after, account.key)
    if (following) {
      sent.set(sentKey(after.id, jid), { item: following.item, at: now(), reminded: false })
      markShown(jid, after.id, following.item, false)
      return [thanks, prompt(after, account.key)!]
    }
    const lines = [
      thanks,
      `That was your last inspection in "${after.params.name}". You'll get your result when the audit ends.`,
    ]
    const elsewhere = openIn(
      others.filter((s) => s.id !== after.id),
      account.key,
    )[0]
    if (elsewhere) {
      const item = nextInspection(elsewhere, account.key)!.item
      sent.set(sentKey(elsewhere.id, jid), { item, at: now(), reminded: false })
      markShown(jid, elsewhere.id, item, false)
      lines.push(prompt(elsewhere, account.key)!)
    } else forgetShown(jid, after.id)
    return lines
  }

  /** Why the inspection `item` of `key` in `state` takes no answer now. */
  function whyClosed(state: AuditState, key: string, item: OpId): string {
    if (state.stateIndex !== S.AUDITING) return `is closed: the audit is ${PHASE[state.state]}`
    const mine = state.inspections.filter((i) => i.item === item && i.auditor === key)
    if (mine.some((i) => i.status === 'answered' || i.status === 'committed'))
      return 'is already answered'
    if (mine.some((i) => i.status === 'reassigned'))
      return 'passed its deadline and went to another auditor'
    return 'is closed'
  }

  /** A bare yes or no: for the inspection the person was shown last when they wrote. */
  async function answerBare(
    message: ChatMessage,
    account: LocalAccount,
    roles: Roles,
    value: boolean,
  ): Promise<string[]> {
    const c = load(message.jid)
    const target = shownFor(c, message.receivedAt)
    const open = openIn(roles.auditor, account.key)
    if (target) {
      const state = roles.auditor.find((s) => s.id === target.audit)
      if (state && nextInspection(state, account.key)?.item === target.item)
        return answerIn(message.jid, account, state, value, roles.auditor)
      const lines: string[] = []
      if (state) {
        const description =
          state.items.find((i) => i.id === target.item)?.description ?? 'an inspection'
        lines.push(
          `Your "${value ? 'yes' : 'no'}" was not recorded: the inspection I showed you last ("${description}" in "${state.params.name}") ${whyClosed(state, account.key, target.item)}.`,
        )
      }
      const next = open.find((s) => s.id === target.audit) ?? open[0]
      if (next) {
        const item = nextInspection(next, account.key)!.item
        markShown(message.jid, next.id, item, false)
        lines.push(prompt(next, account.key)!)
      }
      if (lines.length > 0) return lines
    }
    if (open.length === 1) return answerIn(message.jid, account, open[0]!, value, roles.auditor)
    if (open.length > 1)
      return [
        `You have inspections waiting in ${open.map((s) => `"${s.params.name}"`).join(', ')}; say which this answer is for: answer <audit name> ${value ? 'yes' : 'no'}, or "use <audit name>" to see its inspection.`,
      ]
    return ['You have no inspection to answer now.', statusText(message.jid, roles)]
  }

  /** Resolves the audit a person named among `states`, or explains (with "did you mean"). */
  function named(text: string, states: readonly AuditState[], none: string): AuditState | string {
    const exact = states.filter((s) => s.params.name === text)
    if (exact.length >= 1) return exact[0]!
    const near = nearMiss(
      text,
      states.map((s) => ({ name: s.params.name, state: s })),
    )
    if (near) return `${none} "${text.slice(0, 80)}"; did you mean "${near.name}"?`
    return `${none} "${text.slice(0, 80)}".`
  }

  async function answerNamed(
    message: ChatMessage,
    account: LocalAccount | undefined,
    roles: Roles,
    arg: string,
  ): Promise<string[]> {
    const words = arg.split(/\s+/)
    const usage = 'Say which audit and the answer: answer <audit name> yes (or no)'
    let value: boolean
    try {
      value = parseAnswer(words.at(-1) ?? '')
    } catch {
      return [usage]
    }
    const name = words.slice(0, -1).join(' ')
    if (!account || !name) return [usage]
    const state = named(name, roles.auditor, 'You audit no audit named')
    if (typeof state === 'string') return [state]
    if (!nextInspection(state, account.key))
      return [
        `You have no inspection to answer in "${state.params.name}". ${sentence(auditorWaits(state, account.key))}`,
      ]
    return answerIn(message.jid, account, state, value, roles.auditor)
  }

  async function use(
    jid: string,
    account: LocalAccount | undefined,
    roles: Roles,
    arg: string,
  ): Promise<string[]> {
    if (!arg) return ['Say which audit: use <audit name>']
    const all = [...roles.admin, ...roles.auditor.filter((s) => !roles.admin.includes(s))]
    const state = named(arg, all, 'You neither run nor audit an audit named')
    if (typeof state === 'string') return [state]
    const lines: string[] = []
    if (roles.admin.includes(state)) {
      update(jid, (c) => {
        c.use = state.id
      })
      lines.push(`Now using "${state.params.name}" (${PHASE[state.state]}).`)
    }
    if (account && roles.auditor.includes(state)) {
      const next = nextInspection(state, account.key)
      if (next) {
        markShown(jid, state.id, next.item, false)
        lines.push(prompt(state, account.key)!)
      } else if (lines.length === 0)
        lines.push(
          `"${state.params.name}" is ${PHASE[state.state]}: ${auditorWaits(state, account.key)}.`,
        )
    }
    return lines
  }

  async function result(
    jid: string,
    account: LocalAccount | undefined,
    roles: Roles,
    arg: string,
  ): Promise<string[]> {
    if (!account || roles.auditor.length === 0) return ['You have not audited any audit here.']
    if (arg) {
      const state = named(arg, roles.auditor, 'You audit no audit named')
      if (typeof state === 'string') return [state]
      return [await resultText(state, account.key)]
    }
    const finished = roles.auditor.filter((s) => s.results)
    if (finished.length === 0)
      return ['None of your audits has finished yet.', statusText(jid, roles)]
    const lines = await Promise.all(finished.slice(-5).map((s) => resultText(s, account.key)))
    if (finished.length > 5)
      lines.unshift(
        `Your ${finished.length} finished audits; the last 5 (send "result <audit name>" for another):`,
      )
    return lines
  }

  // ---- status and help ----

  function adminWaits(state: AuditState): string {
    switch (state.stateIndex) {
      case S.INITIALIZATION:
        return `${count(state.items.length, 'item')}; send "open" when auditors may join`
      case S.AUDITOR_REGISTRATION:
        return `${count(state.auditors.length, 'auditor')} so far; send "close" when enough have joined`
      case S.AUDITOR_REGISTRATION_COMPLETE:
        return `${count(state.auditors.length, 'auditor')}; send "start" to send out the inspections`
      case S.AUDITING:
        return `${count(outstandingInspections(state).length, 'inspection')} still unanswered; send "stop" when they are in`
      case S.WAITING_FOR_CONTRACT:
        return 'it waits for its escrow to be funded and the settlement to be signed; send "settlement" for how to fund it'
      case S.COMPLETE:
        return 'send "results" for its results and "settlement" for its payouts'
      default:
        return 'its results come next'
    }
  }

  function statusText(jid: string, roles: Roles): string {
    const c = load(jid)
    const lines: string[] = []
    if (c.joining)
      lines.push(
        `Joining "${c.joining.name}": I'm waiting for your ${c.joining.payout ? 'signature' : 'payout address'}.`,
      )
    for (const state of roles.admin.slice(0, MAX_LISTED))
      lines.push(
        `"${state.params.name}" (you run it) is ${PHASE[state.state]}: ${adminWaits(state)}.`,
      )
    const key = accounts.byJid(jid)?.key
    for (const state of roles.auditor.slice(0, MAX_LISTED)) {
      const next = key && state.stateIndex === S.AUDITING ? prompt(state, key) : undefined
      lines.push(
        `"${state.params.name}" (you audit it) is ${PHASE[state.state]}: ${
          next
            ? `this inspection waits for your answer:\n  ${next.split('\n')[0]}`
            : `${auditorWaits(state, key ?? '')}.`
        }`,
      )
    }
    const more =
      Math.max(0, roles.admin.length - MAX_LISTED) + Math.max(0, roles.auditor.length - MAX_LISTED)
    if (more > 0) lines.push(`… and ${count(more, 'more audit')}.`)
    if (lines.length === 0)
      return 'You have no audits on this node yet. To join one, send me its exact name while it is open for registration.'
    return lines.join('\n')
  }

  function helpFor(isAdmin: boolean): string {
    return isAdmin ? ADMIN_MENU : AUDITOR_MENU
  }

  // ---- the conversation ----

  async function converse(message: ChatMessage): Promise<string[] | undefined> {
    const { jid, text } = message
    const [first = ''] = text.split(/\s+/)
    const word = first.toLowerCase()
    const account = accounts.byJid(jid)
    const step = load(jid).joining
    if (step && word !== 'answer') {
      const { replies, notice } = await join(jid, step, word, text)
      if (replies) return replies
      const rest = await converseFurther(message, account)
      if (notice) return [notice, ...(rest ?? [])]
      // Not registration input: answered as any message, with where the registration stands.
      return rest
        ? [...rest, `(Still joining "${step.name}": ${joiningWaits(step)})`]
        : [joiningAsk(step, account)]
    }
    return converseFurther(message, account)
  }

  /** A message that is not registration input. */
  async function converseFurther(
    message: ChatMessage,
    account: LocalAccount | undefined,
  ): Promise<string[] | undefined> {
    const { jid, text } = message
    const [first = ''] = text.split(/\s+/)
    const word = first.toLowerCase()
    const arg = text.slice(first.length).trim()
    const roles = await rolesOf(account)
    const isAdmin = deps.admins.includes(jid) || roles.admin.length > 0
    const known = isAdmin || roles.auditor.length > 0
    const person = { jid, account, roles, isAdmin, known }
    const command = await personCommand(message, person, word, arg)
    if (command) return command
    if (isAdmin && (word === 'create' || Object.hasOwn(adminCommands, word)))
      return admin(jid, account, roles.admin, word, text)
    let value: boolean | undefined
    try {
      value = parseAnswer(text)
    } catch {}
    if (value !== undefined && account && roles.auditor.length > 0)
      return answerBare(message, account, roles, value)
    return otherText(message, person)
  }

  /** The words any person the audits know may use: use, answer, result and results. */
  async function personCommand(
    message: ChatMessage,
    { jid, account, roles, isAdmin, known }: Person,
    word: string,
    arg: string,
  ): Promise<string[] | undefined> {
    if (word === 'use' && known) return use(jid, account, roles, arg)
    if (word === 'answer' && roles.auditor.length > 0)
      return answerNamed(message, account, roles, arg)
    if (word !== 'result' && word !== 'results') return undefined
    // "results" is the admin's word for an audit's results, "result" an auditor's for theirs.
    if (isAdmin && (word === 'results' || roles.auditor.length === 0)) {
      const state = arg
        ? named(arg, roles.admin, 'You run no audit named')
        : await currentAudit(jid, roles.admin)
      return [typeof state === 'string' ? state : await resultsText(state)]
    }
    return known ? result(jid, account, roles, arg) : undefined
  }

  /** Text that is no command and no answer: an audit's name, a near miss, or something else. */
  async function otherText(
    { jid, text }: ChatMessage,
    { account, roles, isAdmin, known }: Person,
  ): Promise<string[] | undefined> {
    const all = audits.list()
    const exact = all.filter((a) => a.name === text)
    if (exact.length >= 1) {
      const open = exact.find((a) => a.state === 'AUDITOR_REGISTRATION') ?? exact[0]!
      return startJoining(jid, account, await audits.state(open.id))
    }
    if (account) {
      const open = openIn(roles.auditor, account.key)
      if (open.length > 0) {
        const shown = load(jid).shown?.at(-1)
        const state = open.find((s) => s.id === shown?.audit) ?? open[0]!
        markShown(jid, state.id, nextInspection(state, account.key)!.item, false)
        return [ANSWER_HELP, prompt(state, account.key)!]
      }
    }
    const near = nearMiss(text, all)
    if (near)
      return [
        near.state === 'AUDITOR_REGISTRATION'
          ? `No open audit is named "${text.slice(0, 80)}"; did you mean "${near.name}"? Send its exact name to join it.`
          : `No open audit is named "${text.slice(0, 80)}"; did you mean "${near.name}"? It is not taking registrations now: it is ${PHASE[near.state as keyof typeof PHASE] ?? 'closed'}.`,
      ]
    if (known) {
      const what = `I did not understand "${text.length > 60 ? `${text.slice(0, 60)}…` : text}".`
      // An admin gets the menu; an auditor where their audits stand, which is what they ask.
      if (isAdmin) return [what, helpFor(true)]
      return [what, `${statusText(jid, roles)}\nSend "help" for the commands.`]
    }
    // Someone with an account but no audit (another domain made it) is not ours to answer.
    return undefined
  }

  async function handle(message: ChatMessage): Promise<string[] | undefined> {
    try {
      return await converse(message)
    } catch (error) {
      // The audit rules speak to the CLI and the API; here they speak chat.
      if (error instanceof BaseError) return [inChatWords(error.shortMessage)]
      throw error
    }
  }

  /** After a restart: people in the middle of registering hear where they were. */
  async function resumeJoinings(): Promise<void> {
    for (const [jid] of memory.entries()) {
      const step = load(jid).joining
      if (!step || now() - step.at > RESUME_JOINING_MS) continue
      const state = await audits.state(step.audit).catch(() => undefined)
      if (!state || state.stateIndex !== S.AUDITOR_REGISTRATION) {
        update(jid, (c) => {
          delete c.joining
        })
        send(
          jid,
          `Registration for "${step.name}" closed while I was restarted, so you did not join it.`,
        )
        continue
      }
      send(jid, `I was restarted; where we were:\n${joiningAsk(step, accounts.byJid(jid))}`)
    }
  }

  /** Who the person is to audits: their account, roles, and whether they run or audit any. */
  async function whoIs(jid: string) {
    const account = accounts.byJid(jid)
    const roles = await rolesOf(account)
    const isAdmin = deps.admins.includes(jid) || roles.admin.length > 0
    return { account, roles, isAdmin, known: isAdmin || roles.auditor.length > 0 }
  }

  return {
    handle,
    greeting: STRANGER_HELP,
    async help(jid) {
      const step = load(jid).joining
      const { isAdmin, known, account } = await whoIs(jid)
      const joining = step ? joiningAsk(step, account) : undefined
      if (!known) return joining
      return joining ? `${joining}\n\n${helpFor(isAdmin)}` : helpFor(isAdmin)
    },
    async status(jid) {
      const { roles, known } = await whoIs(jid)
      if (!known && !load(jid).joining) return undefined
      return statusText(jid, roles)
    },
    /** Follows the ledger; resumes registrations and sends every chat auditor its current inspection. */
    async start(): Promise<void> {
      unsubscribe = ledger.onAccepted((ops) => {
        for (const { doc, op } of ops) onOp(doc, op.op.type)
      })
      await resumeJoinings()
      // Everyone gets their current inspections again; the one a person was shown last comes
      // last, so that a bare answer still goes where it did before the restart.
      const auditing = audits.list().filter((a) => a.state === 'AUDITING')
      const before = new Map(memory.entries().map(([jid]) => [jid, load(jid).shown?.at(-1)]))
      const shownIn = (id: OpId) => (jid: string) => before.get(jid)?.audit === id
      for (const { id } of auditing)
        await syncInspections(id, { before, only: (jid) => !shownIn(id)(jid) })
      for (const { id } of auditing) await syncInspections(id, { before, only: shownIn(id) })
    },
    stop(): void {
      unsubscribe?.()
    },
    /** Reminds auditors whose inspection has used half its deadline (once per inspection). */
    async remind(): Promise<void> {
      // One pass at a time: a slow pass overlapped by the next would remind twice.
      if (reminding) return
      reminding = true
      try {
        await remindOnce()
      } finally {
        reminding = false
      }
    },
    /** Resolves once pushed messages for ops seen so far have been sent. */
    settled: () => events,
  }

  async function remindOnce(): Promise<void> {
    for (const [key, last] of sent) {
      if (last.reminded) continue
      const [id, jid] = key.split('\n') as [OpId, string]
      const state = await audits.state(id)
      const account = accounts.byJid(jid)
      if (!account || nextInspection(state, account.key)?.item !== last.item) {
        sent.delete(key) // answered, reassigned or stopped: nothing to remind of any more
        continue
      }
      if (now() - last.at < state.params.inspectionDeadline / 2) continue
      last.reminded = true
      markShown(jid, id, last.item, true)
      send(
        jid,
        `Reminder: half the time for this inspection has passed.\n${prompt(state, account.key)}`,
      )
    }
  }
}
