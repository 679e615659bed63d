import type { Address, Hex } from 'viem'
import { type ChainService, escrowAudit } from '../../chain/chain-service.ts'
import { ChainError } from '../../chain/errors.ts'
import { NATIVE } from '../../chain/escrow.ts'
import { chainFailure, fundAudit, owedTo, payoutTokens } from '../../chain/payments.ts'
import { createTokenUnits, type TokenUnits } from '../../chain/token-units.ts'
import {
  formatAmount,
  InvalidAmountError,
  parseAmount,
  type TokenUnit,
  unknownUnit,
} from '../../core/amount.ts'
import { AuditOpRefusedError } from '../../core/audit/errors.ts'
import { auditIdOf } from '../../core/audit/settlement-report.ts'
import type { AuditState } from '../../core/audit/state.ts'
import { NotFoundError } from '../../http/errors.ts'
import type { LocalAccount } from '../../node/accounts.ts'

/** What the escrow holds for an audit, against what settling it takes. */
export type Funding = {
  /** Base units the escrow holds for the audit (in the token its first funder chose). */
  readonly funded: bigint
  /**
   * Base units settling takes: the settlement's total once computed, the bond before. The
   * escrow refunds the sponsor whatever is funded above the payouts.
   */
  readonly needed: bigint
  /** The token the escrow holds; the audit's own token until someone funds it. */
  readonly escrowToken: string
  readonly settled: boolean
}

/** An amount owed in one token, with its unit. */
export type Owed = { readonly token: TokenUnit; readonly amount: bigint }

/** The money side of audits on the node's chain: units, funding, what the escrow owes. */
export interface AuditMoney {
  /** The unit of an audit's token, from the chain (ETH for native); base units if it cannot be read soon. */
  unitOf(token: string): Promise<TokenUnit>
  /** The escrow's funding of an audit; undefined without a chain, or when it cannot be read soon. */
  funding(state: AuditState): Promise<Funding | undefined>
  /** Funds an audit's escrow from a local account's Ethereum key; `amount` may carry a unit. */
  fund(account: LocalAccount, state: AuditState, amount: string): Promise<FundResult>
  /**
   * What the escrow owes `address` in each token the node knows, or in `tokens` only (one
   * token, or several: each read once).
   */
  owed(address: Address, tokens?: Address | readonly Address[]): Promise<Owed[]>
}

/** What funding did. */
export type FundResult = {
  readonly amount: bigint
  readonly token: TokenUnit
  readonly tx: Hex
  /** The funding after it (null if the chain did not answer soon enough). */
  readonly funding: Funding | null
}

/**
 * How long a read for a view (a unit, the funding) may wait on the chain: an audit's page and
 * JSON must answer while the chain does not (viem would retry for tens of seconds).
 */
export const VIEW_READ_MS = 3000

/** How long a read of what the escrow owes may wait on the chain before it is refused. */
export const OWED_READ_MS = 10_000

/** `work`'s result, or what `late()` gives (or throws) once `ms` have passed without one. */
function beforeDeadline<T>(work: Promise<T>, ms: number, late: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(late())
      } catch (error) {
        reject(error)
      }
    }, ms)
  })
  work.catch(() => undefined) // a late failure is not an unhandled rejection
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
}

/** `work`'s result, or `fallback` if it fails or takes longer than `ms`. */
export function within<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms)
  })
  return Promise.race([work.catch(() => fallback), late]).finally(() => clearTimeout(timer))
}

/** The audit token as the escrow names it (address(0) for native ETH). */
export const escrowTokenOf = (token: string): Address =>
  token === 'native' ? NATIVE : (token as Address)

/** `tokens` without repeats (an address in another case is the same token), in their order. */
export function distinctTokens(tokens: readonly Address[]): Address[] {
  const byKey = new Map<string, Address>()
  for (const token of tokens)
    if (!byKey.has(token.toLowerCase())) byKey.set(token.toLowerCase(), token)
  return [...byKey.values()]
}

/** Creates the money side of audits for a node, with or without a chain. */
export function createAuditMoney(
  chain: ChainService | undefined,
  {
    units = createTokenUnits(chain?.client),
    viewReadMs = VIEW_READ_MS,
  }: { units?: TokenUnits; viewReadMs?: number } = {},
): AuditMoney {
  const noChain = () =>
    new NotFoundError(
      'This node runs without a chain, so it holds no escrow; fund the audit on the chain that settles it.',
    )
  async function readFunding(state: AuditState): Promise<Funding | undefined> {
    if (!chain) return undefined
    const onChain = await escrowAudit(chain, auditIdOf(state.id))
    const token = escrowTokenOf(state.params.token)
    return {
      funded: onChain.funded,
      needed: state.settlement?.total ?? state.params.bond,
      escrowToken: onChain.funded > 0n ? onChain.token : token,
      settled: onChain.settled,
    }
  }
  const funding = (state: AuditState) => within(readFunding(state), viewReadMs, undefined)
  return {
    unitOf: (token) => within(units.unitOf(token), viewReadMs, unknownUnit(token)),
    funding,
    async fund(account, state, text) {
      if (!chain) throw noChain()
      const unit = await units.unitOf(state.params.token)
      const amount = parseAmount(text, unit)
      if (amount === 0n)
        throw new InvalidAmountError(
          `Funding "${state.params.name}" with nothing does nothing; give a positive amount, e.g. ${formatAmount(state.params.bond, unit)}.`,
        )
      if (state.state === 'COMPLETE')
        throw new AuditOpRefusedError(
          `Audit "${state.params.name}" is settled already; there is nothing left to fund.`,
        )
      // Nothing is sent (no approval, no gas) for funding the escrow would refuse.
      const before = await readFunding(state).catch((error) => {
        throw chainFailure(error, `fund "${state.params.name}"`)
      })
      if (before?.settled)
        throw new AuditOpRefusedError(
          `Audit "${state.params.name}" is settled on chain already; there is nothing left to fund.`,
        )
      if (
        before &&
        before.funded > 0n &&
        before.escrowToken.toLowerCase() !== escrowTokenOf(state.params.token).toLowerCase()
      )
        throw new AuditOpRefusedError(
          `The escrow holds another token (${before.escrowToken}) for "${state.params.name}" than it pays in; it takes no more funding.`,
        )
      const tx = await fundAudit({
        info: chain.info,
        account: account.ethAccount,
        auditId: auditIdOf(state.id),
        token: escrowTokenOf(state.params.token),
        amount,
      })
      return { amount, token: unit, tx, funding: (await funding(state)) ?? null }
    },
    async owed(address, only) {
      if (!chain) throw noChain()
      const tokens = distinctTokens(
        only === undefined ? payoutTokens(chain.info) : typeof only === 'string' ? [only] : only,
      )
      const read = Promise.all(
        tokens.map(async (t) => ({
          token: await units.unitOf(t),
          amount: await owedTo(chain.info, address, t).catch((error) => {
            throw chainFailure(error, 'read what the escrow owes')
          }),
        })),
      )
      // A chain that takes connections and never answers would hold the caller for viem's
      // retries (about 40 s); the caller hears it does not answer instead.
      return beforeDeadline(read, OWED_READ_MS, () => {
        throw new ChainError(
          `Cannot read what the escrow owes ${address}: the chain did not answer within ${OWED_READ_MS / 1000} s; try again once it does.`,
        )
      })
    },
  }
}
