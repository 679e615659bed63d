import type { EncodedOp } from '../../ledger/op.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { CausalReducer } from '../causal/reducer.ts'
import { type Domain, hashState, type OpTypeSpec } from '../domain.ts'
import { ImpactMachine } from './machine.ts'
import { BODIES, IMPACT_OP, ImpactNotFoundError, ImpactRefusedError, SUMMARIES } from './ops.ts'
import type { AuditorState, ImpactState, PoolState, RequestState, RequestStatus } from './state.ts'

/** An impact community's reducer: the machine's state, and cheap queries for routes and pages. */
export class ImpactReducer extends CausalReducer<ImpactState> {
  constructor(readonly machine: ImpactMachine) {
    super(machine.engine, machine)
  }

  state(): ImpactState {
    return this.machine.snapshot()
  }

  get name(): string {
    return this.machine.name
  }

  /** One request, or undefined. */
  request(id: OpId): RequestState | undefined {
    const request = this.machine.requests.get(id)
    return request && this.machine.requestState(request)
  }

  /** Requests, newest first by position, filtered, at most `limit`. */
  requests({
    status,
    requester,
    auditor,
    limit = 100,
  }: {
    status?: RequestStatus | undefined
    requester?: string | undefined
    auditor?: string | undefined
    limit?: number
  } = {}): RequestState[] {
    const out: RequestState[] = []
    const all = [...this.machine.requests.values()]
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const request = all[i]!
      if (requester && request.requester !== requester) continue
      if (auditor && !request.seats.has(auditor)) continue
      const state = this.machine.requestState(request)
      if (status && state.status !== status) continue
      out.push(state)
    }
    return out
  }

  auditor(account: string): AuditorState | undefined {
    return this.machine.auditorState(account)
  }

  pool(token: number): PoolState {
    return this.machine.poolState(token)
  }

  /** The auditors an assignment of request `id` with `entropy` must name now. */
  drawFor(id: OpId, entropy: `0x${string}`) {
    return this.machine.drawFor(id, entropy)
  }

  /** Keys that may sign proxy ops now. */
  proxies(): string[] {
    return this.machine.proxyAccounts()
  }

  get counts(): { requests: number; decided: number; expired: number } {
    const { requests, decided, expired } = this.machine
    return { requests: requests.size, decided, expired }
  }
}

/** Starts a reducer from a community's genesis (throws InvalidImpactInputError for a bad one). */
export const createImpactReducer = (genesis: EncodedOp) =>
  new ImpactReducer(new ImpactMachine(genesis))

/** One line of the community list. */
export type ImpactSummary = {
  readonly name: string
  readonly state: string
  readonly requests: number
  readonly open: number
}

const OP_TYPES: OpTypeSpec[] = (Object.keys(BODIES) as (keyof typeof BODIES)[]).map((type) => ({
  type,
  summary: SUMMARIES[type],
  body: BODIES[type],
}))

/** Impact actions (Bitgreen's approval flow) as an rwa domain: one document per community. */
export const impactDomain: Domain<ImpactState, ImpactReducer, ImpactSummary> = {
  name: 'impact',
  genesisType: IMPACT_OP.create,
  opTypes: OP_TYPES,
  createReducer: createImpactReducer,
  stateHash: hashState,
  summary(reducer) {
    const { requests, decided, expired } = reducer.counts
    const open = requests - decided - expired
    return { name: reducer.name, state: open > 0 ? 'ACTIVE' : 'IDLE', requests, open }
  },
  notFound: (ref) =>
    new ImpactNotFoundError(
      `No impact community is named "${ref}" on this node; list them with "rwa impact list".`,
    ),
  ambiguous: (ref, ids) =>
    new ImpactRefusedError(
      `${ids.length} impact communities are named "${ref}"; use the id of the one you mean (${ids.join(', ')}).`,
    ),
}
