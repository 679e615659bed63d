import type { OpId } from '../../ledger/op-id.ts'
import { type CommittedAnswer, commitAnswer } from './commitment.ts'
import { InvalidAuditInputError } from './errors.ts'
import { type AuditParams, parseAuditParams, SETTABLE_PARAMS } from './params.ts'
import type { AuditItem } from './state.ts'
import { AUDIT_OP } from './states.ts'

// The bodies of audit ops, built in one place for every interface that signs them: the node's
// actions (HTTP, chat, Chainlink), the CLI and the demo. Pure: keys, salts and time come in.

/** An op to sign: its type and body. */
export type AuditOpDraft = { readonly type: string; readonly body: Record<string, unknown> }

/** Admin control words and their op types. */
export const CONTROL_ACTIONS = {
  open: AUDIT_OP.open,
  close: AUDIT_OP.close,
  start: AUDIT_OP.start,
  stop: AUDIT_OP.stop,
  finish: AUDIT_OP.finish,
  settled: AUDIT_OP.settled,
} as const
export type ControlAction = keyof typeof CONTROL_ACTIONS

/**
 * The genesis of a new audit, its parameters checked first: a bad genesis would stay in every
 * node's log for good. Answers the parsed parameters too (the name, to check it is new).
 */
export function createDraft(
  params: Record<string, unknown>,
  creatorKey: string,
): AuditOpDraft & { readonly params: AuditParams } {
  return { type: AUDIT_OP.create, body: params, params: parseAuditParams(params, creatorKey) }
}

/** An admin's control op (`stop` with `force` counts outstanding inspections as missing). */
export function controlDraft(action: ControlAction, force = false): AuditOpDraft {
  return { type: CONTROL_ACTIONS[action], body: action === 'stop' && force ? { force: true } : {} }
}

/** Adds an item. */
export const addItemDraft = (description: string): AuditOpDraft => ({
  type: AUDIT_OP.addItem,
  body: { description },
})

/**
 * The item an admin means: a number (or digits) is its place in the current list; anything else
 * is taken as an item id, which the audit's rules judge (a retried delete by id is refused as
 * already done, not as unknown).
 */
export function itemRef(
  audit: { readonly params: { readonly name: string }; readonly items: readonly AuditItem[] },
  item: number | string,
): OpId {
  if (typeof item === 'number' || /^\d+$/.test(item)) {
    const found = audit.items.find((i) => i.number === Number(item))
    if (!found)
      throw new InvalidAuditInputError(
        `Audit "${audit.params.name}" has no item number ${item}; it has ${audit.items.length} items (list them with "items").`,
      )
    return found.id
  }
  return item as OpId
}

/** Deletes an item (by number or id). */
export const deleteItemDraft = (
  audit: Parameters<typeof itemRef>[0],
  item: number | string,
): AuditOpDraft => ({ type: AUDIT_OP.deleteItem, body: { item: itemRef(audit, item) } })

/** Parameters whose values are numbers: text of digits becomes a number for them. */
const NUMERIC_PARAMS = new Set<string>(['auditsPerItem', 'inspectionDeadline'])

/** Sets a parameter; a value typed as text (CLI, chat) becomes a number where the parameter is one. */
export function setParamDraft(name: string, value: unknown): AuditOpDraft {
  const param = Object.hasOwn(SETTABLE_PARAMS, name)
    ? SETTABLE_PARAMS[name as keyof typeof SETTABLE_PARAMS]
    : undefined
  const typed =
    typeof value === 'string' && param && NUMERIC_PARAMS.has(param) && /^-?\d+$/.test(value)
      ? Number(value)
      : value
  return { type: AUDIT_OP.setParam, body: { name, value: typed } }
}

/** Gives `auditor`'s missed inspection of `item` (number or id) to a backup. */
export const reassignDraft = (
  audit: Parameters<typeof itemRef>[0],
  item: number | string,
  auditor: string,
): AuditOpDraft => ({ type: AUDIT_OP.reassign, body: { item: itemRef(audit, item), auditor } })

/** Registers an auditor with its payout address and the proof that binds it to its key. */
export const registerDraft = (payout: string, proof: string): AuditOpDraft => ({
  type: AUDIT_OP.register,
  body: { payout, proof },
})

/** What an auditor's next answer needs to know of an audit. */
export type AnsweringView = {
  readonly params: { readonly name: string; readonly commitReveal: boolean }
  readonly state: string
  /** The auditor's current inspection, if any. */
  next(auditorKey: string): { readonly item: OpId } | undefined
}

/** The inspection an answer is for: the given item, else the auditor's next one. */
export function answerTarget(audit: AnsweringView, auditorKey: string, given?: OpId): OpId {
  const target = given ?? audit.next(auditorKey)?.item
  if (!target)
    throw new InvalidAuditInputError(
      `You have no open inspection in audit "${audit.params.name}" (state ${audit.state}).`,
    )
  return target
}

/** A plain answer to an inspection. */
export const answerDraft = (item: OpId, answer: boolean): AuditOpDraft => ({
  type: AUDIT_OP.answer,
  body: { item, answer },
})

/** Where an auditor's salt for one item waits for its reveal: `audit/item/auditor key`. */
export const saltSlot = (audit: OpId, item: OpId, auditorKey: string) =>
  `${audit}/${item}/${auditorKey}`

/**
 * A commitment to an answer (commit–reveal audits), with the secret to keep until the reveal:
 * it must be stored durably before the commitment is signed, or the answer is lost.
 */
export function commitDraft(committed: CommittedAnswer): AuditOpDraft & {
  readonly slot: string
  readonly secret: { answer: boolean; salt: Uint8Array }
} {
  const { audit, item, auditor, answer, salt } = committed
  const commitment = commitAnswer(committed)
  const slot = saltSlot(audit, item, Buffer.from(auditor).toString('hex'))
  return { type: AUDIT_OP.commit, body: { item, commitment }, slot, secret: { answer, salt } }
}

/**
 * The reveals of an auditor's committed answers in an audit, from the salts kept for them:
 * each with the slot to delete once its reveal is durable.
 */
export function revealDrafts(
  salts: {
    keys(): readonly string[]
    get(slot: string): { answer: boolean; salt: Uint8Array } | undefined
  },
  audit: OpId,
  auditorKey: string,
): (AuditOpDraft & { readonly slot: string })[] {
  const out: (AuditOpDraft & { slot: string })[] = []
  for (const slot of salts.keys()) {
    const [of, item, key] = slot.split('/')
    const secret = salts.get(slot)
    if (of !== audit || key !== auditorKey || !item || !secret) continue
    out.push({
      type: AUDIT_OP.reveal,
      body: { item, answer: secret.answer, salt: secret.salt },
      slot,
    })
  }
  return out
}
