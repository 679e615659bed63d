import { randomBytes } from 'node:crypto'
import { parseAnswer } from '../core/audit/answer.ts'
import { commitAnswer } from '../core/audit/commitment.ts'
import {
  AuditNameTakenError,
  AuditOpRefusedError,
  InvalidAuditInputError,
} from '../core/audit/errors.ts'
import { parseAuditParams } from '../core/audit/params.ts'
import type { AuditReducer } from '../core/audit/reduce.ts'
import type { AuditState } from '../core/audit/state.ts'
import { AUDIT_OP } from '../core/audit/states.ts'
import { identityMessage, parseChecksumAddress } from '../core/identity.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { EncodedOp } from '../ledger/op.ts'
import type { OpId } from '../ledger/op-id.ts'
import type { LocalAccount } from './accounts.ts'
import type { AuditIndex } from './audit-index.ts'
import { memorySaltStore, type SaltStore } from './salt-store.ts'

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
 * made durable.
 */
export function createAuditActions({
  ledger,
  audits,
  salts = memorySaltStore(),
  now = Date.now,
}: {
  ledger: Ledger
  audits: AuditIndex
  /** Where commit–reveal salts of local accounts wait for their reveal. */
  salts?: SaltStore
  now?: () => number
}) {
  /**
   * Checks a draft against the audit's current state and, in the same synchronous step, signs
   * and appends it: the reducer follows the log synchronously, so no other op can slip in
   * between the check and the append. Resolves once the op is durable.
   */
  async function act(
    account: LocalAccount,
    ref: string,
    type: string,
    body: Record<string, unknown> | ((reducer: AuditReducer) => Record<string, unknown>),
  ): Promise<ActionResult> {
    const id = audits.resolve(ref)
    const reducer = await audits.reducer(id)
    const time = now()
    const content = typeof body === 'function' ? body(reducer) : body
    reducer.check({ author: account.signer.publicKey, type, body: content, time })
    const appended = ledger.append(account.signer, { doc: id, type, body: content, time })
    const state = reducer.stateName()
    const op = await appended
    return { op: op.id, audit: id, state }
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
    /**
     * Creates an audit whose genesis is signed by `account` (its first admin). The parameters
     * are checked first, so a bad one is an error and not a genesis every node keeps; the name
     * must be new among audits created on this node, so it can name the audit (chat, Chainlink
     * jobs, URLs); a stranger's genesis published first under that name does not block it.
     */
    async create(account: LocalAccount, params: Record<string, unknown>): Promise<EncodedOp> {
      const { name } = parseAuditParams(params, account.key)
      if (audits.isNameTaken(name)) throw new AuditNameTakenError(name)
      return ledger.append(account.signer, {
        doc: null,
        type: AUDIT_OP.create,
        body: params,
        time: now(),
      })
    },
    control: (account: LocalAccount, ref: string, action: ControlAction, force = false) =>
      act(account, ref, CONTROL_ACTIONS[action], action === 'stop' && force ? { force: true } : {}),
    /** Records that the escrow paid the audit out (WAITING_FOR_CONTRACT → COMPLETE). */
    recordSettled: (
      account: LocalAccount,
      ref: string,
      proof: { chainId: number; escrow: string; tx: string },
    ) => act(account, ref, AUDIT_OP.settled, proof),
    /** Publishes this node's EIP-712 signature of an audit's settlement report. */
    signSettlement: (
      account: LocalAccount,
      ref: string,
      body: { chainId: number; escrow: string; signature: string },
    ) => act(account, ref, AUDIT_OP.signSettlement, body),
    addItem: (account: LocalAccount, ref: string, description: string) =>
      act(account, ref, AUDIT_OP.addItem, { description }),
    async deleteItem(account: LocalAccount, ref: string, item: number | string) {
      const state = await audits.state(audits.resolve(ref))
      return act(account, ref, AUDIT_OP.deleteItem, { item: itemId(state, item) })
    },
    setParam: (account: LocalAccount, ref: string, name: string, value: unknown) =>
      act(account, ref, AUDIT_OP.setParam, { name, value }),
    /** Gives `auditor`'s missed inspection of `item` (number or id) to a backup auditor. */
    async reassign(account: LocalAccount, ref: string, item: number | string, auditor: string) {
      const state = await audits.state(audits.resolve(ref))
      return act(account, ref, AUDIT_OP.reassign, { item: itemId(state, item), auditor })
    },
    /** Registers `account` as an auditor; the proof is signed with its own Ethereum key unless given. */
    async register(
      account: LocalAccount,
      ref: string,
      given: { payout?: string | undefined; proof?: string | undefined } = {},
    ) {
      // The account's own address in any case is its own; any other must be a valid address.
      const payout =
        given.payout === undefined || given.payout.toLowerCase() === account.address.toLowerCase()
          ? account.address
          : parseChecksumAddress(given.payout)
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
      const given = item ? itemId(await audits.state(id), item) : undefined
      const targetOf = (reducer: AuditReducer): OpId => {
        const target = given ?? reducer.nextInspection(account.key)?.item
        if (!target)
          throw new InvalidAuditInputError(
            `You have no open inspection in audit "${reducer.params().name}" (state ${reducer.stateName()}).`,
          )
        return target
      }
      if (!(await audits.params(id)).commitReveal)
        return act(account, id, AUDIT_OP.answer, (reducer) => ({
          item: targetOf(reducer),
          answer: value,
        }))
      const salt = new Uint8Array(randomBytes(32))
      let key: string | undefined
      try {
        return await act(account, id, AUDIT_OP.commit, (reducer) => {
          const target = targetOf(reducer)
          const commitment = commitAnswer({
            audit: id,
            item: target,
            auditor: account.signer.publicKey,
            answer: value,
            salt,
          })
          // Saved before the commitment is signed: a crash must not leave it unrevealable.
          key = `${id}/${target}/${account.key}`
          salts.set(key, { answer: value, salt })
          return { item: target, commitment }
        })
      } catch (error) {
        if (key) salts.delete(key)
        throw error
      }
    },
    /** Reveals every answer `account` committed through this node. */
    async reveal(account: LocalAccount, ref: string) {
      const id = audits.resolve(ref)
      const results: ActionResult[] = []
      for (const key of salts.keys()) {
        const { answer, salt } = salts.get(key)!
        const [audit, item, auditor] = key.split('/')
        if (audit !== id || auditor !== account.key) continue
        results.push(await act(account, id, AUDIT_OP.reveal, { item, answer, salt }))
        salts.delete(key)
      }
      if (results.length === 0)
        throw new AuditOpRefusedError(
          `You have no commitment made through this node waiting to be revealed in audit "${(await audits.params(id)).name}" (state ${await audits.stateName(id)}).`,
        )
      return results
    },
  }
}

export type AuditActions = ReturnType<typeof createAuditActions>
