import type { Logger } from 'pino'
import type { Counter } from 'prom-client'
import type { ChainService } from '../../chain/chain-service.ts'
import { IMPACT_OP, ImpactRefusedError } from '../../core/impact/ops.ts'
import { batchSettlementTypedData, impactPoolId } from '../../core/impact/pool-report.ts'
import type { BatchState } from '../../core/impact/state.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { type Accounts, OPERATOR } from '../../node/accounts.ts'
import type { Startable } from '../../node/startable.ts'
import type { ImpactActions, ImpactIndex } from './actions.ts'

/** How often every community's open batches are looked at again (a missed op, a restart). */
const SWEEP_MS = 5000

/** What the batch signer needs from the node. */
export type BatchSignerOptions = {
  readonly ledger: Ledger
  readonly index: ImpactIndex
  readonly accounts: Accounts
  readonly actions: ImpactActions
  readonly chain: ChainService
  readonly logger: Logger
  /** Signatures published, by outcome (`signed`, `failed`). */
  readonly signatures?: Counter<'outcome'> | undefined
  readonly sweepMs?: number
}

/** Whether a batch is to be paid by this node's escrow on this node's chain. */
export const isForChain = (batch: BatchState, chain: ChainService) =>
  batch.chainId === chain.info.chainId &&
  batch.escrow.toLowerCase() === chain.info.escrow.toLowerCase()

/**
 * Signs every open settlement batch of every impact community once with the node's operator
 * Ethereum key (EIP-712 `BatchSettlement`), and publishes the signature as `impact.batch.sign`,
 * as the audit settler signs settlements: the proxy submits a batch once the escrow's threshold
 * of its signers have signed.
 */
export function createBatchSigner({
  ledger,
  index,
  accounts,
  actions,
  chain,
  logger,
  signatures,
  sweepMs = SWEEP_MS,
}: BatchSignerOptions): Startable {
  let timer: NodeJS.Timeout | undefined
  let unsubscribe: (() => void) | undefined
  let running: Promise<void> | undefined
  let again = false
  const me = chain.info.signer.toLowerCase()

  async function signOpen(community: OpId, token: number): Promise<void> {
    const operator = accounts.get(OPERATOR)
    if (!operator) return
    const reducer = await index.reducer(community)
    const batch = reducer.pool(token).batches.at(-1)
    if (!batch || batch.settled || !isForChain(batch, chain)) return
    if (batch.signatures.some((s) => s.signer.toLowerCase() === me)) return
    const signature = await chain.wallet.signTypedData(
      batchSettlementTypedData({
        chainId: batch.chainId,
        escrow: batch.escrow,
        poolId: impactPoolId(community, token),
        batch: BigInt(batch.batch),
        payees: batch.payees,
        amounts: batch.amounts,
      }),
    )
    try {
      await actions.act(operator, community, IMPACT_OP.signBatch, {
        token,
        batch: batch.batch,
        signer: chain.info.signer,
        signature,
      })
      signatures?.inc({ outcome: 'signed' })
      logger.info({ community, token, batch: batch.batch }, 'signed an impact settlement batch')
    } catch (error) {
      // Signed already in a concurrent op (a restart, a replica of this key): nothing to do.
      if (error instanceof ImpactRefusedError) return
      signatures?.inc({ outcome: 'failed' })
      throw error
    }
  }

  /** Every community's pools with an open batch (a snapshot each: the sweep is slow on purpose). */
  async function sweep(): Promise<void> {
    for (const { id } of index.list()) {
      const pools = (await index.reducer(id)).state().pools
      for (const pool of pools) await signOpen(id, pool.token)
    }
  }

  function run(work: () => Promise<void>): void {
    if (running) {
      again = true
      return
    }
    running = work()
      .catch((err: unknown) =>
        logger.warn({ err }, 'could not sign an impact batch; retrying later'),
      )
      .finally(() => {
        running = undefined
        if (again) {
          again = false
          run(sweep)
        }
      })
  }

  return {
    name: 'impact.signer',
    start(): void {
      unsubscribe = ledger.onAccepted((ops) => {
        const batches = ops.filter((a) => a.op.op.type === IMPACT_OP.batch)
        if (batches.length === 0) return
        run(async () => {
          for (const { doc, op } of batches)
            await signOpen(doc, (op.op.body as { token: number }).token)
        })
      })
      run(sweep)
      timer = setInterval(() => run(sweep), sweepMs)
      timer.unref()
    },
    async stop(): Promise<void> {
      clearInterval(timer)
      unsubscribe?.()
      again = false
      await running
    },
  }
}
