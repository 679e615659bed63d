import { z } from 'zod'
import { CausalEngine, type Mode, type Rules, type View } from '../../../src/core/causal/engine.ts'
import type { OpNote } from '../../../src/core/causal/notes.ts'
import { CausalReducer } from '../../../src/core/causal/reducer.ts'
import { type Domain, hashState } from '../../../src/core/domain.ts'
import { BaseError } from '../../../src/errors/base.ts'
import type { EncodedOp } from '../../../src/ledger/op.ts'
import type { OpId } from '../../../src/ledger/op-id.ts'

// A small poll, as a test-only domain: its genesis asks a question with options, each key votes
// once while the poll is open, and its creator closes it. Closing freezes the tally to the
// votes in the close's causal past (ARCHITECTURE §1): a vote made concurrently is excluded.

/** Thrown for a vote or close the poll's rules refuse. */
export class PollRefusedError extends BaseError {
  override name = 'PollRefusedError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown for a poll op whose body is wrong. */
export class InvalidPollError extends BaseError {
  override name = 'InvalidPollError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown for a poll reference that names no poll. */
export class PollNotFoundError extends BaseError {
  override name = 'PollNotFoundError' as const
  override readonly kind = 'not-found' as const
}

export const POLL_OP = { create: 'poll.create', vote: 'poll.vote', close: 'poll.close' } as const

export const createPollBody = z
  .object({
    question: z.string().min(1).max(200),
    options: z.array(z.string().min(1).max(100)).min(2).max(10),
  })
  .strict()
export const voteBody = z.object({ option: z.number().int().nonnegative() }).strict()

/** A poll's state: identical on every replica holding the same ops. */
export type PollState = {
  readonly id: OpId
  readonly question: string
  readonly options: readonly string[]
  readonly creator: string
  readonly state: 'OPEN' | 'CLOSED'
  /** Votes per option, in option order. */
  readonly tally: readonly number[]
  /** The counted votes, by voter key. */
  readonly votes: readonly { readonly voter: string; readonly option: number }[]
  readonly rejected: readonly OpNote[]
  readonly excluded: readonly OpNote[]
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

/** The poll's rules on the causal engine. */
class PollMachine implements Rules {
  readonly engine: CausalEngine
  readonly question: string
  readonly options: string[]
  readonly creator: string
  /** Counted votes by voter: the vote's position and option. */
  readonly votes = new Map<string, { pos: number; option: number }>()
  closed = false

  constructor(genesis: EncodedOp) {
    const parsed = createPollBody.safeParse(genesis.op.body)
    if (genesis.op.type !== POLL_OP.create || !parsed.success)
      throw new InvalidPollError(
        'A poll starts with "poll.create": a question and 2 to 10 options.',
      )
    this.question = parsed.data.question
    this.options = parsed.data.options
    this.creator = hex(genesis.op.author)
    this.engine = new CausalEngine(genesis)
  }

  handle(op: EncodedOp, view: View, mode: Mode): void {
    if (op.op.type === POLL_OP.vote) this.vote(op, view, mode)
    else if (op.op.type === POLL_OP.close) this.close(op, view, mode)
    else
      throw new InvalidPollError(
        `"${op.op.type}" is not a poll op; poll ops are poll.vote, poll.close.`,
      )
  }

  private vote(op: EncodedOp, view: View, mode: Mode): void {
    if (view.seen > 0) throw new PollRefusedError(`Poll "${this.question}" is closed.`)
    const body = voteBody.safeParse(op.op.body)
    if (!body.success || body.data.option >= this.options.length)
      throw new InvalidPollError(`A vote names an option from 0 to ${this.options.length - 1}.`)
    const voter = hex(op.op.author)
    const earlier = this.votes.get(voter)
    if (earlier) {
      if (!view.isAncestor(earlier.pos)) this.engine.tieBreak(mode)
      throw new PollRefusedError('This key has voted already; each key votes once.')
    }
    if (!mode.commit) return
    this.votes.set(voter, { pos: view.position, option: body.data.option })
    if (this.closed) this.drop(voter)
  }

  private close(op: EncodedOp, view: View, mode: Mode): void {
    if (hex(op.op.author) !== this.creator)
      throw new PollRefusedError('Only the creator of a poll may close it.')
    if (view.seen < this.engine.control.length) {
      this.engine.tieBreak(mode)
      throw new PollRefusedError(`Poll "${this.question}" is closed already.`)
    }
    if (!mode.commit) return
    this.engine.control.append(view.position)
    this.closed = true
    // Finality by causal cut: the tally counts exactly the votes in the close's causal past.
    for (const [voter, { pos }] of [...this.votes]) if (!view.isAncestor(pos)) this.drop(voter)
  }

  private drop(voter: string): void {
    this.engine.exclude(this.votes.get(voter)!.pos, 'the vote was concurrent with "close"')
    this.votes.delete(voter)
  }

  snapshot(): PollState {
    const votes = [...this.votes]
      .map(([voter, { option }]) => ({ voter, option }))
      .sort((a, b) => (a.voter < b.voter ? -1 : 1))
    const tally = this.options.map((_, i) => votes.filter((v) => v.option === i).length)
    return {
      id: this.engine.ids[0]!,
      question: this.question,
      options: this.options,
      creator: this.creator,
      state: this.closed ? 'CLOSED' : 'OPEN',
      tally,
      votes,
      rejected: this.engine.notes.rejected(),
      excluded: this.engine.notes.excluded(),
    }
  }
}

/** The poll reducer: the engine's, with the poll's state and what its listing shows. */
export class PollReducer extends CausalReducer<PollState> {
  constructor(private readonly machine: PollMachine) {
    super(machine.engine, machine)
  }

  state(): PollState {
    return this.machine.snapshot()
  }

  get question(): string {
    return this.machine.question
  }

  get closed(): boolean {
    return this.machine.closed
  }

  get votes(): number {
    return this.machine.votes.size
  }
}

export const createPollReducer = (genesis: EncodedOp) => new PollReducer(new PollMachine(genesis))

/** One line of the poll list. */
export type PollSummary = { readonly name: string; readonly state: string; readonly votes: number }

export const pollDomain: Domain<PollState, PollReducer, PollSummary> = {
  name: 'poll',
  genesisType: POLL_OP.create,
  opTypes: [
    { type: POLL_OP.create, summary: 'Asks a question with options.', body: createPollBody },
    { type: POLL_OP.vote, summary: 'Votes for an option, once per key.', body: voteBody },
    { type: POLL_OP.close, summary: 'The creator closes the poll.', body: z.object({}).strict() },
  ],
  createReducer: createPollReducer,
  stateHash: hashState,
  summary: (r) => ({ name: r.question, state: r.closed ? 'CLOSED' : 'OPEN', votes: r.votes }),
  notFound: (ref) => new PollNotFoundError(`No poll is named "${ref}" on this node.`),
  ambiguous: (ref, ids) =>
    new PollRefusedError(`${ids.length} polls are named "${ref}"; use the id of the one you mean.`),
}
