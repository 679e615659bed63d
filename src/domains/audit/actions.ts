import { randomBytes } from 'node:crypto'
import { parseAnswer } from '../../core/audit/answer.ts'
import {
  type AuditOpDraft,
  addItemDraft,
  answerDraft,
  answerTarget,
  type ControlAction,
  commitDraft,
  controlDraft,
  createDraft,
  deleteItemDraft,
  itemRef,
  reassignDraft,
  registerDraft,
  revealDrafts,
  setParamDraft,
} from '../../core/audit/drafts.ts'
import {
  AuditNameTakenError,
  AuditOpRefusedError,
  InvalidAuditInputError,
} from '../../core/audit/errors.ts'
import type { AuditReducer } from '../../core/audit/reduce.ts'
import { AUDIT_OP, type AuditStateName } from '../../core/audit/states.ts'
import { identityMessage, parseChecksumAddress } from '../../core/identity.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { LocalAccount } from '../../node/accounts.ts'
import { memorySaltStore, type SaltStore } from '../../node/salt-store.ts'
import type { AuditIndex } from './audit-index.ts'

/** What an action did: the op it signed, and the audit's state after it. */
export type ActionResult = {
  readonly op: OpId
  readonly audit: OpId
  readonly state: AuditStateName
}

/** Audit actions signed by the node for its local accounts (HTTP, chat, Chainlink, the settler). */
export interface AuditActions {
  /** Creates an audit whose genesis is signed by `account` (its first admin). */
  create(account: LocalAccount, params: Record<string, unknown>): Promise<EncodedOp>
  control(
    account: LocalAccount,
    ref: string,
    action: ControlAction,
    force?: boolean,
  ): Promise<ActionResult>
  /** Records that the escrow paid the audit out (WAITING_FOR_CONTRACT → COMPLETE). */
  recordSettled(
    account: LocalAccount,
    ref: string,
    proof: { chainId: number; escrow: string; tx: string },
  ): Promise<ActionResult>
  /** Publishes this node's EIP-712 signature of an audit's settlement report. */
  signSettlement(
    account: LocalAccount,
    ref: string,
    body: { chainId: number; escrow: string; signature: string },
  ): Promise<ActionResult>
  addItem(account: LocalAccount, ref: string, description: string): Promise<ActionResult>
  deleteItem(account: LocalAccount, ref: string, item: number | string): Promise<ActionResult>
  setParam(account: LocalAccount, ref: string, name: string, value: unknown): Promise<ActionResult>
  /** Gives `auditor`'s missed inspection of `item` (number or id) to a backup auditor. */
  reassign(
    account: LocalAccount,
    ref: string,
    item: number | string,
    auditor: string,
  ): Promise<ActionResult>
  /** Registers `account` as an auditor; the proof is signed with its own Ethereum key unless given. */
  register(
    account: LocalAccount,
    ref: string,
    given?: { payout?: string | undefined; proof?: string | undefined },
  ): Promise<ActionResult>
  /** The account's current inspection, with the item's description. */
  next(account: LocalAccount, ref: string): ReturnType<AuditIndex['next']>
  /** Answers an inspection (the account's next one unless `item` is given). */
  answer(
    account: LocalAccount,
    ref: string,
    answer: boolean | string,
    item?: string,
  ): Promise<ActionResult>
  /** Reveals every answer `account` committed through this node. */
  reveal(account: LocalAccount, ref: string): Promise<ActionResult[]>
}

/**
 * Creates the audit actions of a node: each is checked against the current state first (so a
 * refusal is an error, not a rejected op in the log), then signed, appended and made durable.
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
}): AuditActions {
  /**
   * Checks a draft against the audit's current state and, in the same synchronous step, signs
   * and appends it: the reducer follows the log synchronously, so no other op can slip in
   * between the check and the append. Resolves once the op is durable.
   */
  async function act(
    account: LocalAccount,
    ref: string,
    draft: AuditOpDraft | ((reducer: AuditReducer, id: OpId) => AuditOpDraft),
  ): Promise<ActionResult> {
    const id = audits.resolve(ref)
    const reducer = await audits.reducer(id)
    const time = now()
    const { type, body } = typeof draft === 'function' ? draft(reducer, id) : draft
    reducer.check({ author: account.signer.publicKey, type, body, time })
    const appended = ledger.append(account.signer, { doc: id, type, body, time })
    const state = reducer.stateName()
    const op = await appended
    return { op: op.id, audit: id, state }
  }

  const stateOf = (ref: string) => audits.state(audits.resolve(ref))

  return {
    async create(account, params) {
      // The name must be new among audits created on this node, so it can name the audit
      // (chat, Chainlink jobs, URLs); a stranger's genesis published first does not block it.
      const { type, body, params: parsed } = createDraft(params, account.key)
      if (audits.isNameTaken(parsed.name)) throw new AuditNameTakenError(parsed.name)
      return ledger.append(account.signer, { doc: null, type, body, time: now() })
    },
    control: (account, ref, action, force = false) =>
      act(account, ref, controlDraft(action, force)),
    recordSettled: (account, ref, proof) =>
      act(account, ref, { type: AUDIT_OP.settled, body: proof }),
    signSettlement: (account, ref, body) =>
      act(account, ref, { type: AUDIT_OP.signSettlement, body }),
    addItem: (account, ref, description) => act(account, ref, addItemDraft(description)),
    deleteItem: async (account, ref, item) =>
      act(account, ref, deleteItemDraft(await stateOf(ref), item)),
    setParam: (account, ref, name, value) => act(account, ref, setParamDraft(name, value)),
    reassign: async (account, ref, item, auditor) =>
      act(account, ref, reassignDraft(await stateOf(ref), item, auditor)),
    async register(account, ref, given = {}) {
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
      return act(account, ref, registerDraft(payout, proof))
    },
    next: (account, ref) => audits.next(audits.resolve(ref), account.key),
    async answer(account, ref, answer, item) {
      const id = audits.resolve(ref)
      const value = typeof answer === 'boolean' ? answer : parseAnswer(answer)
      const given = item ? itemRef(await audits.state(id), item) : undefined
      const target = (reducer: AuditReducer) =>
        answerTarget(
          {
            params: reducer.params(),
            state: reducer.stateName(),
            next: (key) => reducer.nextInspection(key),
          },
          account.key,
          given,
        )
      if (!(await audits.params(id)).commitReveal)
        return act(account, id, (reducer) => answerDraft(target(reducer), value))
      const salt = new Uint8Array(randomBytes(32))
      let slot: string | undefined
      try {
        return await act(account, id, (reducer) => {
          const draft = commitDraft({
            audit: id,
            item: target(reducer),
            auditor: account.signer.publicKey,
            answer: value,
            salt,
          })
          // Saved before the commitment is signed: a crash must not leave it unrevealable.
          slot = draft.slot
          salts.set(slot, draft.secret)
          return draft
        })
      } catch (error) {
        if (slot) salts.delete(slot)
        throw error
      }
    },
    async reveal(account, ref) {
      const id = audits.resolve(ref)
      const results: ActionResult[] = []
      for (const draft of revealDrafts(salts, id, account.key)) {
        results.push(await act(account, id, draft))
        salts.delete(draft.slot)
      }
      if (results.length === 0)
        throw new AuditOpRefusedError(
          `You have no commitment made through this node waiting to be revealed in audit "${(await audits.params(id)).name}" (state ${await audits.stateName(id)}).`,
        )
      return results
    },
  }
}
