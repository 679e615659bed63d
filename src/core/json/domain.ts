import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { CausalEngine, type Mode, type Rules, type View } from '../causal/engine.ts'
import { CausalReducer } from '../causal/reducer.ts'
import { type Domain, hashState, type OpTypeSpec } from '../domain.ts'
import { describeValue } from '../text.ts'
import { type Edit, JsonCrdt, JsonEditError, type LocalChange, ROOT } from './crdt.ts'
import {
  BODIES,
  InvalidJsonInputError,
  JSON_OP,
  JsonConflictError,
  JsonForbiddenError,
  JsonNotFoundError,
  MAX_EDITORS,
  parseCreateBody,
  parseEditorsBody,
  SUMMARIES,
  unpackChange,
} from './ops.ts'

/** The canonical state of a JSON document (its hash is what replicas compare). */
export type JsonState = {
  readonly id: OpId
  readonly name: string
  /** The creator's Ed25519 key (hex). */
  readonly owner: string
  /** Keys that may edit (hex, sorted), the owner included. */
  readonly editors: readonly string[]
  readonly audit: string | undefined
  /** The document as plain JSON. */
  readonly content: unknown
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

/** The json domain's rules on the causal engine: who may edit, and the CRDT every change goes to. */
export class JsonRules implements Rules {
  readonly engine: CausalEngine
  readonly crdt = new JsonCrdt()
  readonly id: OpId
  readonly name: string
  readonly owner: string
  /**
   * Who may edit after each editors op, in the order of the control chain (every editors op sees
   * the one before): [0] is the genesis' set. A change is judged on the set its causal past holds.
   */
  private readonly editorsAfter: ReadonlySet<string>[] = []
  audit: string | undefined
  /** Per engine position: the op's lamport clock (0 until known). */
  private readonly lamportAt: number[] = []
  /** Per CRDT op: its engine position. */
  private readonly positionOf: number[] = []
  /** Changes that count. */
  changes = 0
  /** The view of the op being judged or applied, and whether a CRDT op is in its causal past. */
  private view: View | undefined
  private readonly visible = (crdtOp: number): boolean =>
    this.view!.reaches(this.positionOf[crdtOp]!)

  constructor(genesis: EncodedOp) {
    if (genesis.op.type !== JSON_OP.create)
      throw new InvalidJsonInputError(
        `A JSON document starts with "${JSON_OP.create}", not ${describeValue(genesis.op.type)}.`,
      )
    const body = parseCreateBody(genesis.op.body)
    this.engine = new CausalEngine(genesis)
    this.id = genesis.id
    this.name = body.name
    this.owner = hex(genesis.op.author)
    this.editorsAfter.push(new Set([this.owner, ...(body.editors ?? [])]))
    this.audit = body.audit
    this.lamportAt[0] = 1
    // The genesis' content is the change of op 0.
    const change = this.crdt.begin()
    try {
      for (const [k, v] of Object.entries(body.content ?? {})) change.set(ROOT, k, v)
    } catch (error) {
      change.abort()
      if (error instanceof JsonEditError)
        throw new InvalidJsonInputError(
          `The document's first content is not valid: ${error.shortMessage}`,
        )
      throw error
    }
    change.commit(genesis.id)
    this.positionOf[0] = 0
  }

  /** Who may edit now. */
  get editors(): ReadonlySet<string> {
    return this.editorsAfter[this.editorsAfter.length - 1]!
  }

  /** Who may edit for an op whose causal past holds `seen` editors ops. */
  editorsAt(seen: number): ReadonlySet<string> {
    return this.editorsAfter[Math.min(seen, this.editorsAfter.length - 1)]!
  }

  /** The lamport clock of the op at `position` (merges included: 1 + the most of their deps). */
  private lamport(position: number): number {
    const known = this.lamportAt[position]
    if (known) return known
    const dag = this.engine.dag
    let most = 0
    for (let k = dag.depsStart(position), end = dag.depsEnd(position); k < end; k++) {
      const l = this.lamport(dag.dep(k))
      if (l > most) most = l
    }
    this.lamportAt[position] = most + 1
    return most + 1
  }

  handle(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type
    if (type === JSON_OP.create)
      throw new InvalidJsonInputError(
        `Document "${this.name}" has its genesis already; send "${JSON_OP.change}" ops.`,
      )
    if (type === JSON_OP.editors) {
      this.changeEditors(op, view, mode)
      return
    }
    if (type !== JSON_OP.change)
      throw new InvalidJsonInputError(
        `${describeValue(type)} is not a json op; use ${JSON_OP.change} or ${JSON_OP.editors}.`,
      )
    const author = hex(op.op.author)
    // Judged on the editors its causal past holds: a key removed by an editors op it has seen
    // may not edit, one added by an op it has seen may.
    if (!this.editorsAt(view.seen).has(author))
      throw new JsonForbiddenError(
        `Key ${author.slice(0, 16)}… may not edit document "${this.name}"; its owner names the editors (rwa doc editors).`,
      )
    const edits = unpackChange(op.op.body)
    let most = 0
    if (view.deps.length === 0) most = this.crdt.maxLamport
    for (const d of view.deps) {
      const l = this.lamport(d)
      if (l > most) most = l
    }
    const crdt = this.crdt
    this.view = view
    const visible = this.visible
    const index = crdt.registerOp(op.id, most + 1)
    if (!mode.commit) {
      const error = crdt.tryChange(index, edits, visible)
      crdt.unregisterLast()
      if (error) throw error
      return
    }
    this.lamportAt[view.position] = most + 1
    try {
      crdt.applyChange(index, edits, visible)
    } catch (error) {
      crdt.unregisterLast()
      throw error
    }
    this.positionOf[index] = view.position
    this.changes++
  }

  /** `json.editors`: the owner adds and removes editors; each such op must see the one before. */
  private changeEditors(op: EncodedOp, view: View, mode: Mode): void {
    if (hex(op.op.author) !== this.owner)
      throw new JsonForbiddenError(
        `Only the owner of document "${this.name}" changes its editors; sign with the key that created it.`,
      )
    const body = parseEditorsBody(op.op.body)
    if (body.remove?.includes(this.owner))
      throw new InvalidJsonInputError(
        `The owner of document "${this.name}" always edits it; remove other keys only.`,
      )
    if (view.seen < this.editorsAfter.length - 1) {
      // Made concurrently with another editors op of the owner's: the log's order decides.
      this.engine.tieBreak(mode)
      throw new JsonConflictError(
        `This change of the editors of "${this.name}" was made concurrently with another; make it again on the current editors.`,
      )
    }
    const next = new Set(this.editorsAt(view.seen))
    for (const key of body.add ?? []) next.add(key)
    for (const key of body.remove ?? []) next.delete(key)
    if (next.size > MAX_EDITORS)
      throw new InvalidJsonInputError(
        `Document "${this.name}" would have ${next.size} editors; it may have at most ${MAX_EDITORS}: remove some first.`,
      )
    if (!mode.commit) return
    this.editorsAfter.push(next)
    if (body.audit !== undefined) this.audit = body.audit
    this.engine.control.append(view.position)
  }
}

/** A JSON document's reducer: its rules, and reads for routes and pages. */
export class JsonReducer extends CausalReducer<JsonState> {
  constructor(override readonly rules: JsonRules) {
    super(rules.engine, rules)
  }

  get name(): string {
    return this.rules.name
  }

  get crdt(): JsonCrdt {
    return this.rules.crdt
  }

  get editors(): ReadonlySet<string> {
    return this.rules.editors
  }

  /** The document as plain JSON. */
  content(): unknown {
    return this.rules.crdt.toJSON()
  }

  /**
   * The edits of a change made by `edit` on the current state, by position, without changing it
   * (the change is rolled back): sign them in a `json.change`. Synchronous, so nothing else
   * applies in between.
   */
  draft(edit: (change: LocalChange, crdt: JsonCrdt) => void): Edit[] {
    const change = this.rules.crdt.begin()
    try {
      edit(change, this.rules.crdt)
    } finally {
      change.abort()
    }
    return change.edits
  }

  state(): JsonState {
    const r = this.rules
    return {
      id: r.id,
      name: r.name,
      owner: r.owner,
      editors: [...r.editors].sort(),
      audit: r.audit,
      content: r.crdt.toJSON(),
    }
  }
}

/** Starts a reducer from a document's genesis (throws InvalidJsonInputError for a bad one). */
export const createJsonReducer = (genesis: EncodedOp) => new JsonReducer(new JsonRules(genesis))

/** One line of the list of documents. */
export type JsonSummary = {
  readonly name: string
  readonly state: 'open'
  readonly editors: number
  readonly changes: number
}

const OP_TYPES: OpTypeSpec[] = (Object.keys(BODIES) as (keyof typeof BODIES)[]).map((type) => ({
  type,
  summary: SUMMARIES[type],
  body: BODIES[type],
}))

/** JSON documents anyone named may edit concurrently, as an rwa domain. */
export const jsonDomain: Domain<JsonState, JsonReducer, JsonSummary> = {
  name: 'json',
  genesisType: JSON_OP.create,
  opTypes: OP_TYPES,
  createReducer: createJsonReducer,
  stateHash: hashState,
  summary: (reducer) => ({
    name: reducer.name,
    state: 'open',
    editors: reducer.editors.size,
    changes: reducer.rules.changes,
  }),
  notFound: (ref) =>
    new JsonNotFoundError(
      `No JSON document is named ${describeValue(ref)} on this node; check the name (rwa doc list), or give the document's id.`,
    ),
  ambiguous: (ref, ids) =>
    new JsonConflictError(
      `${ids.length} JSON documents are named ${describeValue(ref)}; use the id of the one you mean (${ids.join(', ')}).`,
    ),
}
