import type { Address } from 'viem'
import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { CausalEngine, type Mode, type Rules, type View } from '../causal/engine.ts'
import { describeValue } from '../text.ts'
import {
  BODIES,
  type BookBody,
  type BookMode,
  InvalidSwapInputError,
  OWNER_OPS,
  SWAP_OP,
  SwapForbiddenError,
  SwapRefusedError,
  type UpdateBody,
} from './ops.ts'

// The rules of one chequebook binding, on the causal engine. Only the owner (the genesis author)
// changes a binding; its changes form the control chain, so each is judged on the binding of the
// chain prefix in its causal past. Two changes made concurrently (the owner's key on two
// machines): the first in the log's order counts, the other loses a first-wins tie-break. A
// retired binding takes no further change.

/** A binding's changeable part at one prefix of the control chain. */
export type BookTerms = {
  readonly state: 'open' | 'retired'
  /** The chequebook the node's cheques are drawn on (lowercase hex). */
  readonly chequebook: Address
  /** Where cheques to the node are made out to (lowercase hex). */
  readonly beneficiary: Address
  readonly mode: BookMode
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')
/** Addresses are kept in one spelling, lowercase, so equal addresses compare equal as text. */
const canonical = (address: string) => address.toLowerCase() as Address

/**
 * The name of a binding that gives none: the end of its peer id, which is where peer ids differ
 * (Ed25519 ones all start "12D3KooW").
 * @example
 * shortPeerId('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA') // '…weQAJU5SA'
 */
export function shortPeerId(peerId: string): string {
  return peerId.length <= 12 ? peerId : `…${peerId.slice(-9)}`
}

/** Reads an op body against its schema, or throws InvalidSwapInputError naming the field. */
function bodyOf<T>(type: keyof typeof BODIES, body: unknown): T {
  const parsed = BODIES[type].safeParse(body)
  if (parsed.success) return parsed.data as T
  const issue = parsed.error.issues[0]!
  const field = issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'the body'
  const message = issue.message.charAt(0).toLowerCase() + issue.message.slice(1)
  throw new InvalidSwapInputError(`${type}: ${field} ${message}.`)
}

/**
 * Checks a genesis body without starting a machine.
 * @throws InvalidSwapInputError naming the field and the rule it breaks.
 */
export function parseSwapBook(body: unknown): BookBody {
  return bodyOf<BookBody>(SWAP_OP.book, body)
}

/** A chequebook binding's rules and state: its fixed fields and its terms after every change. */
export class SwapBookMachine implements Rules {
  readonly engine: CausalEngine
  readonly id: OpId
  /** The operator's Ed25519 key (hex): the genesis author, who alone changes the binding. */
  readonly owner: string
  /** The name given, or a short form of the peer id. */
  readonly name: string
  /** The node's libp2p peer id and the chain its chequebook is on: fixed by the genesis. */
  readonly peerId: string
  readonly chainId: number
  /** The terms after each prefix of the control chain (index = changes seen). */
  private readonly history: BookTerms[]

  constructor(genesis: EncodedOp) {
    if (genesis.op.type !== SWAP_OP.book)
      throw new InvalidSwapInputError(
        `A chequebook binding starts with "${SWAP_OP.book}", not ${describeValue(genesis.op.type)}.`,
      )
    const body = parseSwapBook(genesis.op.body)
    this.engine = new CausalEngine(genesis)
    this.id = genesis.id
    this.owner = hex(genesis.op.author)
    this.peerId = body.peerId
    this.name = body.name ?? shortPeerId(body.peerId)
    this.chainId = body.chainId
    this.history = [
      {
        state: 'open',
        chequebook: canonical(body.chequebook),
        beneficiary: canonical(body.beneficiary),
        mode: body.mode,
      },
    ]
  }

  /** The terms now (every counted change applied). */
  get terms(): BookTerms {
    return this.history.at(-1)!
  }

  /** How many changes count (retire included). */
  get changes(): number {
    return this.history.length - 1
  }

  /** The terms an op that has seen `seen` changes judges against. */
  termsAt(seen: number): BookTerms {
    return this.history[Math.min(seen, this.history.length - 1)]!
  }

  handle(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type
    if (OWNER_OPS.has(type)) this.change(op, view, mode)
    else if (type === SWAP_OP.book)
      throw new SwapRefusedError(
        `Binding "${this.name}" has its "${SWAP_OP.book}" already; change it with "${SWAP_OP.update}", or retire it and publish a new one.`,
      )
    else
      throw new InvalidSwapInputError(
        `${describeValue(type)} is not a swap op; use ${Object.values(SWAP_OP).join(', ')}.`,
      )
  }

  private change(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type as typeof SWAP_OP.update | typeof SWAP_OP.retire
    if (hex(op.op.author) !== this.owner)
      throw new SwapForbiddenError(
        `Only the owner of binding "${this.name}" may ${type}; sign it with the key that published the binding.`,
      )
    // The body first: a malformed change is refused whatever else arrives.
    const update = type === SWAP_OP.update ? bodyOf<UpdateBody>(type, op.op.body) : undefined
    if (!update) bodyOf<Record<string, never>>(SWAP_OP.retire, op.op.body)
    const before = this.termsAt(view.seen)
    if (before.state === 'retired')
      throw new SwapRefusedError(
        `Binding "${this.name}" is retired; no ${type} after "${SWAP_OP.retire}" counts: publish a new binding instead.`,
      )
    if (view.seen < this.history.length - 1) {
      // Made concurrently with another change of the owner's: the log's order decides.
      this.engine.tieBreak(mode)
      throw new SwapRefusedError(
        `This ${type} was made concurrently with another change of binding "${this.name}"; make it again on the current binding.`,
      )
    }
    const next: BookTerms = update ? updated(before, update) : { ...before, state: 'retired' }
    if (!mode.commit) return
    this.history.push(next)
    this.engine.control.append(view.position)
  }
}

/** The terms after an update: each field it gives replaces the one before. */
function updated(before: BookTerms, body: UpdateBody): BookTerms {
  return {
    state: before.state,
    chequebook: body.chequebook === undefined ? before.chequebook : canonical(body.chequebook),
    beneficiary: body.beneficiary === undefined ? before.beneficiary : canonical(body.beneficiary),
    mode: body.mode ?? before.mode,
  }
}
