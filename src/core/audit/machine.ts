import { getAddress, type Hex, isAddress } from 'viem'
import { BaseError } from '../../errors/base.ts'
import { latin1Key } from '../../ledger/keys.ts'
import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { CausalEngine, type Mode, type Rules, type View } from '../causal/engine.ts'
import type { OpNote } from '../causal/notes.ts'
import type { Sequence } from '../causal/sequence.ts'
import { type Address, parseChecksumAddress, recoverIdentityAddress } from '../identity.ts'
import { describeValue, formatTime } from '../text.ts'
import { assignAuditors, assignmentSeed, drawBackup } from './assign.ts'
import { commitAnswer } from './commitment.ts'
import { AuditOpRefusedError, AuditPermissionError, InvalidAuditInputError } from './errors.ts'
import {
  type AuditParams,
  CONTROL,
  MAX_AMOUNT,
  parseAuditParams,
  parseParamName,
  setParam,
} from './params.ts'
import { buildSettlement, type Settlement } from './settlement.ts'
import { auditIdOf, recoverSettlementSigner } from './settlement-report.ts'
import type {
  AuditAuditor,
  AuditItem,
  AuditState,
  Inspection,
  SettlementSignature,
} from './state.ts'
import {
  ALLOWED_STATES,
  AUDIT_OP,
  AUDIT_STATES,
  type AuditOpType,
  type AuditStateName,
  COMMAND_OF,
  S,
} from './states.ts'
import { type AuditResults, tally } from './tally.ts'

/** The reducer's own record of an inspection: positions and ranks depend on the apply order, so they stay internal. */
type InspectionRecord = {
  -readonly [K in keyof Inspection]: Inspection[K]
} & {
  /** Control rank at which it was assigned / taken away. */
  readonly assignedRank: number
  removedRank: number
  readonly assignedTime: number
  answerOp: number | undefined
  commitment: Uint8Array | undefined
  revealOp: number | undefined
}

/** Admin ops that form the control chain: each must causally follow all earlier valid ones. */
const CONTROL_OPS = new Set<string>([
  AUDIT_OP.setParam,
  AUDIT_OP.open,
  AUDIT_OP.close,
  AUDIT_OP.start,
  AUDIT_OP.stop,
  AUDIT_OP.finish,
  AUDIT_OP.settled,
  AUDIT_OP.reassign,
])
/** Ops only an admin may sign: the control chain, plus item edits (which need not be chained). */
const ADMIN_OPS = new Set<string>([...CONTROL_OPS, AUDIT_OP.addItem, AUDIT_OP.deleteItem])

/** Why an answer is kept but not counted; one text per reason, whatever order ops came in. */
const CONCURRENT_WITH_STOP = 'the answer was concurrent with "stop" and is not counted'
const STALE_ANSWER = 'the inspection had been reassigned after its deadline'

const hexCache = new Map<string, string>()
/** Hex of a key, cached per distinct key (bounded): an audit has few authors and many ops. */
const hex = (bytes: Uint8Array) => {
  const key = latin1Key(bytes)
  let text = hexCache.get(key)
  if (text === undefined) {
    text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex')
    if (hexCache.size >= 10_000) hexCache.delete(hexCache.keys().next().value!)
    hexCache.set(key, text)
  }
  return text
}
const verifiedProofs = new Map<string, Address | undefined>()

/** EIP-191 recovery is slow; replays of the same registration reuse the answer (bounded cache). */
function recoverCached(key: Uint8Array, proof: `0x${string}`): Address | undefined {
  const cacheKey = `${hex(key)}:${proof}`
  if (verifiedProofs.has(cacheKey)) return verifiedProofs.get(cacheKey)
  const address = recoverIdentityAddress(key, proof)
  if (verifiedProofs.size >= 100_000) verifiedProofs.delete(verifiedProofs.keys().next().value!)
  verifiedProofs.set(cacheKey, address)
  return address
}

/** Everything a handler needs about the op being judged, in the state its causal past shows. */
type Ctx = {
  readonly op: EncodedOp
  readonly view: View
  readonly mode: Mode
  /** Apply the op (true) or only validate it (false: a draft, or an op judged at ingest). */
  readonly commit: boolean
  readonly author: string
  readonly state: number
  readonly params: AuditParams
  readonly body: Record<string, unknown>
}

/**
 * The audit rules (ARCHITECTURE §2) as handlers on the causal engine: each op is judged against
 * the state its own causal past shows. Admin control ops form the engine's control chain; item
 * adds are a lenient sequence (concurrent adds are numbered by the log order).
 */
export class AuditMachine implements Rules {
  readonly id: OpId
  readonly engine: CausalEngine
  /** Item adds in the order they counted: their numbering depends on it. */
  private readonly adds: Sequence
  /** State and params after the first r ops of the control chain, by r. */
  readonly stateAt: number[] = [S.INITIALIZATION]
  readonly paramsAt: AuditParams[]
  readonly transitions: { state: AuditStateName; op: OpId }[] = []
  readonly itemAdds: { pos: number; description: string; deleted: number | undefined }[] = []
  readonly itemByOp = new Map<OpId, number>()
  readonly registrations = new Map<string, { pos: number; payout: Address }>()
  roster: AuditAuditor[] | undefined
  items: { id: OpId; description: string }[] | undefined
  /** Each item's index in `items`, set with it: answers look items up by id. */
  itemIndex: Map<OpId, number> | undefined
  /** Every inspection in assignment order: start's, then each reassignment's backup. */
  readonly inspections: InspectionRecord[] = []
  readonly byItem = new Map<OpId, InspectionRecord[]>()
  /** Each auditor's inspections in assignment order, and where its first outstanding one may be. */
  private readonly byAuditor = new Map<string, { list: InspectionRecord[]; cursor: number }>()
  seed: Uint8Array | undefined
  stopPos: number | undefined
  finishPos: number | undefined
  results: AuditResults | undefined
  settlement: Settlement | undefined
  readonly settlementSignatures: SettlementSignature[] = []

  constructor(genesis: EncodedOp) {
    if (genesis.op.doc !== null || genesis.op.type !== AUDIT_OP.create) {
      throw new InvalidAuditInputError(
        'An audit document must start with an "audit.create" genesis op.',
      )
    }
    this.id = genesis.id
    try {
      this.paramsAt = [parseAuditParams(genesis.op.body, hex(genesis.op.author))]
    } catch (error) {
      if (error instanceof BaseError) throw error
      throw new InvalidAuditInputError(
        `The audit's parameters could not be read: ${error instanceof Error ? error.message : describeValue(error)}`,
        { cause: error },
      )
    }
    this.engine = new CausalEngine(genesis)
    this.adds = this.engine.sequence()
    this.transitions.push({ state: 'INITIALIZATION', op: genesis.id })
  }

  get params(): AuditParams {
    return this.paramsAt[this.paramsAt.length - 1]!
  }

  get state(): number {
    return this.stateAt[this.stateAt.length - 1]!
  }

  /** Applies the next op; ops must come in a topological order (deps first). */
  apply(op: EncodedOp): void {
    this.engine.apply(op, this)
  }

  /** Validates `op` against `view` and, when `mode.commit`, applies it. Throws the refusal. */
  handle(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type as AuditOpType
    const author = hex(op.op.author)
    if (ADMIN_OPS.has(type) && !this.params.admins.includes(author)) {
      throw new AuditPermissionError(
        `Only an admin of audit "${this.params.name}" may ${COMMAND_OF[type]}; ${author.slice(0, 16)}… is not one.`,
      )
    }
    this.run(
      {
        op,
        view,
        mode,
        commit: mode.commit,
        author,
        state: this.stateAt[view.seen]!,
        params: this.paramsAt[view.seen]!,
        body: (op.op.body ?? {}) as Record<string, unknown>,
      },
      type,
    )
  }

  private run(c: Ctx, type: AuditOpType): void {
    const { op, view } = c
    const control = this.engine.control
    if (CONTROL_OPS.has(type) && view.seen < control.length) {
      this.engine.tieBreak(c.mode)
      const latest = control.members[control.length - 1]!
      throw new AuditOpRefusedError(
        `"${COMMAND_OF[type]}" was made without seeing "${COMMAND_OF[this.engine.types[latest] as AuditOpType]}" (op ${this.engine.ids[latest]}); make it again from the current state.`,
      )
    }
    // Own keys only: a type such as "constructor" must not find Object.prototype's members.
    const handler = Object.hasOwn(this.handlers, type) ? this.handlers[type] : undefined
    if (!handler) {
      throw new InvalidAuditInputError(
        `"${op.op.type}" is not an audit op; audit ops are ${Object.values(AUDIT_OP).join(', ')}.`,
      )
    }
    try {
      handler(c)
    } catch (error) {
      if (error instanceof BaseError) throw error
      // A bug or an input no check foresaw must not stop the node (every replica meets the same
      // op): the op is refused. Handlers check everything before they change anything.
      throw new InvalidAuditInputError(
        `The op could not be applied: ${error instanceof Error ? error.message : describeValue(error)}`,
        { cause: error },
      )
    }
  }

  /** The handler of each op type: validates, then (when `commit`) applies. */
  private readonly handlers: Record<string, (c: Ctx) => void> = {
    [AUDIT_OP.setParam]: (c) => {
      const params = setParam(c.params, parseParamName(c.body.name), c.body.value)
      // After close the roster is known: a new bond must keep every payment payable.
      if (this.roster) this.checkStakeCap(params, this.roster.length)
      this.control(c, ALLOWED_STATES[AUDIT_OP.setParam], c.state, params)
    },
    [AUDIT_OP.open]: (c) => this.control(c, ALLOWED_STATES[AUDIT_OP.open], S.AUDITOR_REGISTRATION),
    [AUDIT_OP.settled]: (c) => this.control(c, [S.WAITING_FOR_CONTRACT], S.COMPLETE),
    [AUDIT_OP.addItem]: (c) => this.addItem(c),
    [AUDIT_OP.deleteItem]: (c) => this.deleteItem(c),
    [AUDIT_OP.close]: (c) => this.close(c),
    [AUDIT_OP.start]: (c) => this.start(c),
    [AUDIT_OP.stop]: (c) => this.stop(c),
    [AUDIT_OP.finish]: (c) => this.finish(c),
    [AUDIT_OP.register]: (c) => this.register(c),
    [AUDIT_OP.answer]: (c) => this.answer(c),
    [AUDIT_OP.commit]: (c) => this.answer(c),
    [AUDIT_OP.reveal]: (c) => this.reveal(c),
    [AUDIT_OP.reassign]: (c) => this.reassign(c),
    [AUDIT_OP.signSettlement]: (c) => this.signSettlement(c),
  }

  /** Every payment is at most the bond plus every stake: that must stay within what the escrow pays. */
  private checkStakeCap(params: AuditParams, auditors: number): void {
    if (
      params.reward.mode === 'staked' &&
      params.bond + params.reward.stake * BigInt(auditors) > MAX_AMOUNT
    )
      throw new InvalidAuditInputError(
        `Audit "${params.name}"'s bond plus ${auditors} stakes exceeds 2^256 − 1 base units; lower the bond.`,
      )
  }

  private refuse(type: string, state: number, allowed: readonly number[], why?: string): never {
    const command = COMMAND_OF[type as AuditOpType] ?? type
    const where = allowed.map((s) => AUDIT_STATES[s]).join(' or ')
    throw new AuditOpRefusedError(
      `Audit "${this.params.name}" is in state ${AUDIT_STATES[state]}; "${command}" is only allowed in ${where}${why ? ` ${why}` : ''}.`,
    )
  }

  private requireState(op: EncodedOp, state: number, allowed: readonly number[]): void {
    if (!allowed.includes(state)) this.refuse(op.op.type, state, allowed)
  }

  /** Appends a valid control op to the chain, with the state (and params) it leads to. */
  private control(c: Ctx, allowed: readonly number[], next: number, params?: AuditParams): void {
    const { op, view, state, commit } = c
    this.requireState(op, state, allowed)
    if (!commit) return
    this.engine.control.append(view.position)
    this.stateAt.push(next)
    this.paramsAt.push(params ?? this.params)
    if (next !== state) this.transitions.push({ state: AUDIT_STATES[next]!, op: op.id })
  }

  private addItem(c: Ctx): void {
    const { op, state, body, view, commit } = c
    this.requireState(op, state, ALLOWED_STATES[AUDIT_OP.addItem])
    const description = typeof body.description === 'string' ? body.description.trim() : ''
    if (description.length === 0 || description.length > 1000)
      throw new InvalidAuditInputError('An item needs a description of 1 to 1000 characters.')
    if (CONTROL.test(description))
      throw new InvalidAuditInputError(
        'An item description must not contain control characters (line breaks, tabs, terminal escapes).',
      )
    if (!commit) return
    // Added without seeing every earlier add: the log order numbers the items. A refused add
    // joins nothing, so it is no tie-break (anyone may send one).
    if (!this.adds.seesAll(view.position)) this.engine.tieBreak(c.mode)
    this.adds.append(view.position)
    this.itemByOp.set(op.id, this.itemAdds.length)
    this.itemAdds.push({ pos: view.position, description, deleted: undefined })
  }

  private deleteItem(c: Ctx): void {
    const { op, state, body, view, commit } = c
    this.requireState(op, state, ALLOWED_STATES[AUDIT_OP.deleteItem])
    const index = typeof body.item === 'string' ? this.itemByOp.get(body.item as OpId) : undefined
    const item = index === undefined ? undefined : this.itemAdds[index]
    if (!item || !view.isAncestor(item.pos))
      throw new InvalidAuditInputError(
        `There is no item ${describeValue(body.item)} to delete; list the items to see their ids.`,
      )
    if (item.deleted !== undefined) {
      // Two concurrent deletes: which one counts (and so what a later `start` sees) depends on
      // the order they were applied in.
      if (!view.isAncestor(item.deleted)) this.engine.tieBreak(c.mode)
      throw new AuditOpRefusedError(`Item "${item.description}" is already deleted.`)
    }
    if (commit) item.deleted = view.position
  }

  private close(c: Ctx): void {
    const { op, state, params, view, commit } = c
    this.requireState(op, state, ALLOWED_STATES[AUDIT_OP.close])
    const roster = [...this.registrations.entries()].filter(([, r]) => view.isAncestor(r.pos))
    if (roster.length < params.auditsPerItem) {
      throw new AuditOpRefusedError(
        `Audit "${params.name}" has ${roster.length} registered auditors but needs at least ${params.auditsPerItem} (audits per item) before "close"; wait for more registrations.`,
      )
    }
    this.checkStakeCap(params, roster.length)
    if (!commit) return
    this.roster = roster
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, r]) => ({ key, payout: r.payout, registration: this.engine.ids[r.pos]! }))
    for (const [, r] of this.registrations) {
      if (!view.isAncestor(r.pos))
        this.engine.exclude(
          r.pos,
          'the registration was concurrent with "close" and is not on the roster',
        )
    }
    this.control(c, ALLOWED_STATES[AUDIT_OP.close], S.AUDITOR_REGISTRATION_COMPLETE)
  }

  private start(c: Ctx): void {
    const { op, state, params, view, commit } = c
    this.requireState(op, state, ALLOWED_STATES[AUDIT_OP.start])
    const items = this.itemAdds.filter(
      (i) => view.isAncestor(i.pos) && !(i.deleted !== undefined && view.isAncestor(i.deleted)),
    )
    if (items.length === 0)
      throw new AuditOpRefusedError(
        `Audit "${params.name}" has no items; add items before "start".`,
      )
    const roster = this.roster!
    if (roster.length < params.auditsPerItem) {
      throw new AuditOpRefusedError(
        `Audit "${params.name}" has ${roster.length} registered auditors but each item needs ${params.auditsPerItem} distinct ones; lower audits per item or run a new audit.`,
      )
    }
    if (!commit) return
    this.items = items.map((i) => ({ id: this.engine.ids[i.pos]!, description: i.description }))
    this.itemIndex = new Map(this.items.map((item, n) => [item.id, n]))
    this.seed = assignmentSeed(op.idBytes)
    const k = params.auditsPerItem
    const slots = assignAuditors({
      seed: this.seed,
      items: items.length,
      auditors: roster.length,
      k,
    })
    this.control(c, ALLOWED_STATES[AUDIT_OP.start], S.AUDITING)
    for (let i = 0; i < this.items.length; i++) {
      for (let j = 0; j < k; j++)
        this.assign(
          this.items[i]!.id,
          roster[slots[i * k + j]!]!.key,
          this.engine.control.length,
          op.op.time,
        )
    }
  }

  /**
   * An auditor's first outstanding inspection. An inspection never becomes outstanding again,
   * so the search resumes where the last one stopped: O(1) amortised per answer.
   */
  nextOutstanding(auditor: string): InspectionRecord | undefined {
    const mine = this.byAuditor.get(auditor)
    if (!mine) return undefined
    while (mine.cursor < mine.list.length && mine.list[mine.cursor]!.status !== 'outstanding')
      mine.cursor++
    return mine.list[mine.cursor]
  }

  private assign(item: OpId, auditor: string, rank: number, time: number): InspectionRecord {
    const inspection: InspectionRecord = {
      item,
      auditor,
      status: 'outstanding',
      answer: undefined,
      assignedRank: rank,
      removedRank: Number.POSITIVE_INFINITY,
      assignedTime: time,
      answerOp: undefined,
      commitment: undefined,
      revealOp: undefined,
    }
    this.inspections.push(inspection)
    const mine = this.byAuditor.get(auditor)
    if (mine) mine.list.push(inspection)
    else this.byAuditor.set(auditor, { list: [inspection], cursor: 0 })
    const ofItem = this.byItem.get(item)
    if (ofItem) ofItem.push(inspection)
    else this.byItem.set(item, [inspection])
    return inspection
  }

  private activeInspection(
    item: unknown,
    auditor: string,
    seen: number,
  ): InspectionRecord | undefined {
    // The item's few inspections (k, plus reassignments): cheaper than building a pair key.
    const list = typeof item === 'string' ? this.byItem.get(item as OpId) : undefined
    if (!list) return undefined
    for (const inspection of list) {
      if (
        inspection.auditor === auditor &&
        inspection.assignedRank <= seen &&
        seen < inspection.removedRank
      )
        return inspection
    }
    return undefined
  }

  private register(c: Ctx): void {
    const { op, state, author, body, view, commit } = c
    this.requireState(op, state, [S.AUDITOR_REGISTRATION])
    const earlier = this.registrations.get(author)
    if (earlier) {
      // Two concurrent registrations of one key (with different payouts, say): which counts
      // depends on the order they were applied in, so the state must be rebuilt in log order.
      if (!view.isAncestor(earlier.pos)) this.engine.tieBreak(c.mode)
      throw new AuditOpRefusedError(
        `This key is already registered for audit "${this.params.name}".`,
      )
    }
    if (typeof body.payout !== 'string')
      throw new InvalidAuditInputError(
        'A registration carries "payout": the EIP-55 address that receives the rewards.',
      )
    const payout = parseChecksumAddress(body.payout)
    const proof =
      typeof body.proof === 'string' && /^0x[0-9a-fA-F]{130}$/.test(body.proof)
        ? (body.proof as `0x${string}`)
        : undefined
    if (!proof || recoverCached(op.op.author, proof) !== payout) {
      throw new AuditOpRefusedError(
        `The registration does not prove control of ${payout}; sign "rwa identity: ed25519 ${author}" with that address's key (EIP-191 personal_sign) and send the signature as "proof".`,
      )
    }
    if (!commit) return
    this.registrations.set(author, { pos: view.position, payout })
    if (this.roster)
      this.engine.exclude(
        view.position,
        'the registration was concurrent with "close" and is not on the roster',
      )
  }

  private answer(c: Ctx): void {
    const { op, state, params, author, body, view, commit } = c
    const isCommit = op.op.type === AUDIT_OP.commit
    if (isCommit !== params.commitReveal) {
      throw new AuditOpRefusedError(
        params.commitReveal
          ? `Audit "${params.name}" uses commit–reveal; send a commitment now and reveal the answer after "stop".`
          : `Audit "${params.name}" takes plain answers; send "answer", not a commitment.`,
      )
    }
    this.requireState(op, state, [S.AUDITING])
    const inspection = this.activeInspection(body.item, author, view.seen)
    if (!inspection)
      throw new AuditOpRefusedError(
        `Item ${describeValue(body.item)} is not one of your open inspections in audit "${params.name}".`,
      )
    if (inspection.answerOp !== undefined) {
      this.engine.tieBreak(c.mode)
      throw new AuditOpRefusedError(
        'You already answered this inspection; each inspection takes one answer.',
      )
    }
    if (isCommit) {
      if (!(body.commitment instanceof Uint8Array) || body.commitment.length !== 32)
        throw new InvalidAuditInputError('A commitment is 32 bytes (see commitAnswer).')
    } else if (typeof body.answer !== 'boolean') {
      throw new InvalidAuditInputError('An answer is true or false.')
    }
    if (!commit) return
    // Valid when made, but the tally is already frozen: kept, reported, not counted.
    if (this.stopPos !== undefined) {
      // The same reason as when this answer is applied before the stop (see `stop`): stale if
      // the reassignment comes before the stop in the control chain.
      this.engine.exclude(
        view.position,
        inspection.removedRank < this.engine.control.seenBy(this.stopPos)
          ? STALE_ANSWER
          : CONCURRENT_WITH_STOP,
      )
      return
    }
    inspection.answerOp = view.position
    // Made before it saw a reassignment that has since been applied: kept (stop excludes it as
    // stale), but the inspection stays reassigned, as it is when the answer is applied first.
    if (inspection.status === 'reassigned') return
    if (isCommit) {
      inspection.commitment = body.commitment as Uint8Array
      inspection.status = 'committed'
    } else {
      inspection.answer = body.answer as boolean
      inspection.status = 'answered'
    }
  }

  private reveal(c: Ctx): void {
    const { op, state, author, body, view, commit } = c
    this.requireState(op, state, [S.AUDITING_FINISHED])
    const inspection =
      typeof body.item === 'string'
        ? this.byItem.get(body.item as OpId)?.find((i) => i.auditor === author)
        : undefined
    // "Counted at stop" is what the reveal's causal past knows; finish changes the status later.
    if (!inspection?.commitment) {
      throw new AuditOpRefusedError(
        `You have no counted commitment for item ${describeValue(body.item)} to reveal.`,
      )
    }
    if (inspection.revealOp !== undefined) {
      this.engine.tieBreak(c.mode)
      throw new AuditOpRefusedError('You already revealed this answer.')
    }
    if (typeof body.answer !== 'boolean' || !(body.salt instanceof Uint8Array))
      throw new InvalidAuditInputError(
        'A reveal carries "answer" (true or false) and the "salt" bytes.',
      )
    const expected = commitAnswer({
      audit: this.id,
      item: inspection.item,
      auditor: op.op.author,
      answer: body.answer,
      salt: body.salt,
    })
    if (!Buffer.from(expected).equals(Buffer.from(inspection.commitment))) {
      throw new AuditOpRefusedError(
        'The answer and salt do not match your commitment for this item; the inspection counts as missing.',
      )
    }
    if (!commit) return
    if (this.finishPos !== undefined) {
      this.engine.exclude(
        view.position,
        'the reveal was concurrent with "finish" and is not counted',
      )
      return
    }
    inspection.revealOp = view.position
    inspection.answer = body.answer
  }

  private reassign(c: Ctx): void {
    const { op, state, params, body, view, commit } = c
    this.requireState(op, state, [S.AUDITING])
    const auditor = typeof body.auditor === 'string' ? body.auditor : ''
    const inspection = this.activeInspection(body.item, auditor, view.seen)
    if (!inspection)
      throw new AuditOpRefusedError(
        `Auditor ${auditor.slice(0, 16)}… has no open inspection of item ${describeValue(body.item)}.`,
      )
    if (inspection.answerOp !== undefined && view.isAncestor(inspection.answerOp)) {
      throw new AuditOpRefusedError(
        'That inspection is already answered; only missed inspections are reassigned.',
      )
    }
    const due = inspection.assignedTime + params.inspectionDeadline
    if (op.op.time < due) {
      throw new AuditOpRefusedError(
        `That inspection is due at ${formatTime(due)}; it can be reassigned only after its deadline.`,
      )
    }
    const taken = new Set((this.byItem.get(inspection.item) ?? []).map((i) => i.auditor))
    const eligible = this.roster!.map((a, n) => (taken.has(a.key) ? -1 : n)).filter((n) => n >= 0)
    const attempt = (this.byItem.get(inspection.item) ?? []).filter(
      (i) => i.status === 'reassigned',
    ).length
    const backup = drawBackup(
      this.seed!,
      this.itemIndex!.get(inspection.item) ?? -1,
      attempt,
      eligible,
    )
    if (backup === undefined)
      throw new AuditOpRefusedError(
        'No registered auditor is left who has not inspected this item; it cannot be reassigned.',
      )
    if (!commit) return
    this.control(c, [S.AUDITING], S.AUDITING)
    inspection.removedRank = this.engine.control.length
    inspection.status = 'reassigned'
    // A concurrent answer applied before this op no longer counts (see `answer`).
    inspection.answer = undefined
    inspection.commitment = undefined
    this.assign(inspection.item, this.roster![backup]!.key, this.engine.control.length, op.op.time)
  }

  /** Inspections open at `seen` and whether each has an answer (or commitment) in the op's past. */
  private openInspections(
    seen: number,
    view: View,
  ): { inspection: InspectionRecord; counted: boolean }[] {
    const out: { inspection: InspectionRecord; counted: boolean }[] = []
    for (const inspection of this.inspections) {
      if (inspection.assignedRank > seen || seen >= inspection.removedRank) continue
      out.push({
        inspection,
        counted: inspection.answerOp !== undefined && view.isAncestor(inspection.answerOp),
      })
    }
    return out
  }

  /**
   * A node's signature of the settlement report (for the escrow on one chain). Anyone may
   * publish one; it counts only if it recovers to a signer, and the escrow accepts only its
   * registered signers. One per signer, chain and escrow: the first in log order counts.
   */
  private signSettlement(c: Ctx): void {
    const { op, state, params, body, commit } = c
    this.requireState(op, state, [S.WAITING_FOR_CONTRACT])
    const { chainId, escrow, signature } = body
    if (typeof chainId !== 'number' || !Number.isSafeInteger(chainId) || chainId <= 0)
      throw new InvalidAuditInputError(
        'A settlement signature names its chain: "chainId", a positive integer.',
      )
    if (typeof escrow !== 'string' || !isAddress(escrow, { strict: false }))
      throw new InvalidAuditInputError(
        'A settlement signature names its escrow contract: "escrow", an address.',
      )
    if (typeof signature !== 'string' || !/^0x[0-9a-fA-F]{130}$/.test(signature))
      throw new InvalidAuditInputError('"signature" must be 65 bytes in hex (0x and 130 digits).')
    const settlement = this.settlement!
    const domain = { chainId, escrow: getAddress(escrow) }
    const signer = recoverSettlementSigner(
      {
        ...domain,
        auditId: auditIdOf(this.id),
        payees: settlement.payees,
        amounts: settlement.amounts,
      },
      signature as Hex,
    )
    if (!signer)
      throw new InvalidAuditInputError(
        `The signature is not an EIP-712 signature of audit "${params.name}"'s settlement for chain ${chainId} and escrow ${domain.escrow}.`,
      )
    const twin = this.settlementSignatures.find(
      (s) => s.signer === signer && s.chainId === chainId && s.escrow === domain.escrow,
    )
    if (twin) {
      this.engine.tieBreak(c.mode)
      throw new AuditOpRefusedError(`${signer} already signed this settlement (op ${twin.op}).`)
    }
    if (!commit) return
    this.settlementSignatures.push({ ...domain, signer, signature: signature as Hex, op: op.id })
  }

  private stop(c: Ctx): void {
    const { op, state, params, body, view, commit } = c
    this.requireState(op, state, ALLOWED_STATES[AUDIT_OP.stop])
    const open = this.openInspections(view.seen, view)
    const outstanding = open.filter((o) => !o.counted)
    if (outstanding.length > 0 && body.force !== true) {
      const list = outstanding
        .slice(0, 10)
        .map(
          (o) => `"${this.describe(o.inspection.item)}" by ${o.inspection.auditor.slice(0, 12)}…`,
        )
      throw new AuditOpRefusedError(
        `Audit "${params.name}" has ${outstanding.length} outstanding inspections (${list.join(', ')}${outstanding.length > 10 ? ', …' : ''}); wait for them, reassign them after their deadline ("reassign"), or stop with force ("--force", or "force": true) to count them as missing.`,
      )
    }
    if (!commit) return
    this.stopPos = view.position
    for (const { inspection, counted } of open) {
      if (counted) continue
      if (inspection.answerOp !== undefined)
        this.engine.exclude(inspection.answerOp, CONCURRENT_WITH_STOP)
      inspection.status = 'missing'
      inspection.answer = undefined
      inspection.commitment = undefined
    }
    this.excludeStale(view.seen)
    this.control(c, ALLOWED_STATES[AUDIT_OP.stop], S.AUDITING_FINISHED)
    // Plain answers are final at stop; with commit–reveal, reveals come first (see finish).
    if (!params.commitReveal) this.conclude(op)
  }

  private finish(c: Ctx): void {
    const { op, state, params, view, commit } = c
    if (!params.commitReveal)
      throw new AuditOpRefusedError(
        `Audit "${params.name}" takes plain answers; it finishes by itself at "stop".`,
      )
    this.requireState(op, state, [S.AUDITING_FINISHED])
    if (!commit) return
    this.finishPos = view.position
    for (const inspection of this.inspections) {
      if (inspection.status !== 'committed') continue
      if (inspection.revealOp !== undefined && view.isAncestor(inspection.revealOp)) {
        inspection.status = 'revealed'
        continue
      }
      if (inspection.revealOp !== undefined)
        this.engine.exclude(
          inspection.revealOp,
          'the reveal was concurrent with "finish" and is not counted',
        )
      inspection.status = 'missing'
      inspection.answer = undefined
    }
    this.control(c, [S.AUDITING_FINISHED], S.AUDITING_FINISHED)
    this.conclude(op)
  }

  /** Answers to inspections reassigned away before `stop` never count. */
  private excludeStale(seen: number): void {
    for (const inspection of this.inspections) {
      if (inspection.removedRank <= seen && inspection.answerOp !== undefined) {
        this.engine.exclude(inspection.answerOp, STALE_ANSWER)
      }
    }
  }

  /** The computed steps to WAITING_FOR_CONTRACT: item, audit and auditor results, then settlement. */
  private conclude(op: EncodedOp): void {
    const roster = this.roster!
    const number = new Map(roster.map((a, n) => [a.key, n]))
    const itemNumber = this.itemIndex!
    const counted = this.inspections.map((i) => ({
      item: itemNumber.get(i.item)!,
      auditor: number.get(i.auditor)!,
      answer: i.status === 'answered' || i.status === 'revealed' ? i.answer : undefined,
    }))
    this.results = tally({
      params: this.params,
      itemCount: this.items!.length,
      payouts: roster.map((a) => a.payout),
      inspections: counted,
    })
    this.settlement = buildSettlement(this.results)
    for (const state of [
      S.CALCULATED_ITEM_RESULTS,
      S.CALCULATED_AUDIT_RESULTS,
      S.CALCULATED_AUDITOR_RESULTS,
      S.WAITING_FOR_CONTRACT,
    ]) {
      this.transitions.push({ state: AUDIT_STATES[state]!, op: op.id })
    }
    this.stateAt[this.stateAt.length - 1] = S.WAITING_FOR_CONTRACT
  }

  /** Why an applied op was refused or left out, if it was. */
  verdictOf(id: OpId): OpNote | undefined {
    return this.engine.notes.of(id)
  }

  describe(item: OpId): string {
    const index = this.itemIndex?.get(item)
    return index === undefined ? item : this.items![index]!.description
  }

  currentItems(): AuditItem[] {
    const list =
      this.items ??
      this.itemAdds
        .filter((i) => i.deleted === undefined)
        .map((i) => ({ id: this.engine.ids[i.pos]!, description: i.description }))
    return list.map((item, n) => ({ ...item, number: n + 1 }))
  }

  snapshot(): AuditState {
    return {
      id: this.id,
      params: this.params,
      state: AUDIT_STATES[this.state]!,
      stateIndex: this.state,
      items: this.currentItems(),
      auditors:
        this.roster ??
        [...this.registrations]
          .map(([key, r]) => ({ key, payout: r.payout, registration: this.engine.ids[r.pos]! }))
          .sort((a, b) => (a.key < b.key ? -1 : 1)),
      inspections: this.inspections.map(({ item, auditor, status, answer }) => ({
        item,
        auditor,
        status,
        answer,
      })),
      results: this.results,
      settlement: this.settlement,
      settlementSignatures: [...this.settlementSignatures].sort((a, b) =>
        a.signer !== b.signer
          ? a.signer.toLowerCase() < b.signer.toLowerCase()
            ? -1
            : 1
          : a.chainId !== b.chainId
            ? a.chainId - b.chainId
            : a.escrow.toLowerCase() < b.escrow.toLowerCase()
              ? -1
              : 1,
      ),
      rejected: this.engine.notes.rejected(),
      excluded: this.engine.notes.excluded(),
      transitions: this.transitions,
    }
  }
}
