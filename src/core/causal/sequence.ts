import { int32Column } from '../../ledger/column.ts'

/**
 * Ops of one kind whose order matters, such as a domain's control chain or an audit's item adds:
 * the members in the order they joined, and for every op of the document how many members its
 * causal past holds. A member that joins without having seen every earlier one was made
 * concurrently with some: a strict sequence (the control chain) refuses it, a lenient one lets
 * the log's deterministic order decide (a first-wins tie-break).
 */
export class Sequence {
  /** Positions of the members, in the order they joined. */
  readonly members: number[] = []
  /** Per op position: members in its causal past (itself included once it has joined). */
  private readonly seenAt = int32Column()

  /** How many members the sequence has. */
  get length(): number {
    return this.members.length
  }

  /** How many members the op at `position` has seen (its causal past, and itself once a member). */
  seenBy(position: number): number {
    return this.seenAt.at(position)
  }

  /** Records the next op's count (the most any of its deps has seen); the engine calls it. */
  record(seen: number): void {
    this.seenAt.push(seen)
  }

  /** Makes the op at `position` (the one being applied) the next member. */
  append(position: number): void {
    this.members.push(position)
    this.seenAt.set(position, this.members.length)
  }

  /** Whether the op at `position`, before joining, had seen every member: it is not concurrent with one. */
  seesAll(position: number): boolean {
    return this.seenAt.at(position) === this.members.length
  }
}
