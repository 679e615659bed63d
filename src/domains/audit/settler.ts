import type { Logger } from 'pino'
import type { Counter } from 'prom-client'
import type { Address, Hex } from 'viem'
import { auditEscrowAbi } from '../../chain/artifacts.ts'
import { type ChainService, escrowAudit } from '../../chain/chain-service.ts'
import { ChainError } from '../../chain/errors.ts'
import { NATIVE, sortSignatures } from '../../chain/escrow.ts'
import { auditIdOf, settlementTypedData } from '../../core/audit/settlement-report.ts'
import { AUDIT_OP } from '../../core/audit/states.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { OpId } from '../../ledger/op-id.ts'
import { type Accounts, OPERATOR } from '../../node/accounts.ts'
import type { Startable } from '../../node/startable.ts'
import type { AuditActions } from './actions.ts'
import type { AuditIndex } from './audit-index.ts'

/** The settler's metrics: `settle` transactions by outcome, and the gas they used. */
export type SettlerMetrics = {
  /** outcome: `success`, `reverted` (mined, refused by the escrow) or `failed` (not mined). */
  readonly transactions: Counter<'outcome'>
  readonly gas: Counter
}

/** What `audit.settled` records as its transaction when the settlement paid nobody. */
export const NOTHING_TO_PAY = 'nothing-to-pay'

/** How often audits waiting for the contract are looked at again (funding may have arrived). */
const POLL_MS = 2000
/** Signer answers kept at most (anyone may publish signatures from new addresses). */
const MAX_CACHED_SIGNERS = 10_000

/**
 * Drives settlement on the chain: when an audit reaches WAITING_FOR_CONTRACT this node signs the
 * EIP-712 report with its Ethereum key and publishes the signature as an op; once the escrow's
 * threshold of its registered signers have signed and the audit is funded, it submits `settle`;
 * when the transaction succeeds it records `audit.settled` (COMPLETE) with a local admin account.
 */
export function createSettler({
  ledger,
  audits,
  accounts,
  actions,
  chain,
  logger,
  metrics,
}: {
  ledger: Ledger
  audits: AuditIndex
  accounts: Accounts
  actions: AuditActions
  chain: ChainService
  logger: Logger
  metrics?: SettlerMetrics | undefined
}): Startable {
  const running = new Map<OpId, Promise<void>>()
  const again = new Set<OpId>()
  const warned = new Set<string>()
  let timer: NodeJS.Timeout | undefined
  let unsubscribe: (() => void) | undefined
  const domain = { chainId: chain.info.chainId, escrow: chain.info.escrow }
  /**
   * Whether each address is one of the escrow's signers, read once per address: anyone may
   * publish settlement signatures, and a poll must not cost one chain call per signature. The
   * owner may add and remove signers, so the cache is dropped whenever the escrow logs a change
   * (see `watchSigners`) or a settle fails.
   */
  const signerCache = new Map<Address, Promise<boolean>>()
  const isSigner = (address: Address): Promise<boolean> => {
    let known = signerCache.get(address)
    if (!known) {
      if (signerCache.size >= MAX_CACHED_SIGNERS) signerCache.clear()
      known = chain.client.readContract({
        address: domain.escrow,
        abi: auditEscrowAbi,
        functionName: 'isSigner',
        args: [address],
      }) as Promise<boolean>
      known.catch(() => signerCache.delete(address))
      signerCache.set(address, known)
    }
    return known
  }

  /** The next block whose escrow logs are looked at for signer changes (undefined: not watching). */
  let watchedFrom: bigint | undefined
  /** Drops the signer cache if the escrow's signers changed since the last look. */
  async function watchSigners(): Promise<void> {
    const latest = await chain.client.getBlockNumber()
    if (watchedFrom === undefined) {
      // Start watching: answers cached before may be stale; reads from now on see every
      // change up to this block.
      signerCache.clear()
      watchedFrom = latest + 1n
      return
    }
    if (latest < watchedFrom) return // no new block
    const logs = await chain.client.getContractEvents({
      address: domain.escrow,
      abi: auditEscrowAbi,
      fromBlock: watchedFrom,
      toBlock: latest,
    })
    watchedFrom = latest + 1n
    if (logs.some((l) => l.eventName === 'SignerAdded' || l.eventName === 'SignerRemoved'))
      signerCache.clear()
  }

  const warnOnce = (key: string, message: string, extra: object) => {
    if (warned.has(key)) return
    warned.add(key)
    logger.warn(extra, message)
  }

  function schedule(id: OpId): void {
    if (running.has(id)) {
      again.add(id)
      return
    }
    const task = advance(id)
      .catch((err: unknown) => logger.error({ err, audit: id }, 'settlement step failed'))
      .finally(() => {
        running.delete(id)
        if (again.delete(id)) schedule(id)
      })
    running.set(id, task)
  }

  async function advance(id: OpId): Promise<void> {
    const state = await audits.state(id)
    if (state.state !== 'WAITING_FOR_CONTRACT' || !state.settlement) return
    const { payees, amounts } = state.settlement
    const auditId = auditIdOf(id)
    const forHere = state.settlementSignatures.filter(
      (s) => s.chainId === domain.chainId && s.escrow === domain.escrow,
    )
    if (!forHere.some((s) => s.signer === chain.info.signer)) {
      const signature = await chain.wallet.signTypedData(
        settlementTypedData({ ...domain, auditId, payees, amounts }),
      )
      await actions.signSettlement(accounts.get(OPERATOR)!, id, { ...domain, signature })
      return // the new op schedules the next step
    }
    let tx: Hex | undefined
    const onChain = await escrowAudit(chain, auditId)
    // A settlement that pays nobody (every reward zero) needs no money, and the escrow refuses to
    // settle what nobody funded: nothing goes through the chain, the audit just completes.
    const nothingToPay = state.settlement.total === 0n && onChain.funded === 0n
    if (!onChain.settled && !nothingToPay) {
      const threshold = (await chain.client.readContract({
        address: domain.escrow,
        abi: auditEscrowAbi,
        functionName: 'threshold',
      })) as bigint
      const valid: { signer: Address; signature: Hex }[] = []
      for (const s of forHere) if (await isSigner(s.signer)) valid.push(s)
      if (BigInt(valid.length) < threshold) return
      const { funded } = onChain
      // The first funder chose the token: pay only in the one the audit names.
      const token = state.params.token === 'native' ? NATIVE : state.params.token
      if (funded > 0n && onChain.token.toLowerCase() !== token.toLowerCase()) {
        warnOnce(`token ${id}`, 'the escrow holds the wrong token for this audit; not settling', {
          audit: id,
          escrowToken: onChain.token,
          auditToken: token,
          hint: 'the sponsor funded another token than the audit pays in; settle it by hand or run a new audit',
        })
        return
      }
      if (funded < state.settlement.total) {
        warnOnce(`fund ${id}`, 'audit waits for funding before it can be settled', {
          audit: id,
          funded: `${funded}`,
          needed: `${state.settlement.total}`,
          // The total is more than the bond in staked mode (stakes are returned through it).
          hint: `rwa audit fund "${state.params.name}" ${state.settlement.total - funded}`,
        })
        return
      }
      let gas: bigint
      try {
        tx = await chain.wallet.writeContract({
          address: domain.escrow,
          abi: auditEscrowAbi,
          functionName: 'settle',
          args: [auditId, payees, amounts, sortSignatures(valid)],
        })
        const receipt = await chain.client.waitForTransactionReceipt({ hash: tx })
        metrics?.gas.inc(Number(receipt.gasUsed))
        if (receipt.status !== 'success') {
          metrics?.transactions.inc({ outcome: 'reverted' })
          throw new ChainError(
            `The settle transaction ${tx} reverted; the escrow refused the settlement.`,
          )
        }
        metrics?.transactions.inc({ outcome: 'success' })
        gas = receipt.gasUsed
      } catch (error) {
        if (!(error instanceof ChainError)) metrics?.transactions.inc({ outcome: 'failed' })
        signerCache.clear() // a signer may have been removed: read them again next time
        throw error
      }
      logger.info({ audit: id, tx, gas: `${gas}` }, 'audit settled on chain')
    }
    const admin = accounts.among(state.params.admins)
    if (!admin) {
      warnOnce(`admin ${id}`, 'settled on chain, but no local admin account can record it', {
        audit: id,
      })
      return
    }
    await actions.recordSettled(admin, id, {
      ...domain,
      tx: tx ?? (nothingToPay && !onChain.settled ? NOTHING_TO_PAY : 'settled-before'),
    })
  }

  return {
    name: 'audit.settler',
    start(): void {
      unsubscribe = ledger.onAccepted((ops) => {
        for (const { doc, op } of ops) {
          const type = op.op.type
          if (
            type === AUDIT_OP.stop ||
            type === AUDIT_OP.finish ||
            type === AUDIT_OP.signSettlement
          )
            schedule(doc)
        }
      })
      let watching: Promise<void> | undefined
      const poll = () => {
        const waiting = audits.list().filter((audit) => audit.state === 'WAITING_FOR_CONTRACT')
        if (waiting.length === 0) {
          watchedFrom = undefined // nothing to settle: no need to follow the escrow's logs
          return
        }
        // Signer changes are looked at before the audits, so this poll counts them.
        watching ??= watchSigners()
          .catch((err: unknown) => {
            signerCache.clear()
            watchedFrom = undefined
            logger.warn({ err }, 'could not read the escrow for signer changes')
          })
          .finally(() => {
            watching = undefined
          })
        void watching.then(() => {
          for (const audit of waiting) schedule(audit.id)
        })
      }
      poll()
      timer = setInterval(poll, POLL_MS)
      timer.unref()
    },
    async stop(): Promise<void> {
      clearInterval(timer)
      unsubscribe?.()
      await Promise.all(running.values())
    },
  }
}
