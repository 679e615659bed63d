import { ETH_UNIT, formatAmount, type TokenUnit, unknownUnit } from '../../core/amount.ts'
import { parseAnswer } from '../../core/audit/answer.ts'
import { auditorSummary, nextInspection, outstandingInspections } from '../../core/audit/queries.ts'
import type { AuditState } from '../../core/audit/state.ts'
import { AUDIT_OP, AUDIT_STATES } from '../../core/audit/states.ts'
import { identityMessage, parseChecksumAddress } from '../../core/identity.ts'
import { BaseError } from '../../errors/base.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { Accounts, LocalAccount } from '../../node/accounts.ts'
import type { ChatPart } from '../plugin.ts'
import type { AuditActions } from './actions.ts'
import type { AuditIndex } from './audit-index.ts'

/** What the audit chat needs from the node, and how it sends messages nobody asked for. */
export type AuditChatDeps = {
  readonly accounts: Accounts
  readonly audits: AuditIndex
  readonly actions: AuditActions
  readonly ledger: Ledger
  /** Bare JIDs (lowercase) that may create audits by chat. */
  readonly admins: readonly string[]
  /** Sends a message to a bare JID (inspections, reminders, results). */
  send(jid: string, text: string): void
  now?: () => number
  onError?: (error: unknown) => void
  /** The unit of an audit's token, to show amounts in (default: ETH for native, else base units). */
  unitOf?: (token: string) => Promise<TokenUnit>
}

const defaultUnitOf = async (token: string) => (token === 'native' ? ETH_UNIT : unknownUnit(token))

/** A registration in progress: the audit chosen, then the address given. */
type Joining = { audit: OpId; name: string; payout?: string }

/** The last inspection sent to a chat auditor in an audit. */
type Sent = { item: OpId; at: number; reminded: boolean }

export const ADMIN_MENU = [
  'Admin commands:',
  '  create <name> <bond> — a new audit (bond in base units)',
  '  use <audit name> — pick which of your audits the commands act on',
  '  state · items · add <description> · del <number>',
  '  set num_audits_per_item <odd number ≥ 3> · set slashing_ratio <ratio> · set num_items <n>',
  '  set inspection_deadline <milliseconds>',
  '  open · close · start · stop · stop force',
  '  outstanding_inspections · results · settlement · help',
].join('\n')

const STRANGER_HELP =
  "Hi! I'm the Real World Auditor bot. To become an auditor, send me the exact name of an audit while it is open for registration."

const ANSWER_HELP = 'Please answer yes or no (yes, true, 1, y, t / no, false, 0, n, f).'

/**
 * The RWA conversation, independent of the transport: admins drive audits with the original
 * bot's words, auditors register and answer one inspection at a time. Chat users hold no keys:
 * each JID gets a custodial local account whose key the node signs with.
 */
export function createAuditChat(deps: AuditChatDeps): ChatPart {
  const { accounts, audits, actions, ledger, send, now = Date.now, unitOf = defaultUnitOf } = deps
  const joining = new Map<string, Joining>()
  const selected = new Map<string, OpId>()
  const sent = new Map<string, Sent>()
  let events: Promise<void> = Promise.resolve()
  let unsubscribe: (() => void) | undefined

  const fail = (error: unknown) => deps.onError?.(error)
  const sentKey = (audit: OpId, jid: string) => `${audit}\n${jid}`

  async function withUnit(
    audit: OpId,
    format: (state: AuditState, unit: TokenUnit) => string,
  ): Promise<string> {
    const state = await audits.state(audit)
    return format(state, await unitOf(state.params.token))
  }

  function accountOf(jid: string, create = false): LocalAccount | undefined {
    return create ? accounts.custodialFor(jid) : accounts.byJid(jid)
  }

  /** Audits `account` administers, with their current states. */
  async function adminAudits(account: LocalAccount | undefined) {
    if (!account) return []
    const out: { id: OpId; name: string; state: string }[] = []
    for (const audit of audits.list())
      if ((await audits.params(audit.id)).admins.includes(account.key)) out.push(audit)
    return out
  }

  /** The chat auditors of an audit: its roster's keys that belong to JID-bound accounts. */
  function chatAuditors(state: AuditState): { jid: string; key: string }[] {
    const byKey = new Map(
      accounts
        .list()
        .filter((a) => a.jid)
        .map((a) => [a.key, a.jid!]),
    )
    return state.auditors.flatMap((a) =>
      byKey.has(a.key) ? [{ jid: byKey.get(a.key)!, key: a.key }] : [],
    )
  }

  function prompt(state: AuditState, key: string): string | undefined {
    const next = nextInspection(state, key)
    if (!next) return undefined
    const mine = state.inspections.filter((i) => i.auditor === key && i.status !== 'reassigned')
    const n = mine.findIndex((i) => i.item === next.item) + 1
    return `Audit "${state.params.name}", inspection ${n} of ${mine.length}: ${next.description}\nIs it true? Answer yes or no.`
  }

  /** Sends each chat auditor of an audit its current inspection, unless it already has it. */
  async function syncInspections(id: OpId): Promise<void> {
    const state = await audits.state(id)
    if (state.state !== 'AUDITING') return
    for (const { jid, key } of chatAuditors(state)) {
      const next = nextInspection(state, key)
      const last = sent.get(sentKey(id, jid))
      if (!next || last?.item === next.item) continue
      sent.set(sentKey(id, jid), { item: next.item, at: now(), reminded: false })
      send(jid, prompt(state, key)!)
    }
  }

  async function announceResults(id: OpId): Promise<void> {
    const state = await audits.state(id)
    if (!state.results) return
    for (const { jid, key } of chatAuditors(state)) {
      const { result } = auditorSummary(state, key)
      if (!result) continue
      const unit = await unitOf(state.params.token)
      send(
        jid,
        `Audit "${state.params.name}" is finished. You had ${result.aligned} aligned, ${result.misaligned} misaligned and ${result.missing} missing inspections; your compensation is ${formatAmount(result.paid + result.returned, unit)}, paid to ${result.payout}.`,
      )
    }
    for (const account of accounts.list())
      if (account.jid && state.params.admins.includes(account.key))
        send(
          account.jid,
          `Audit "${state.params.name}" reached ${state.state}. Send "results" or "settlement" to see them.`,
        )
  }

  async function announceClose(id: OpId): Promise<void> {
    const state = await audits.state(id)
    for (const { jid } of chatAuditors(state))
      send(
        jid,
        `Registration for "${state.params.name}" is closed: you are one of ${state.auditors.length} auditors. Your first inspection comes when the audit starts.`,
      )
  }

  function onOp(doc: OpId, type: string): void {
    const run = (task: () => Promise<void>) => {
      events = events.then(task).catch(fail)
    }
    if (type === AUDIT_OP.close) run(() => announceClose(doc))
    else if (type === AUDIT_OP.start || type === AUDIT_OP.reassign) run(() => syncInspections(doc))
    else if (type === AUDIT_OP.stop || type === AUDIT_OP.finish) run(() => announceResults(doc))
  }

  // ---- admin conversation ----

  async function currentAudit(
    jid: string,
    account: LocalAccount | undefined,
  ): Promise<OpId | string> {
    const mine = await adminAudits(account)
    const chosen = selected.get(jid)
    if (chosen && mine.some((a) => a.id === chosen)) return chosen
    const active = mine.filter((a) => a.state !== 'COMPLETE')
    if (active.length === 1) return active[0]!.id
    if (mine.length === 0) return 'You have no audit yet. Create one with: create <name> <bond>'
    return `You run several audits; pick one with "use <name>": ${mine.map((a) => `"${a.name}" (${a.state})`).join(', ')}.`
  }

  async function admin(
    jid: string,
    account: LocalAccount | undefined,
    text: string,
  ): Promise<string[]> {
    const [word = '', ...rest] = text.split(/\s+/)
    const command = word.toLowerCase()
    const arg = text.slice(word.length).trim()
    if (command === 'help') return [ADMIN_MENU]
    if (command === 'create') return [await create(jid, rest)]
    if (command === 'use') {
      const match = (await adminAudits(account)).find((a) => a.name === arg)
      if (!match) return [`You run no audit named "${arg}".`]
      selected.set(jid, match.id)
      return [`Now using "${match.name}" (${match.state}).`]
    }
    const known = [
      'state',
      'items',
      'add',
      'del',
      'set',
      'open',
      'close',
      'start',
      'stop',
      'outstanding_inspections',
      'results',
      'settlement',
    ]
    if (!known.includes(command)) return [ADMIN_MENU]
    const id = await currentAudit(jid, account)
    if (!id.startsWith('bafy')) return [id]
    const audit = id as OpId
    const me = account!
    switch (command) {
      case 'state': {
        const state = await audits.state(audit)
        return [
          `"${state.params.name}" is ${state.state} (${state.stateIndex}): ${state.items.length} items, ${state.auditors.length} auditors.`,
        ]
      }
      case 'items': {
        const { items, params } = await audits.state(audit)
        return [
          items.length
            ? items.map((i) => `${i.number}. ${i.description}`).join('\n')
            : `"${params.name}" has no items yet: add <description>`,
        ]
      }
      case 'add':
        if (!arg) return ['Say what to add: add <description>']
        await actions.addItem(me, audit, arg)
        return [`Added "${arg}". ${(await audits.state(audit)).items.length} items now.`]
      case 'del':
        if (!/^\d+$/.test(arg)) return ['Say which item, by its number in "items": del <number>']
        await actions.deleteItem(me, audit, Number(arg))
        return [`Deleted item ${arg}.`]
      case 'set':
        return [await set(me, audit, rest)]
      case 'open':
      case 'close':
      case 'start':
      case 'stop': {
        const force = command === 'stop' && arg.toLowerCase() === 'force'
        const result = await actions.control(me, audit, command, force)
        return [`Done: "${(await audits.state(audit)).params.name}" is now ${result.state}.`]
      }
      case 'outstanding_inspections': {
        const state = await audits.state(audit)
        const list = outstandingInspections(state)
        if (list.length === 0) return ['No outstanding inspections.']
        const description = new Map(state.items.map((i) => [i.id, i.description]))
        return [
          list
            .map((i) => `${description.get(i.item)}: auditor ${i.auditor.slice(0, 12)}…`)
            .join('\n'),
        ]
      }
      case 'results':
        return [await withUnit(audit, formatResults)]
      default:
        return [await withUnit(audit, formatSettlement)]
    }
  }

  async function create(jid: string, words: string[]): Promise<string> {
    if (!deps.admins.includes(jid))
      return "Only the admins in this node's config may create audits by chat; ask the node's operator."
    const bond = words.at(-1) ?? ''
    const name = words.slice(0, -1).join(' ')
    if (!name || !/^\d+$/.test(bond))
      return 'Usage: create <name> <bond>, e.g. create Street lights 1000'
    const op = await actions.create(accountOf(jid, true)!, { name, bond })
    selected.set(jid, op.id)
    return `Created "${name}" with bond ${bond}. Add items with "add <description>", then "open".`
  }

  async function set(me: LocalAccount, audit: OpId, words: string[]): Promise<string> {
    const [name = '', value = ''] = words
    if (!name || !value)
      return 'Usage: set <num_audits_per_item|slashing_ratio|inspection_deadline|num_items> <value>'
    if (name === 'num_items')
      return 'Here the number of items is the items you add: use "add <description>" and "del <number>".'
    const numeric = name === 'num_audits_per_item' || name === 'inspection_deadline'
    const typed = numeric && /^-?\d+$/.test(value) ? Number(value) : value
    await actions.setParam(me, audit, name, typed)
    return `Set ${name} to ${value}.`
  }

  // ---- auditor conversation ----

  async function join(jid: string, step: Joining, text: string): Promise<string[]> {
    if (text.toLowerCase() === 'cancel') {
      joining.delete(jid)
      return [`Cancelled: you did not join "${step.name}".`]
    }
    if (!step.payout) {
      let payout: string
      try {
        payout = parseChecksumAddress(text)
      } catch (error) {
        if (!(error instanceof BaseError)) throw error
        return [`${error.shortMessage} Send the address again, or "cancel".`]
      }
      step.payout = payout
      const account = accountOf(jid, true)!
      return [
        `Now prove the address is yours: sign this exact message with its wallet ("Sign message", EIP-191) and send me the signature (0x…), or "cancel":\n${identityMessage(account.signer.publicKey)}`,
      ]
    }
    if (!/^0x[0-9a-fA-F]{130}$/.test(text))
      return ['A signature is 0x followed by 130 hex digits. Send it again, or "cancel".']
    const account = accountOf(jid, true)!
    try {
      await actions.register(account, step.audit, { payout: step.payout, proof: text })
    } catch (error) {
      if (!(error instanceof BaseError)) throw error
      return [`${error.shortMessage} Send the signature again, or "cancel".`]
    }
    joining.delete(jid)
    return [
      `You're registered for "${step.name}", paid to ${step.payout}. Your first inspection comes when the audit starts.`,
    ]
  }

  /** The audit where this auditor has an inspection to answer, oldest first. */
  async function openInspection(account: LocalAccount) {
    for (const { id } of audits.list()) {
      const next = await audits.next(id, account.key)
      if (next) return { id, next }
    }
    return undefined
  }

  async function answer(
    jid: string,
    account: LocalAccount,
    id: OpId,
    text: string,
  ): Promise<string[]> {
    const state = await audits.state(id)
    let value: boolean
    try {
      value = parseAnswer(text)
    } catch {
      return [ANSWER_HELP, prompt(state, account.key)!]
    }
    const next = nextInspection(state, account.key)!
    await actions.answer(account, id, value, next.item)
    const after = await audits.state(id)
    const following = prompt(after, account.key)
    const thanks = `Thanks: "${value ? 'yes' : 'no'}" recorded for "${next.description}".`
    if (!following)
      return [
        thanks,
        `That was your last inspection in "${after.params.name}". You'll get your result when the audit ends.`,
      ]
    const upcoming = nextInspection(after, account.key)!
    sent.set(sentKey(id, jid), { item: upcoming.item, at: now(), reminded: false })
    return [thanks, following]
  }

  async function handle(jid: string, body: string): Promise<string[] | undefined> {
    const step = joining.get(jid)
    if (step) return join(jid, step, body)
    const account = accountOf(jid)
    if (deps.admins.includes(jid) || (await adminAudits(account)).length > 0)
      return admin(jid, account, body)
    if (account) {
      const open = await openInspection(account)
      if (open) return answer(jid, account, open.id, body)
    }
    const named = audits.list().filter((a) => a.name === body)
    if (named.length === 1) {
      const audit = named[0]!
      if (audit.state !== AUDIT_STATES[1])
        return [`"${audit.name}" is not taking registrations now (it is ${audit.state}).`]
      joining.set(jid, { audit: audit.id, name: audit.name })
      return [
        `You're joining "${audit.name}". Send the Ethereum address (EIP-55 checksummed) where you want to be paid.`,
      ]
    }
    return undefined
  }

  return {
    handle,
    greeting: STRANGER_HELP,
    /** Follows the ledger and sends every chat auditor its current inspection (resuming after a restart). */
    async start(): Promise<void> {
      unsubscribe = ledger.onAccepted((ops) => {
        for (const { doc, op } of ops) onOp(doc, op.op.type)
      })
      for (const { id, state } of audits.list()) if (state === 'AUDITING') await syncInspections(id)
    },
    stop(): void {
      unsubscribe?.()
    },
    /** Reminds auditors whose inspection has used half its deadline (once per inspection). */
    async remind(): Promise<void> {
      for (const [key, last] of sent) {
        if (last.reminded) continue
        const [id, jid] = key.split('\n') as [OpId, string]
        const state = await audits.state(id)
        const account = accountOf(jid)
        if (!account || nextInspection(state, account.key)?.item !== last.item) continue
        if (now() - last.at < state.params.inspectionDeadline / 2) continue
        last.reminded = true
        send(
          jid,
          `Reminder: half the time for this inspection has passed.\n${prompt(state, account.key)}`,
        )
      }
    },
    /** Resolves once pushed messages for ops seen so far have been sent. */
    settled: () => events,
  }
}

function formatResults(state: AuditState, unit: TokenUnit): string {
  if (!state.results) return `No results yet: "${state.params.name}" is ${state.state}.`
  const items = state.results.items.map(
    (r) =>
      `${state.items[r.item]?.description}: ${r.result ? 'yes' : 'no'} (${r.yes} yes, ${r.no} no, ${r.missing} missing)`,
  )
  const auditors = state.results.auditors.map(
    (a) =>
      `${a.payout}: ${a.aligned} aligned, ${a.misaligned} misaligned, ${a.missing} missing → ${formatAmount(a.paid + a.returned, unit)}`,
  )
  const remainder = `Remainder to the payer: ${formatAmount(state.results.remainder, unit)}`
  return [...items, ...auditors, remainder].join('\n')
}

function formatSettlement(state: AuditState, unit: TokenUnit): string {
  const s = state.settlement
  if (!s) return `No settlement yet: "${state.params.name}" is ${state.state}.`
  return [
    ...s.payees.map((p, i) => `${p} ${formatAmount(s.amounts[i]!, unit)}`),
    `Total ${formatAmount(s.total, unit)}, remainder ${formatAmount(s.remainder, unit)}.`,
  ].join('\n')
}
