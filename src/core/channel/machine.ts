import { type Address, getAddress, type Hex } from 'viem'
import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { CausalEngine, type Mode, type Rules, type View } from '../causal/engine.ts'
import { describeValue } from '../text.ts'
import {
  BODIES,
  CHANNEL_OP,
  ChannelForbiddenError,
  ChannelRefusedError,
  type CreateBody,
  InvalidChannelInputError,
  OWNER_OPS,
  type UpdateBody,
} from './ops.ts'

// The rules of one service offer, on the causal engine. Only the operator (the genesis author)
// changes an offer; its changes form the control chain, so each is judged on the terms of the
// chain prefix in its causal past. Two changes made concurrently (the operator's key on two
// machines): the first in the log's order counts, the other loses a first-wins tie-break. A
// retired offer takes no further change.

/** One route's price, in base units of the escrow's token. */
export type RoutePrice = { readonly route: string; readonly price: bigint }

/** An offer's terms at one prefix of the control chain. */
export type Terms = {
  readonly state: 'open' | 'retired'
  /** Who claims the channels (checksummed). */
  readonly recipient: Address
  /** The payment group's id, lowercase hex. */
  readonly groupId: Hex
  /** Blocks a channel must outlive the current block by for a call to be accepted. */
  readonly expirationThreshold: number
  /** In the order the operator listed them. */
  readonly prices: readonly RoutePrice[]
  readonly endpoint: string | undefined
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

/** Reads an op body against its schema, or throws InvalidChannelInputError naming the field. */
function bodyOf<T>(type: keyof typeof BODIES, body: unknown): T {
  const parsed = BODIES[type].safeParse(body)
  if (parsed.success) return parsed.data as T
  const issue = parsed.error.issues[0]!
  const field = issue.path.length > 0 ? `"${issue.path.join('.')}"` : 'the body'
  const message = issue.message.charAt(0).toLowerCase() + issue.message.slice(1)
  throw new InvalidChannelInputError(`${type}: ${field} ${message}.`)
}

const pricesOf = (prices: CreateBody['prices']): RoutePrice[] =>
  prices.map((p) => ({ route: p.route, price: BigInt(p.price) }))

/**
 * Checks a genesis body without starting a machine.
 * @throws InvalidChannelInputError naming the field and the rule it breaks.
 */
export function parseChannelCreate(body: unknown): CreateBody {
  return bodyOf<CreateBody>(CHANNEL_OP.create, body)
}

/** A service offer's rules and state: its fixed fields and its terms after every change. */
export class ChannelMachine implements Rules {
  readonly engine: CausalEngine
  readonly id: OpId
  /** The operator's Ed25519 key (hex): the genesis author, who alone changes the offer. */
  readonly owner: string
  readonly name: string
  /** The MultiPartyEscrow contract (checksummed) and its chain: fixed by the genesis. */
  readonly escrow: Address
  readonly chainId: number
  /** The terms after each prefix of the control chain (index = changes seen). */
  private readonly history: Terms[]

  constructor(genesis: EncodedOp) {
    if (genesis.op.type !== CHANNEL_OP.create)
      throw new InvalidChannelInputError(
        `A service offer starts with "${CHANNEL_OP.create}", not ${describeValue(genesis.op.type)}.`,
      )
    const body = parseChannelCreate(genesis.op.body)
    this.engine = new CausalEngine(genesis)
    this.id = genesis.id
    this.owner = hex(genesis.op.author)
    this.name = body.name
    this.escrow = getAddress(body.escrow)
    this.chainId = body.chainId
    this.history = [
      {
        state: 'open',
        recipient: getAddress(body.recipient),
        groupId: body.groupId.toLowerCase() as Hex,
        expirationThreshold: body.expirationThreshold,
        prices: pricesOf(body.prices),
        endpoint: body.endpoint,
      },
    ]
  }

  /** The terms now (every counted change applied). */
  get terms(): Terms {
    return this.history.at(-1)!
  }

  /** How many changes count (retire included). */
  get changes(): number {
    return this.history.length - 1
  }

  /** The terms an op that has seen `seen` changes judges against. */
  termsAt(seen: number): Terms {
    return this.history[Math.min(seen, this.history.length - 1)]!
  }

  handle(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type
    if (OWNER_OPS.has(type)) this.change(op, view, mode)
    else if (type === CHANNEL_OP.create)
      throw new ChannelRefusedError(
        `Offer "${this.name}" has its "${CHANNEL_OP.create}" already; publish a new offer as a new document.`,
      )
    else
      throw new InvalidChannelInputError(
        `${describeValue(type)} is not a channel op; use ${Object.values(CHANNEL_OP).join(', ')}.`,
      )
  }

  private change(op: EncodedOp, view: View, mode: Mode): void {
    const type = op.op.type as typeof CHANNEL_OP.update | typeof CHANNEL_OP.retire
    if (hex(op.op.author) !== this.owner)
      throw new ChannelForbiddenError(
        `Only the operator of offer "${this.name}" may ${type}; sign it with the key that created the offer.`,
      )
    // The body first: a malformed change is refused whatever else arrives.
    const update = type === CHANNEL_OP.update ? bodyOf<UpdateBody>(type, op.op.body) : undefined
    if (!update) bodyOf<Record<string, never>>(CHANNEL_OP.retire, op.op.body)
    const before = this.termsAt(view.seen)
    if (before.state === 'retired')
      throw new ChannelRefusedError(
        `Offer "${this.name}" is retired; no ${type} after "${CHANNEL_OP.retire}" counts: publish a new offer instead.`,
      )
    if (view.seen < this.history.length - 1) {
      // Made concurrently with another change of the operator's: the log's order decides.
      this.engine.tieBreak(mode)
      throw new ChannelRefusedError(
        `This ${type} was made concurrently with another change of offer "${this.name}"; make it again on the current offer.`,
      )
    }
    const next: Terms = update ? updated(before, update) : { ...before, state: 'retired' }
    if (!mode.commit) return
    this.history.push(next)
    this.engine.control.append(view.position)
  }
}

/** The terms after an update: each field it gives replaces the one before (null removes the endpoint). */
function updated(before: Terms, body: UpdateBody): Terms {
  return {
    state: before.state,
    recipient: body.recipient === undefined ? before.recipient : getAddress(body.recipient),
    groupId: body.groupId === undefined ? before.groupId : (body.groupId.toLowerCase() as Hex),
    expirationThreshold: body.expirationThreshold ?? before.expirationThreshold,
    prices: body.prices === undefined ? before.prices : pricesOf(body.prices),
    endpoint:
      body.endpoint === undefined
        ? before.endpoint
        : body.endpoint === null
          ? undefined
          : body.endpoint,
  }
}
