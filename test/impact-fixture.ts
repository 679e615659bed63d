import { privateKeyToAccount } from 'viem/accounts'
import { createImpactReducer, type ImpactReducer } from '../src/core/impact/domain.ts'
import { IMPACT_OP } from '../src/core/impact/ops.ts'
import {
  batchSettlementTypedData,
  impactPoolId,
  stakeMemo,
} from '../src/core/impact/pool-report.ts'
import type { Signer } from '../src/ledger/keys.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { makeOp, testSigner } from './helpers.ts'

// A community built op by op, without a node: the impact reducer's tests and bench use it.

export const keyOf = (signer: Signer) => Buffer.from(signer.publicKey).toString('hex')

/** Deterministic test addresses (checksummed), one per n. */
export function addressOf(n: number): `0x${string}` {
  return privateKeyToAccount(`0x${n.toString(16).padStart(64, '0')}` as `0x${string}`).address
}

export const ROLES = {
  governor: testSigner(1),
  governor2: testSigner(2),
  governor3: testSigner(3),
  proxy: testSigner(4),
  oracle: testSigner(5),
  stranger: testSigner(6),
  auditor: (i: number) => testSigner(10 + i),
  requester: (i: number) => testSigner(40 + i),
}

/** The spec's example action, with `auditors` approvals required. */
export function actionConfig(overrides: Record<string, unknown> = {}): string {
  return JSON.stringify({
    description: 'Planting a tree',
    category: 1,
    auditors: 2,
    blockstart: 1,
    blockend: 1000000,
    rewardstoken: 0,
    rewardsamount: 1000,
    rewardsoracle: 10,
    rewardsauditors: 50,
    slashingsauditors: 20,
    maxerrorsauditor: 2,
    fields: [
      { fieldname: 'namesurname', fieldtype: 'S', mandatory: 'Y' },
      { fieldname: 'phonenumber', fieldtype: 'S', mandatory: 'Y' },
    ],
    ...overrides,
  })
}

export const auditorConfig = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    description: 'John Smith',
    categories: [1],
    area: '41.40338,2.17403',
    otherinfo: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi',
    stakesmin: 0,
    ...overrides,
  })

export const requestInfo = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    impactactionid: 1,
    description: 'Planted a new tree',
    namesurname: 'Jhone Smith',
    phonenumber: '+13489383845',
    coordinates: '41.40338,2.17403',
    ...overrides,
  })

/** One community's ops, applied to a reducer as they are made. */
export class Community {
  readonly ops: EncodedOp[] = []
  readonly reducer: ImpactReducer
  readonly id: OpId
  private readonly seqs = new Map<string, number>()
  private block = 10

  constructor(
    body: Record<string, unknown> = { name: 'Green Barcelona' },
    readonly creator: Signer = ROLES.governor,
  ) {
    const genesis = makeOp(creator, { doc: null, seq: 1, deps: [], type: IMPACT_OP.create, body })
    this.seqs.set(keyOf(creator), 1)
    this.ops.push(genesis)
    this.id = genesis.id
    this.reducer = createImpactReducer(genesis)
  }

  /** Signs an op on the given deps (default: the last op), applies it and returns it. */
  make(signer: Signer, type: string, body: unknown, deps?: OpId[]): EncodedOp {
    const key = keyOf(signer)
    const seq = (this.seqs.get(key) ?? 0) + 1
    this.seqs.set(key, seq)
    return makeOp(signer, {
      doc: this.id,
      seq,
      deps: deps ?? [this.ops.at(-1)!.id],
      type,
      body,
    })
  }

  add(signer: Signer, type: string, body: unknown, deps?: OpId[]): EncodedOp {
    const op = this.make(signer, type, body, deps)
    this.apply(op)
    return op
  }

  apply(op: EncodedOp): void {
    this.ops.push(op)
    this.reducer.apply(op)
  }

  /** The refusal of an applied op (its error name and message), or undefined when it counts. */
  verdict(op: EncodedOp) {
    return this.reducer.verdict(op.id)
  }

  /** Applies an op and throws when it was refused. */
  ok(signer: Signer, type: string, body: unknown, deps?: OpId[]): EncodedOp {
    const op = this.add(signer, type, body, deps)
    const note = this.verdict(op)
    if (note) throw new Error(`${type} refused: ${note.name}: ${note.message}`)
    return op
  }

  nextBlock(step = 1): number {
    this.block += step
    return this.block
  }

  get currentBlock(): number {
    return this.block
  }

  /** Category 1, action 1, a proxy, an oracle and `auditors` auditors around Barcelona. */
  setup({
    auditors = 5,
    action = {},
    stakesmin = 0,
  }: {
    auditors?: number
    action?: Record<string, unknown>
    stakesmin?: number
  } = {}) {
    const g = ROLES.governor
    this.ok(g, IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
    this.ok(g, IMPACT_OP.createImpactAction, { uid: 1, configuration: actionConfig(action) })
    this.ok(g, IMPACT_OP.createProxy, { uid: 1, account: keyOf(ROLES.proxy) })
    this.ok(g, IMPACT_OP.createOracle, {
      uid: 1,
      configuration: JSON.stringify({
        description: 'Tree Verification',
        account: keyOf(ROLES.oracle),
        otherinfo: 'bafy',
      }),
      payout: addressOf(5),
    })
    for (let i = 0; i < auditors; i++)
      this.ok(g, IMPACT_OP.createAuditor, {
        account: keyOf(ROLES.auditor(i)),
        configuration: auditorConfig({ stakesmin }),
        payout: addressOf(100 + i),
      })
    return this
  }

  /** The proxy records a deposit into token 0's pool (a stake when `staker` is given). */
  deposit(amount: bigint, staker?: Signer, token = 0): EncodedOp {
    const n = this.ops.length
    return this.ok(ROLES.proxy, IMPACT_OP.deposit, {
      token,
      from: addressOf(900),
      amount: String(amount),
      memo: staker ? stakeMemo(keyOf(staker)) : `0x${'0'.repeat(64)}`,
      tx: `0x${n.toString(16).padStart(64, '0')}`,
      logIndex: 0,
      block: this.nextBlock(),
    })
  }

  request(requester: Signer, info = requestInfo(), payout = addressOf(500)): EncodedOp {
    return this.add(requester, IMPACT_OP.requestApproval, { info, payout })
  }

  /** The proxy assigns what the draw gives, with entropy derived from the block. */
  assign(request: OpId, maxdays = 3): { op: EncodedOp; auditors: string[] } {
    const block = this.nextBlock()
    const entropy = `0x${block.toString(16).padStart(64, '0')}` as `0x${string}`
    const { auditors } = this.reducer.drawFor(request, entropy)
    const op = this.add(ROLES.proxy, IMPACT_OP.assignAuditor, {
      request,
      auditors,
      maxdays,
      block,
      entropy,
    })
    return { op, auditors }
  }

  vote(auditor: Signer, request: OpId, vote: 'Y' | 'N', deps?: OpId[]): EncodedOp {
    return this.add(
      auditor,
      IMPACT_OP.vote,
      { request, vote: JSON.stringify({ vote, otherinfo: 'bafy' }) },
      deps,
    )
  }

  decide(request: OpId, deps?: OpId[]): EncodedOp {
    return this.add(ROLES.proxy, IMPACT_OP.decide, { request, block: this.nextBlock() }, deps)
  }

  /** The signer of auditor `key` among the first 30 auditors. */
  static auditorSigner(key: string): Signer {
    for (let i = 0; i < 30; i++) if (keyOf(ROLES.auditor(i)) === key) return ROLES.auditor(i)
    throw new Error(`no test auditor ${key}`)
  }

  /** The typed data of a batch, for signing with a viem account. */
  batchTypedData(token: number, batch: number) {
    const b = this.reducer.pool(token).batches[batch]!
    return batchSettlementTypedData({
      chainId: b.chainId,
      escrow: b.escrow,
      poolId: impactPoolId(this.id, token),
      batch: BigInt(batch),
      payees: b.payees,
      amounts: b.amounts,
    })
  }
}
