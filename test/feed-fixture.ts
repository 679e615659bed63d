import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createFeedReducer, type FeedReducer } from '../src/core/feed/domain.ts'
import { FEED_OP } from '../src/core/feed/ops.ts'
import { feedReportDigest } from '../src/core/feed/report.ts'
import type { Signer } from '../src/ledger/keys.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { makeOp, testSigner } from './helpers.ts'

// A feed built op by op, without a node: the feed reducer's tests use it.

export const keyOf = (signer: Signer) => Buffer.from(signer.publicKey).toString('hex')

/** The feed's actors: the owner, oracles 0–9, signer nodes 0–3 (op key and EVM key), a stranger. */
export const FEED_ROLES = {
  owner: testSigner(1),
  stranger: testSigner(2),
  oracle: (i: number) => testSigner(20 + i),
  node: (i: number) => testSigner(60 + i),
  nodeEvm: (i: number) =>
    privateKeyToAccount(`0x${(0x1000 + i).toString(16).padStart(64, '0')}` as Hex),
}

export const T0 = 1_800_000_000_000
export const AGGREGATOR: Address = '0x00000000000000000000000000000000000f33d1'
export const CHAIN_ID = 31337

/** A genesis body: ETH/USD, 8 decimals, 10 s windows, `oracles` registered, `signers` nodes. */
export function feedGenesis(overrides: Record<string, unknown> = {}, oracles = 5, signers = 3) {
  return {
    pair: 'ETH/USD',
    decimals: 8,
    window: 10,
    heartbeat: 3600,
    deviation: 5000,
    minSources: 1,
    maxAge: 300,
    oracles: Array.from({ length: oracles }, (_, i) => keyOf(FEED_ROLES.oracle(i))),
    signers: Array.from({ length: signers }, (_, i) => ({
      key: keyOf(FEED_ROLES.node(i)),
      address: FEED_ROLES.nodeEvm(i).address,
    })),
    threshold: 2,
    chain: { chainId: CHAIN_ID, aggregator: AGGREGATOR },
    ...overrides,
  }
}

/** `price` in dollars (a number of cents is exact enough for tests) at 8 decimals. */
export const usd = (dollars: number) => BigInt(Math.round(dollars * 100)) * 1_000_000n

export function attestBody(
  price: bigint,
  timestamp: number,
  overrides: Record<string, unknown> = {},
) {
  return {
    price: price.toString(),
    confidence: 95,
    timestamp,
    sources: [{ name: 'test', price: price.toString(), volume: '1000', timestamp }],
    proof: { kind: 'simulated', ref: 'test' },
    ...overrides,
  }
}

/** One feed's ops, applied to a reducer as they are made. */
export class FeedDoc {
  readonly ops: EncodedOp[] = []
  readonly reducer: FeedReducer
  readonly id: OpId
  private readonly seqs = new Map<string, number>()

  constructor(body: Record<string, unknown> = feedGenesis(), time = T0) {
    const genesis = makeOp(FEED_ROLES.owner, {
      doc: null,
      seq: 1,
      deps: [],
      type: FEED_OP.create,
      body,
      time,
    })
    this.ops.push(genesis)
    this.id = genesis.id
    this.reducer = createFeedReducer(genesis)
    this.seqs.set(keyOf(FEED_ROLES.owner), 1)
  }

  /** The current heads (ops no other op depends on), as a node would cite them. */
  heads(): OpId[] {
    const cited = new Set(this.ops.flatMap((o) => o.op.deps))
    return this.ops.filter((o) => !cited.has(o.id)).map((o) => o.id)
  }

  /** Signs an op (not applied). `deps` default: the heads. */
  make(
    signer: Signer,
    type: string,
    body: unknown,
    { deps, time }: { deps?: OpId[]; time?: number } = {},
  ) {
    const key = keyOf(signer)
    const seq = (this.seqs.get(key) ?? 0) + 1
    this.seqs.set(key, seq)
    return makeOp(signer, {
      doc: this.id,
      seq,
      deps: deps ?? this.heads().slice(0, 64),
      type,
      body,
      time: time ?? T0,
    })
  }

  /** Makes and applies an op; answers it. */
  add(signer: Signer, type: string, body: unknown, options: { deps?: OpId[]; time?: number } = {}) {
    const op = this.make(signer, type, body, options)
    this.apply(op)
    return op
  }

  apply(op: EncodedOp): void {
    this.ops.push(op)
    this.reducer.apply(op)
  }

  /** Oracle `i` attests `price` at `timestamp` (its op's time: the timestamp). */
  attest(
    i: number,
    price: bigint,
    timestamp: number,
    overrides: Record<string, unknown> = {},
    deps?: OpId[],
  ) {
    return this.add(FEED_ROLES.oracle(i), FEED_OP.attest, attestBody(price, timestamp, overrides), {
      time: timestamp,
      ...(deps ? { deps } : {}),
    })
  }

  /** Signer node `i` signs the report of window `w` as the reducer aggregates it now. */
  async signReport(i: number, w: number, overrides: Record<string, unknown> = {}) {
    const a = this.reducer.aggregate(w)
    if (!a) throw new Error(`no aggregate for window ${w}`)
    const windowStart = BigInt(w) * 10n
    const digest = feedReportDigest(
      {
        window: BigInt(w),
        answer: a.answer,
        observations: a.observations,
        windowStart,
        windowEnd: windowStart + 10n,
        idsHash: a.idsHash,
      },
      CHAIN_ID,
      AGGREGATOR,
    )
    const signature = await FEED_ROLES.nodeEvm(i).sign({ hash: digest })
    return this.add(FEED_ROLES.node(i), FEED_OP.signReport, {
      window: w,
      answer: a.answer.toString(),
      observations: a.observations,
      idsHash: a.idsHash,
      chainId: CHAIN_ID,
      aggregator: AGGREGATOR,
      signature,
      ...overrides,
    })
  }
}
