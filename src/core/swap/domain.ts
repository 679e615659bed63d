import type { Address } from 'viem'
import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { CausalReducer } from '../causal/reducer.ts'
import { type Domain, hashState, type OpTypeSpec } from '../domain.ts'
import { describeValue } from '../text.ts'
import { type BookTerms, SwapBookMachine } from './machine.ts'
import {
  BODIES,
  type BookMode,
  SUMMARIES,
  SWAP_OP,
  SwapNotFoundError,
  SwapRefusedError,
} from './ops.ts'

/** The canonical state of a chequebook binding (its hash is what replicas compare). */
export type SwapBookState = {
  readonly id: OpId
  /** The name given, or a short form of the peer id. */
  readonly name: string
  /** The operator's Ed25519 key (hex). */
  readonly owner: string
  /** The node's libp2p peer id. */
  readonly peerId: string
  readonly chainId: number
  /** Lowercase hex. */
  readonly chequebook: Address
  /** Lowercase hex. */
  readonly beneficiary: Address
  readonly mode: BookMode
  readonly state: 'open' | 'retired'
  /** Changes that count (updates, and the retire). */
  readonly changes: number
}

/** A chequebook binding's reducer: the machine, and cheap queries for routes, pages and services. */
export class SwapBookReducer extends CausalReducer<SwapBookState> {
  constructor(readonly machine: SwapBookMachine) {
    super(machine.engine, machine)
  }

  get name(): string {
    return this.machine.name
  }

  get peerId(): string {
    return this.machine.peerId
  }

  get chainId(): number {
    return this.machine.chainId
  }

  /** The binding's terms now. */
  get terms(): BookTerms {
    return this.machine.terms
  }

  /** Whether the owner has withdrawn the binding. */
  get retired(): boolean {
    return this.machine.terms.state === 'retired'
  }

  state(): SwapBookState {
    const { machine } = this
    const t = machine.terms
    return {
      id: machine.id,
      name: machine.name,
      owner: machine.owner,
      peerId: machine.peerId,
      chainId: machine.chainId,
      chequebook: t.chequebook,
      beneficiary: t.beneficiary,
      mode: t.mode,
      state: t.state,
      changes: machine.changes,
    }
  }
}

/** Starts a reducer from a binding's genesis (throws InvalidSwapInputError for a bad one). */
export const createSwapBookReducer = (genesis: EncodedOp) =>
  new SwapBookReducer(new SwapBookMachine(genesis))

/** One line of the list of chequebook bindings. */
export type SwapBookSummary = {
  readonly name: string
  readonly state: 'open' | 'retired'
  readonly peerId: string
  readonly mode: BookMode
}

const OP_TYPES: OpTypeSpec[] = (Object.keys(BODIES) as (keyof typeof BODIES)[]).map((type) => ({
  type,
  summary: SUMMARIES[type],
  body: BODIES[type],
}))

/** Nodes' public chequebook bindings, as an rwa domain: one document per node. */
export const swapDomain: Domain<SwapBookState, SwapBookReducer, SwapBookSummary> = {
  name: 'swap',
  genesisType: SWAP_OP.book,
  opTypes: OP_TYPES,
  createReducer: createSwapBookReducer,
  stateHash: hashState,
  summary: (reducer) => ({
    name: reducer.name,
    state: reducer.terms.state,
    peerId: reducer.peerId,
    mode: reducer.terms.mode,
  }),
  notFound: (ref) =>
    new SwapNotFoundError(
      `No chequebook binding is named ${describeValue(ref)} on this node; check the name, or give the binding's id.`,
    ),
  ambiguous: (ref, ids) =>
    new SwapRefusedError(
      `${ids.length} chequebook bindings are named ${describeValue(ref)}; use the id of the one you mean (${ids.join(', ')}).`,
    ),
}
