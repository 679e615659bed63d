import { randomBytes } from 'node:crypto'
import { parseAnswer } from '../core/audit/answer.ts'
import { commitAnswer } from '../core/audit/commitment.ts'
import { InvalidAuditInputError } from '../core/audit/errors.ts'
import { type AuditState, nextInspection } from '../core/audit/reduce.ts'
import { AUDIT_OP } from '../core/audit/states.ts'
import { identityMessage } from '../core/identity.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { EncodedOp } from '../ledger/op.ts'
import type { OpId } from '../ledger/op-id.ts'
import type { LocalAccount } from './accounts.ts'
import type { AuditIndex } from './audit-index.ts'

/** What an action did: the op it signed, and the audit's state after it. */
export type ActionResult = { readonly op: OpId; readonly audit: OpId; readonly state: string }

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
 * Audit actions signed by the node for a local account: each is checked against the current
 * state first (so a refusal is an error, not a rejected op in the log), then signed, appended and
 * made durable. One account's actions on an audit run one at a time, so each is checked
 * against the state its predecessor left.
 */
export function createAuditActions({
  ledger,
  audits,
  now = Date.now,
}: {
  ledger: Ledger
  audits: AuditIndex
  now?: () => number
}) {
  const queues = new Map<string, Promise<unknown>>()
  /** Salts of commit–reveal answers, kept for local accounts until they reveal. */
  const salts = new Map<string, { answer: boolean; salt: Uint8Array }>()

  function serial<T>(id: string, task: () => Promise<T>): Promise<T> {
    const previous = queues.get(id) ?? Promise.resolve()
    const next = previous.then(task, task)
    const settled = next.catch(() => undefined)
    queues.set(id, settled)
    void settled.then(() => {
      if (queues.get(id) === settled) queues.delete(id)
    })
    return next
  }

  async function act(
    account: LocalAccount,
    ref: string,
    type: string,
    body: Record<string, unknown>,
  ): Promise<ActionResult> {
    const id = audits.resolve(ref)
    // One account's actions on one audit run in order (each sees its predecessor's effect);
    // different accounts proceed concurrently, as they would from different nodes.
    return serial(`${id}/${account.key}`, async () => {
      const time = now()
      await audits.check(id, { author: account.signer.publicKey, type, body, time })
      const op = await ledger.append(account.signer, { doc: id, type, body, time })
      return { op: op.id, audit: id, state: await audits.stateName(id) }
    })
  }

  const itemId = (state: AuditState, item: unknown): OpId => {
    if (typeof item === 'number' || (typeof item === 'string' && /^\d+$/.test(item))) {
      const found = state.items.find((i) => i.number === Number(item))
      if (!found)
        throw new InvalidAuditInputError(
          `Audit "${state.params.name}" has no item number ${item}; it has ${state.items.length} items (list them with "items").`,
        )
      return found.id
    }
    return String(item) as OpId
  }

  return {
    /** Creates an audit whose genesis is signed by `account` (its first admin). */
    async create(account: LocalAccount, params: Record<string, unknown>): Promise<EncodedOp> {
      return ledger.append(account.signer, {
        doc: null,
        type: AUDIT_OP.create,
        body: params,
        time: now(),
      })
    },
    control: (account: LocalAccount, ref: string, action: ControlAction, force = false) =>
      act(account, ref, CONTROL_ACTIONS[action], action === 'stop' && force ? { force: true } : {}),
    addItem: (account: LocalAccount, ref: string, description: string) =>
      act(account, ref, AUDIT_OP.addItem, { description }),
    async deleteItem(account: LocalAccount, ref: string, item: number | string) {
      const state = await audits.state(audits.resolve(ref))
      return act(account, ref, AUDIT_OP.deleteItem, { item: itemId(state, item) })
    },
    setParam: (account: LocalAccount, ref: string, name: string, value: unknown) =>
      act(account, ref, AUDIT_OP.setParam, { name, value }),
    /** Registers `account` as an auditor; the proof is signed with its own Ethereum key unless given. */
    async register(
      account: LocalAccount,
      ref: string,
      given: { payout?: string | undefined; proof?: string | undefined } = {},
    ) {
      const payout = given.payout ?? account.address
      const proof =
        given.proof ??
        (payout === account.address
          ? await account.signMessage(identityMessage(account.signer.publicKey))
          : undefined)
      if (!proof)
        throw new InvalidAuditInputError(
          `A payout address other than the account's own (${account.address}) needs "proof": its key's EIP-191 signature of "${identityMessage(account.signer.publicKey)}".`,
        )
      return act(account, ref, AUDIT_OP.register, { payout, proof })
    },
    /** The account's current inspection, with the item's description. */
    next: (account: LocalAccount, ref: string) => audits.next(audits.resolve(ref), account.key),
    /** Answers an inspection (the account's next one unless `item` is given). */
    async answer(account: LocalAccount, ref: string, answer: boolean | string, item?: string) {
      const id = audits.resolve(ref)
      const value = typeof answer === 'boolean' ? answer : parseAnswer(answer)
      const target = item
        ? itemId(await audits.state(id), item)
        : (await audits.next(id, account.key))?.item
      if (!target)
        throw new InvalidAuditInputError(
          `You have no open inspection in audit "${ref}" (state ${await audits.stateName(id)}).`,
        )
      if (!(await audits.params(id)).commitReveal)
        return act(account, id, AUDIT_OP.answer, { item: target, answer: value })
      const salt = new Uint8Array(randomBytes(32))
      const commitment = commitAnswer({
        audit: id,
        item: target,
        auditor: account.signer.publicKey,
        answer: value,
        salt,
      })
      const result = await act(account, id, AUDIT_OP.commit, { item: target, commitment })
      salts.set(`${id}/${target}/${account.key}`, { answer: value, salt })
      return result
    },
    /** Reveals every answer `account` committed through this node. */
    async reveal(account: LocalAccount, ref: string) {
      const id = audits.resolve(ref)
      const results: ActionResult[] = []
      for (const [key, { answer, salt }] of salts) {
        const [audit, item, auditor] = key.split('/')
        if (audit !== id || auditor !== account.key) continue
        results.push(await act(account, id, AUDIT_OP.reveal, { item, answer, salt }))
        salts.delete(key)
      }
      return results
    },
  }
}

export type AuditActions = ReturnType<typeof createAuditActions>
