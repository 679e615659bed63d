import type { Address, Hex } from 'viem'
import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { CausalReducer } from '../causal/reducer.ts'
import { type Domain, hashState, type OpTypeSpec } from '../domain.ts'
import { describeValue } from '../text.ts'
import { ChannelMachine, type RoutePrice, type Terms } from './machine.ts'
import { BODIES, CHANNEL_OP, ChannelNotFoundError, ChannelRefusedError, SUMMARIES } from './ops.ts'

/** The canonical state of a service offer (its hash is what replicas compare). */
export type ChannelState = {
  readonly id: OpId
  readonly name: string
  /** The operator's Ed25519 key (hex). */
  readonly owner: string
  readonly state: 'open' | 'retired'
  readonly escrow: Address
  readonly chainId: number
  readonly recipient: Address
  readonly groupId: Hex
  readonly expirationThreshold: number
  readonly prices: readonly RoutePrice[]
  /** null when the offer names none. */
  readonly endpoint: string | null
  /** Changes that count (updates, and the retire). */
  readonly changes: number
}

/** A service offer's reducer: the machine, and cheap queries for routes, pages and services. */
export class ChannelReducer extends CausalReducer<ChannelState> {
  constructor(readonly machine: ChannelMachine) {
    super(machine.engine, machine)
  }

  get name(): string {
    return this.machine.name
  }

  /** The offer's terms now. */
  get terms(): Terms {
    return this.machine.terms
  }

  /** Whether the operator has withdrawn the offer. */
  get retired(): boolean {
    return this.machine.terms.state === 'retired'
  }

  state(): ChannelState {
    const { machine } = this
    const t = machine.terms
    return {
      id: machine.id,
      name: machine.name,
      owner: machine.owner,
      state: t.state,
      escrow: machine.escrow,
      chainId: machine.chainId,
      recipient: t.recipient,
      groupId: t.groupId,
      expirationThreshold: t.expirationThreshold,
      prices: t.prices,
      endpoint: t.endpoint ?? null,
      changes: machine.changes,
    }
  }
}

/** Starts a reducer from an offer's genesis (throws InvalidChannelInputError for a bad one). */
export const createChannelReducer = (genesis: EncodedOp) =>
  new ChannelReducer(new ChannelMachine(genesis))

/** One line of the list of service offers. */
export type ChannelSummary = {
  readonly name: string
  readonly state: 'open' | 'retired'
  /** Priced routes. */
  readonly routes: number
}

const OP_TYPES: OpTypeSpec[] = (Object.keys(BODIES) as (keyof typeof BODIES)[]).map((type) => ({
  type,
  summary: SUMMARIES[type],
  body: BODIES[type],
}))

/** Service offers paid through MultiPartyEscrow channels, as an rwa domain: one document per offer. */
export const channelDomain: Domain<ChannelState, ChannelReducer, ChannelSummary> = {
  name: 'channel',
  genesisType: CHANNEL_OP.create,
  opTypes: OP_TYPES,
  createReducer: createChannelReducer,
  stateHash: hashState,
  summary: (reducer) => ({
    name: reducer.name,
    state: reducer.terms.state,
    routes: reducer.terms.prices.length,
  }),
  notFound: (ref) =>
    new ChannelNotFoundError(
      `No service offer is named ${describeValue(ref)} on this node; check the name, or give the offer's id.`,
    ),
  ambiguous: (ref, ids) =>
    new ChannelRefusedError(
      `${ids.length} service offers are named ${describeValue(ref)}; use the id of the one you mean (${ids.join(', ')}).`,
    ),
}
