import { BaseError } from '../../errors/base.ts'
import { type Column, float64Column, int32Column } from '../../ledger/column.ts'
import { Dag, markAncestors } from '../../ledger/dag.ts'
import { type EncodedOp, MERGE_OP_TYPE } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { Draft, Judgement } from '../domain.ts'
import { Notes } from './notes.ts'
import { Sequence } from './sequence.ts'

/** What a rule may ask about the op it judges: where it stands and what its causal past holds. */
export type View = {
  /** The op's position: its number among the document's ops in apply order. */
  readonly position: number
  /** How many ops of the control chain its causal past holds: the prefix of the chain it has seen. */
  readonly seen: number
  /** Whether the op at `position` is in this op's causal past. */
  isAncestor(position: number): boolean
  /**
   * Whether the op at `target` is in this op's causal past, by a walk that visits only ops after
   * `target`: cheap when `target` is recent, where `isAncestor` marks the whole past once (cheaper
   * for many targets of one op).
   */
  reaches(target: number): boolean
  /** How many members of `sequence` (one of the engine's) this op's causal past holds. */
  seenIn(sequence: Sequence): number
  /**
   * The causal clock: the latest `time` (ms) of any op in this op's strict causal past (the
   * genesis at least). Authors choose their ops' times, so it bounds how far an op may claim to
   * be ahead of what it saw, not the wall clock.
   */
  readonly causalTime: number
}

/**
 * How an op is being judged: applied (`commit`), or only checked (a draft before it is signed,
 * or an op at ingest). A check refused by a first-wins tie-break says so in `lostTieBreak`.
 */
export type Mode = { readonly commit: boolean; lostTieBreak: boolean }

/** A domain's rules, as the engine runs them on each op's view. */
export interface Rules {
  /**
   * Validates `op` against `view` and, when `mode.commit`, applies it. Refuses it by throwing a
   * BaseError, after changing nothing; reports a decision made by apply order with
   * `engine.tieBreak(mode)`.
   */
  handle(op: EncodedOp, view: View, mode: Mode): void
}

/** The mode of every apply: never written to (a tie-break while applying is counted instead). */
const APPLY: Mode = Object.freeze({ commit: true, lostTieBreak: false })

/** Thrown when an op is applied before one of its deps: ops must come in a topological order. */
export class CausalOrderError extends BaseError {
  override name = 'CausalOrderError' as const
  override readonly kind = 'invalid' as const
}

// Module-level, not a closure per check: the TypeScript loader (tsx) names every closure it
// creates at run time, which costs more than the check on a node's hot path.
const ALWAYS_AN_ANCESTOR = () => true
/** The id of the op `check` judges: a draft, not signed yet (rules may refuse more of one). */
export const DRAFT_ID = 'draft' as OpId
const LENGTH_OF = (sequence: Sequence) => sequence.length

/**
 * The causal-cut machinery every domain reducer runs on (ARCHITECTURE §1): it numbers a
 * document's ops as they are applied (deps first), knows each op's causal past, keeps the
 * control chain (ops that must each follow every earlier one, such as an audit's phase changes)
 * and any other ordered sequence, counts first-wins tie-breaks, and keeps the notes of refused
 * and excluded ops. A domain's rules judge each op against the `View` of its own causal past;
 * pure, so replicas holding the same ops reach the same verdicts.
 * @example
 * const engine = new CausalEngine(genesis)
 * engine.apply(op, rules) // a BaseError thrown by rules.handle refuses the op, noted in engine.notes
 */
export class CausalEngine {
  /** Per position: the op's id and type. */
  readonly ids: OpId[] = []
  readonly types: string[] = []
  readonly dag = new Dag()
  /**
   * Per position: how many of the first positions are all in the op's causal past (a lower
   * bound, itself excluded). A chain of ops sees every earlier one, so `reaches` answers from it
   * without walking; where concurrent ops leave a gap it stops there, and the walk goes on.
   */
  private readonly closed = int32Column()
  /** Per position: the op's own `time`, and the latest `time` in its strict causal past. */
  private readonly times = float64Column()
  private readonly pastTimes = float64Column()
  /** The latest `time` of any applied op: the causal clock of a draft on the current heads. */
  private latestTime = 0
  /** The control chain: ops that must each causally follow every earlier member. */
  readonly control = new Sequence()
  readonly notes = new Notes()
  /**
   * First-wins tie-breaks used so far: decisions that depended on the order concurrent ops were
   * applied in (duplicates, concurrent control ops, concurrent members of a lenient sequence).
   * Ops arriving later are leaves, which do not change the log's order of earlier ones, so a
   * state rebuilt in log order stays canonical until this count grows again.
   */
  tieBreaks = 0
  private readonly sequences: Sequence[] = [this.control]
  private readonly positions = new Map<OpId, number>()
  /** Ancestor marks of the op being applied, computed on first use. */
  private marks: Uint8Array | undefined
  private readonly isAncestorOfLast = (target: number): boolean => {
    this.marks ??= markAncestors(this.dag, [this.ids.length - 1])
    return this.marks[target] === 1
  }

  private readonly reachesFromLast = (target: number): boolean => {
    const last = this.ids.length - 1
    return this.walk(this.depsOf(last), target)
  }
  private readonly seenByLast = (sequence: Sequence): number => sequence.seenBy(this.ids.length - 1)
  /** Visit stamps of `walk`, reused: a walk costs the ops it visits, not the document's size. */
  private stamps = new Uint32Array(0)
  private stamp = 0

  constructor(genesis: EncodedOp) {
    this.record(genesis)
  }

  private depsOf(position: number): number[] {
    const out: number[] = []
    const end = this.dag.depsEnd(position)
    for (let k = this.dag.depsStart(position); k < end; k++) out.push(this.dag.dep(k))
    return out
  }

  /**
   * Whether `target` is `starts` or one of their ancestors, walking down the deps only through
   * ops at positions above `target` (positions are a topological order, so no path to it goes
   * below), and stopping at the first path found.
   */
  private walk(starts: readonly number[], target: number): boolean {
    if (this.stamps.length < this.dag.size) {
      const grown = new Uint32Array(Math.max(1024, this.dag.size * 2))
      grown.set(this.stamps)
      this.stamps = grown
    }
    if (++this.stamp === 0xffffffff) {
      this.stamps.fill(0)
      this.stamp = 1
    }
    const stamps = this.stamps
    const mark = this.stamp
    const closed = this.closed
    const stack: number[] = []
    for (const s of starts) {
      if (s === target || target < closed.at(s)) return true
      if (s > target && stamps[s] !== mark) {
        stamps[s] = mark
        stack.push(s)
      }
    }
    for (let n = stack.pop(); n !== undefined; n = stack.pop()) {
      const end = this.dag.depsEnd(n)
      for (let k = this.dag.depsStart(n); k < end; k++) {
        const dep = this.dag.dep(k)
        if (dep === target || target < closed.at(dep)) return true
        if (dep < target || stamps[dep] === mark) continue
        stamps[dep] = mark
        stack.push(dep)
      }
    }
    return false
  }

  /** How many ops have been applied (the genesis included). */
  get size(): number {
    return this.ids.length
  }

  /** Whether a decision depended on the apply order: the state is canonical only in log order. */
  get orderSensitive(): boolean {
    return this.tieBreaks > 0
  }

  /** A further ordered sequence besides the control chain; define it before applying ops. */
  sequence(): Sequence {
    const sequence = new Sequence()
    for (let p = 0; p < this.size; p++) sequence.record(0)
    this.sequences.push(sequence)
    return sequence
  }

  /** Records the next op (its deps must be applied already) and answers its view. */
  private record(op: EncodedOp): View {
    const deps = op.op.deps
    const depPositions = new Array<number>(deps.length)
    for (let i = 0; i < deps.length; i++) {
      const p = this.positions.get(deps[i]!)
      if (p === undefined)
        throw new CausalOrderError(
          `Op "${op.id}" comes before its dep "${deps[i]}"; apply ops in topological order.`,
        )
      depPositions[i] = p
    }
    const position = this.dag.addNode()
    for (const p of depPositions) this.dag.addDep(p)
    this.closed.push(closedPrefix(this.closed, depPositions))
    const causalTime = this.causalTimeOf(depPositions)
    this.pastTimes.push(causalTime)
    this.times.push(op.op.time)
    if (op.op.time > this.latestTime) this.latestTime = op.op.time
    for (const sequence of this.sequences) sequence.record(mostSeen(sequence, depPositions))
    this.ids.push(op.id)
    this.types.push(op.op.type)
    this.positions.set(op.id, position)
    this.marks = undefined
    return {
      position,
      seen: this.control.seenBy(position),
      isAncestor: this.isAncestorOfLast,
      reaches: this.reachesFromLast,
      seenIn: this.seenByLast,
      causalTime,
    }
  }

  /** The latest `time` among ops at `deps` and their causal pasts (0 for the genesis). */
  private causalTimeOf(deps: readonly number[]): number {
    let latest = 0
    for (const d of deps) {
      const own = this.times.at(d)
      const past = this.pastTimes.at(d)
      if (own > latest) latest = own
      if (past > latest) latest = past
    }
    return latest
  }

  /**
   * Applies the next op: records it and runs the rules on its view. A refusal is noted against
   * the op, which stays in the log (validity depends only on the op's causal past, so every
   * replica refuses it the same way).
   */
  apply(op: EncodedOp, rules: Rules): void {
    const view = this.record(op)
    // A merge folds heads: it has its place in the DAG and nothing else.
    if (op.op.type === MERGE_OP_TYPE) return
    try {
      rules.handle(op, view, APPLY)
    } catch (error) {
      if (!(error instanceof BaseError)) throw error
      this.notes.reject(op.id, op.op.type, error)
    }
  }

  /**
   * Throws the refusal a draft of document `doc` would get if signed now, on the current heads:
   * everything applied is in its causal past.
   */
  check(doc: OpId, draft: Draft, rules: Rules): void {
    const op = {
      id: DRAFT_ID,
      idBytes: new Uint8Array(36),
      bytes: new Uint8Array(0),
      op: { v: 1, doc, deps: [], seq: 1, sig: new Uint8Array(64), ...draft },
    } as EncodedOp
    rules.handle(op, this.draftView(), { commit: false, lostTieBreak: false })
  }

  /**
   * The refusal `op` (its deps applied, itself not) would get against its own causal past,
   * without applying it: what a ledger asks at ingest. Undefined when it would be accepted.
   */
  judge(op: EncodedOp, rules: Rules): Judgement | undefined {
    const mode: Mode = { commit: false, lostTieBreak: false }
    const view = this.viewOf(op.op.deps)
    if (op.op.type === MERGE_OP_TYPE) return undefined
    try {
      rules.handle(op, view, mode)
      return undefined
    } catch (error) {
      if (!(error instanceof BaseError)) throw error
      const note = { id: op.id, type: op.op.type, name: error.name, message: error.shortMessage }
      return { ...note, tieBreak: mode.lostTieBreak }
    }
  }

  /** The view of an op made on the current heads: everything applied is in its causal past. */
  private draftView(): View {
    return {
      position: this.size,
      seen: this.control.length,
      isAncestor: ALWAYS_AN_ANCESTOR,
      reaches: ALWAYS_AN_ANCESTOR,
      seenIn: LENGTH_OF,
      causalTime: this.latestTime,
    }
  }

  /**
   * The view an op with these deps would have, without applying it. Throws CausalOrderError for
   * a dep not applied yet.
   */
  private viewOf(deps: readonly OpId[]): View {
    const starts = deps.map((dep) => {
      const p = this.positions.get(dep)
      if (p === undefined)
        throw new CausalOrderError(`Dep "${dep}" is not applied yet; judge the op once it is.`)
      return p
    })
    let marks: Uint8Array | undefined
    return {
      position: this.size,
      seen: mostSeen(this.control, starts),
      isAncestor: (target) => {
        if (!marks) {
          marks = markAncestors(this.dag, starts)
          for (const p of starts) marks[p] = 1
        }
        return marks[target] === 1
      },
      reaches: (target) => this.walk(starts, target),
      seenIn: (sequence) => mostSeen(sequence, starts),
      causalTime: this.causalTimeOf(starts),
    }
  }

  /** Counts a first-wins tie-break while applying, or marks a check as lost to one. */
  tieBreak(mode: Mode): void {
    if (mode.commit) this.tieBreaks++
    else mode.lostTieBreak = true
  }

  /** Notes an applied op as valid but excluded by a causal cut (once). */
  exclude(position: number, message: string): void {
    this.notes.exclude(this.ids[position]!, this.types[position]!, message)
  }
}

/**
 * How many of the first positions are all in the causal past of an op with deps at `deps` (a
 * lower bound): the longest such prefix of any dep, with the dep itself when that prefix reaches
 * it, then extended over deps that follow it directly.
 */
function closedPrefix(closed: Column<Int32Array>, deps: readonly number[]): number {
  let prefix = 0
  for (const d of deps) {
    const c = closed.at(d)
    const cover = c === d ? d + 1 : c
    if (cover > prefix) prefix = cover
  }
  for (let grown = true; grown; ) {
    grown = false
    for (const d of deps)
      if (d === prefix) {
        prefix++
        grown = true
      }
  }
  return prefix
}

/** The most members of `sequence` any of the ops at `positions` has seen. */
function mostSeen(sequence: Sequence, positions: readonly number[]): number {
  let most = 0
  for (const p of positions) {
    const seen = sequence.seenBy(p)
    if (seen > most) most = seen
  }
  return most
}
