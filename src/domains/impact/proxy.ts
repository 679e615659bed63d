import type { Logger } from 'pino'
import type { Counter } from 'prom-client'
import type { Address, Hex } from 'viem'
import { auditEscrowAbi } from '../../chain/artifacts.ts'
import type { ChainService } from '../../chain/chain-service.ts'
import { NATIVE, sortSignatures } from '../../chain/escrow.ts'
import { MAX_POOL_LOG_BLOCKS, poolDeposits, readPool } from '../../chain/pools.ts'
import type { ImpactReducer } from '../../core/impact/domain.ts'
import { IMPACT_OP, REGISTRY_OPS } from '../../core/impact/ops.ts'
import { impactPoolId } from '../../core/impact/pool-report.ts'
import type { BatchState, RequestState } from '../../core/impact/state.ts'
import { BaseError } from '../../errors/base.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { Accounts, LocalAccount } from '../../node/accounts.ts'
import type { Startable } from '../../node/startable.ts'
import type { ImpactActions, ImpactIndex } from './actions.ts'
import { assignBody, type BlockClaim, DEFAULT_MAXDAYS, latestBlock } from './claims.ts'
import { isForChain } from './signer.ts'

/** The proxy service's metrics (`rwa_impact_…`). */
export type ProxyMetrics = {
  /** Proxy ops signed, by op type and outcome (`signed`, `refused`). */
  readonly ops: Counter<'type' | 'outcome'>
  /** Ticks run (with a chain and a local proxy account or not). */
  readonly ticks: Counter
  /** Ticks that hit a chain or ledger error (retried on the next tick). */
  readonly errors: Counter
  /** settleBatch transactions, by outcome (`success`, `reverted`, `failed`). */
  readonly settlements: Counter<'outcome'>
}

/** What the proxy service needs from the node. */
export type ProxyServiceOptions = {
  readonly ledger: Ledger
  readonly index: ImpactIndex
  readonly accounts: Accounts
  readonly actions: ImpactActions
  readonly chain: ChainService | undefined
  readonly logger: Logger
  readonly metrics?: ProxyMetrics | undefined
  /** Milliseconds between ticks (ops arriving also start one). */
  readonly intervalMs?: number
  /** Days an assigned auditor has to vote. */
  readonly maxdays?: number
  /** The most proxy ops signed per community per tick: a tick's work is bounded. */
  readonly maxOpsPerTick?: number
  /** The most pages of ≤ 10,000 blocks of deposit logs read per pool per tick. */
  readonly maxLogPages?: number
  /** The first block whose pool deposits are read (the escrow's deployment block, say). */
  readonly fromBlock?: bigint
}

/** The proxy service, with a switch for operators (and tests) who sign proxy ops by hand. */
export interface ImpactProxy extends Startable {
  /** Stops signing proxy ops until `resume` (a tick under way finishes); returns once it has. */
  pause(): Promise<void>
  /** Starts signing proxy ops again, with a tick at once. */
  resume(): void
  readonly paused: boolean
}

/** Registry snapshots (tokens, auditors owed their stake) are refreshed at least this often. */
const REGISTRY_REFRESH_MS = 10_000

type Budget = { left: number }
type Registry = {
  at: number
  tokens: { id: number; address: Address }[]
  /** Tokens in which a destroyed or suspended auditor still has a stake to return. */
  returns: Set<number>
  /** The impact actions that exist (a destroyed one expires its open requests). */
  actions: Set<number>
}

/**
 * The proxy service: runs for every community one of whose proxies is a local account, claiming
 * the chain's latest block (number and hash) on each tick. In order, per community: records the
 * pool deposits logged since the last read, expires requests past their action, unassigns seats
 * past their deadline (or of destroyed or suspended auditors), assigns open seats with the draw
 * the block hash seeds, decides requests whose votes reach the required count, closes the next
 * batch of a pool with payments queued once the previous one settled, and submits a batch that
 * the escrow's threshold of signers signed, then records its settlement. Without a chain it logs
 * once and idles; a chain error is logged, counted and retried on the next tick.
 */
export function createImpactProxy({
  ledger,
  index,
  accounts,
  actions,
  chain,
  logger,
  metrics,
  intervalMs = 1000,
  maxdays = DEFAULT_MAXDAYS,
  maxOpsPerTick = 50,
  maxLogPages = 10,
  fromBlock = 0n,
}: ProxyServiceOptions): ImpactProxy {
  let timer: NodeJS.Timeout | undefined
  let unsubscribe: (() => void) | undefined
  let running: Promise<void> | undefined
  let again = false
  let stopped = false
  let paused = false
  /** The next block whose deposit logs each pool (`community:token`) reads (memory only). */
  const cursors = new Map<string, bigint>()
  const registries = new Map<OpId, Registry>()
  const warned = new Set<string>()
  const warnOnce = (key: string, extra: object, message: string) => {
    if (warned.has(key)) return
    warned.add(key)
    logger.warn(extra, message)
  }

  /** Signs a proxy op; a refusal (the state moved on) is counted and logged, never thrown. */
  async function act(
    account: LocalAccount,
    community: OpId,
    type: string,
    body: unknown,
    budget: Budget,
  ): Promise<boolean> {
    if (budget.left <= 0 || stopped || paused) return false
    try {
      await actions.act(account, community, type, body)
      budget.left--
      metrics?.ops.inc({ type, outcome: 'signed' })
      return true
    } catch (error) {
      if (!(error instanceof BaseError) || error.kind === 'unavailable') throw error
      metrics?.ops.inc({ type, outcome: 'refused' })
      logger.debug({ community, type, err: error.shortMessage }, 'proxy op refused')
      return false
    }
  }

  function registryOf(community: OpId, reducer: ImpactReducer): Registry {
    const known = registries.get(community)
    if (known && Date.now() - known.at < REGISTRY_REFRESH_MS) return known
    const state = reducer.state()
    const returns = new Set<number>()
    for (const a of state.auditors)
      if (a.destroyed || a.suspended)
        for (const [token, stake] of Object.entries(a.stakes)) if (stake > 0n) returns.add(+token)
    const actions = new Set(state.actions.map((a) => a.uid))
    const registry = { at: Date.now(), tokens: [...state.tokens], returns, actions }
    registries.set(community, registry)
    return registry
  }

  async function recordDeposits(
    account: LocalAccount,
    community: OpId,
    tokens: { id: number; address: Address }[],
    claim: BlockClaim,
    budget: Budget,
  ): Promise<void> {
    if (!chain) return
    for (const { id: token, address } of tokens) {
      const poolId = impactPoolId(community, token)
      const key = `${community}:${token}`
      for (let page = 0; page < maxLogPages && budget.left > 0; page++) {
        const from = cursors.get(key) ?? fromBlock
        if (from > BigInt(claim.block)) break
        const last = BigInt(claim.block)
        const to = from + MAX_POOL_LOG_BLOCKS - 1n < last ? from + MAX_POOL_LOG_BLOCKS - 1n : last
        const logs = await poolDeposits(chain.client, chain.info.escrow, poolId, from, to)
        for (const log of logs) {
          if (log.token.toLowerCase() !== address.toLowerCase()) {
            warnOnce(
              `token ${key}`,
              { community, token, logged: log.token, expected: address },
              'a pool deposit in another token than the registry maps; not recorded',
            )
            continue
          }
          const body = {
            token,
            from: log.from,
            amount: `${log.amount}`,
            memo: log.memo.toLowerCase(),
            tx: log.txHash.toLowerCase(),
            logIndex: log.logIndex,
            block: claim.block,
          }
          // The reducer refuses a deposit it holds already (tx:logIndex): re-reading is safe.
          await act(account, community, IMPACT_OP.deposit, body, budget)
          if (budget.left <= 0) return // the cursor stays: the next tick reads this page again
        }
        cursors.set(key, to + 1n)
      }
    }
  }

  /** Whether a seat must go now: past its deadline without a vote, or its auditor destroyed or suspended. */
  function seatToFree(
    reducer: ImpactReducer,
    seat: RequestState['assignments'][number],
    request: RequestState,
    claim: BlockClaim,
    auditors: Map<string, { destroyed: boolean; suspended: boolean } | undefined>,
  ): boolean {
    if (seat.unassigned || request.votes.some((v) => v.auditor === seat.auditor)) return false
    if (claim.block > seat.deadline) return true
    if (!auditors.has(seat.auditor)) auditors.set(seat.auditor, reducer.auditor(seat.auditor))
    const auditor = auditors.get(seat.auditor)
    return !auditor || auditor.destroyed || auditor.suspended
  }

  async function tendRequests(
    account: LocalAccount,
    community: OpId,
    reducer: ImpactReducer,
    registry: Registry,
    claim: BlockClaim,
    budget: Budget,
  ): Promise<void> {
    const open = [
      ...reducer.requests({ status: 'WAITING_FOR_AUDITORS', limit: Number.MAX_SAFE_INTEGER }),
      ...reducer.requests({ status: 'VOTING', limit: Number.MAX_SAFE_INTEGER }),
    ].reverse() // oldest first
    const auditors = new Map<string, { destroyed: boolean; suspended: boolean } | undefined>()
    for (const request of open) {
      if (budget.left <= 0) return
      const id = request.id
      if (claim.block > request.action.blockend || !registry.actions.has(request.impactactionid)) {
        await act(account, community, IMPACT_OP.expire, { request: id, block: claim.block }, budget)
        continue
      }
      const votes = request.votes
      const yes = votes.filter((v) => v.vote === 'Y').length
      if (yes >= request.required || votes.length - yes >= request.required) {
        await act(account, community, IMPACT_OP.decide, { request: id, block: claim.block }, budget)
        continue
      }
      for (const seat of request.assignments)
        if (seatToFree(reducer, seat, request, claim, auditors))
          await act(
            account,
            community,
            IMPACT_OP.destroyAssignedAuditor,
            { request: id, auditor: seat.auditor, block: claim.block },
            budget,
          )
      await assign(account, community, reducer, id, claim, budget)
    }
  }

  async function assign(
    account: LocalAccount,
    community: OpId,
    reducer: ImpactReducer,
    id: OpId,
    claim: BlockClaim,
    budget: Budget,
  ): Promise<void> {
    const request = reducer.request(id)!
    if (request.status !== 'WAITING_FOR_AUDITORS') return
    const { blockstart, blockend } = request.action
    if (claim.block < blockstart || claim.block > blockend) return
    const body = assignBody(reducer, id, claim, maxdays)
    // With nobody eligible, one empty assignment records why on the request (its note); more
    // would only repeat it until the registry changes.
    if (body.auditors.length === 0 && request.note.startsWith('Waiting for auditors:')) return
    await act(account, community, IMPACT_OP.assignAuditor, body, budget)
  }

  const signerCache = new Map<string, Promise<boolean>>()
  const isSigner = (address: Address): Promise<boolean> => {
    const key = address.toLowerCase()
    let known = signerCache.get(key)
    if (!known) {
      if (signerCache.size > 10_000) signerCache.clear()
      known = chain!.client.readContract({
        address: chain!.info.escrow,
        abi: auditEscrowAbi,
        functionName: 'isSigner',
        args: [address],
      }) as Promise<boolean>
      known.catch(() => signerCache.delete(key))
      signerCache.set(key, known)
    }
    return known
  }

  async function settle(
    account: LocalAccount,
    community: OpId,
    batch: BatchState,
    budget: Budget,
  ): Promise<void> {
    if (!chain || budget.left <= 0) return
    if (!isForChain(batch, chain)) {
      warnOnce(
        `chain ${community}:${batch.token}:${batch.batch}`,
        { community, token: batch.token, batch: batch.batch },
        "a batch for another chain or escrow than this node's; not settling",
      )
      return
    }
    const poolId = impactPoolId(community, batch.token)
    const onChain = await readPool(chain.client, chain.info.escrow, poolId)
    let tx: Hex
    let block: number
    if (onChain.batches > BigInt(batch.batch)) {
      // Paid before this node recorded it (a restart between the two): find the transaction.
      const logs = await chain.client.getContractEvents({
        address: chain.info.escrow,
        abi: auditEscrowAbi,
        eventName: 'BatchSettled',
        args: { poolId, batch: BigInt(batch.batch) },
        fromBlock: BigInt(batch.block),
        strict: true,
      })
      const log = logs[0]
      if (!log) return
      tx = log.transactionHash
      block = Number(log.blockNumber)
    } else if (onChain.batches < BigInt(batch.batch)) {
      warnOnce(
        `order ${community}:${batch.token}:${batch.batch}`,
        { community, token: batch.token, batch: batch.batch, onChain: `${onChain.batches}` },
        'the escrow has not paid the batches before this one; not settling',
      )
      return
    } else {
      const threshold = (await chain.client.readContract({
        address: chain.info.escrow,
        abi: auditEscrowAbi,
        functionName: 'threshold',
      })) as bigint
      const valid: { signer: Address; signature: Hex }[] = []
      for (const s of batch.signatures) if (await isSigner(s.signer)) valid.push(s)
      if (BigInt(valid.length) < threshold) return
      try {
        tx = await chain.wallet.writeContract({
          address: chain.info.escrow,
          abi: auditEscrowAbi,
          functionName: 'settleBatch',
          args: [
            poolId,
            BigInt(batch.batch),
            [...batch.payees],
            [...batch.amounts],
            sortSignatures(valid),
          ],
        })
        const receipt = await chain.client.waitForTransactionReceipt({ hash: tx })
        if (receipt.status !== 'success') {
          metrics?.settlements.inc({ outcome: 'reverted' })
          signerCache.clear()
          logger.warn({ community, tx, batch: batch.batch }, 'the settleBatch transaction reverted')
          return
        }
        metrics?.settlements.inc({ outcome: 'success' })
        block = Number(receipt.blockNumber)
      } catch (error) {
        metrics?.settlements.inc({ outcome: 'failed' })
        signerCache.clear() // a signer may have been removed: read them again next time
        throw error
      }
      logger.info({ community, token: batch.token, batch: batch.batch, tx }, 'impact batch settled')
    }
    await act(
      account,
      community,
      IMPACT_OP.settled,
      { token: batch.token, batch: batch.batch, tx: tx.toLowerCase(), block },
      budget,
    )
  }

  async function tendPools(
    account: LocalAccount,
    community: OpId,
    reducer: ImpactReducer,
    registry: Registry,
    claim: BlockClaim,
    budget: Budget,
  ): Promise<void> {
    for (const { id: token } of registry.tokens) {
      const pool = reducer.pool(token)
      const last = pool.batches.at(-1)
      if (last && !last.settled) {
        await settle(account, community, last, budget)
        continue
      }
      // Nothing to pay, or nothing to pay it with (the batch would be refused until funded).
      const returns = registry.returns.has(token) || pool.refunding > 0n
      if (!returns && (pool.queued === 0n || pool.free <= 0n)) continue
      if (!chain) continue
      const body = {
        token,
        batch: pool.batches.length,
        block: claim.block,
        chainId: chain.info.chainId,
        escrow: chain.info.escrow,
      }
      if (await act(account, community, IMPACT_OP.batch, body, budget)) registries.delete(community) // stakes returned: look again
    }
  }

  async function tendCommunity(community: OpId, claim: BlockClaim): Promise<void> {
    const reducer = await index.reducer(community)
    const account = accounts.among(reducer.proxies())
    if (!account) return
    const state = reducer.machine.block
    if (claim.block < state) {
      warnOnce(
        `behind ${community}`,
        { community, chain: claim.block, claimed: state },
        'the chain is behind the block the proxy claimed already; waiting for it',
      )
      return
    }
    const budget = { left: maxOpsPerTick }
    const registry = registryOf(community, reducer)
    const tokens = [{ id: 0, address: NATIVE as Address }, ...registry.tokens]
    await recordDeposits(account, community, tokens, claim, budget)
    await tendRequests(account, community, reducer, registry, claim, budget)
    await tendPools(account, community, reducer, { ...registry, tokens }, claim, budget)
  }

  async function tick(): Promise<void> {
    if (!chain) return
    const communities = index.list()
    let claim: BlockClaim | undefined
    for (const { id } of communities) {
      if (stopped) return
      const reducer = await index.reducer(id)
      if (!accounts.among(reducer.proxies())) continue
      claim ??= await latestBlock(chain)
      await tendCommunity(id, claim)
    }
  }

  function run(): void {
    if (stopped || paused) return
    if (running) {
      again = true
      return
    }
    running = tick()
      .then(() => metrics?.ticks.inc())
      .catch((err: unknown) => {
        metrics?.errors.inc()
        logger.warn({ err }, 'impact proxy tick failed; retrying on the next tick')
      })
      .finally(() => {
        running = undefined
        if (again) {
          again = false
          run()
        }
      })
  }

  return {
    name: 'impact.proxy',
    get paused() {
      return paused
    },
    async pause(): Promise<void> {
      paused = true
      await running
    },
    resume(): void {
      paused = false
      run()
    },
    start(): void {
      if (!chain) {
        logger.info('no chain: the impact proxy service idles (it needs block claims)')
        return
      }
      unsubscribe = ledger.onAccepted((ops) => {
        let wake = false
        for (const { doc, op } of ops) {
          const type = op.op.type
          if (REGISTRY_OPS.has(type) || type === IMPACT_OP.approve || type === IMPACT_OP.decide)
            registries.delete(doc)
          // Our own proxy ops arrive here too: waking on them would loop, so only others' ops.
          if (
            type === IMPACT_OP.requestApproval ||
            type === IMPACT_OP.vote ||
            type === IMPACT_OP.signBatch
          )
            wake = true
        }
        if (wake) run()
      })
      run()
      timer = setInterval(run, intervalMs)
      timer.unref()
    },
    async stop(): Promise<void> {
      stopped = true
      clearInterval(timer)
      unsubscribe?.()
      await running
    },
  }
}
