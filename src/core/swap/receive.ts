import type { Address, Hex } from 'viem'
import { BaseError } from '../../errors/base.ts'

// The checks a node makes on a cheque it receives (issue 22, in the spec's order): the same
// chequebook as before for this peer; we are the beneficiary; the increase over the last cheque is
// positive, covers what is owed and pays no more than it (as Bee refuses overpayment); the signer
// is the chequebook's issuer; the chequebook can cover it (hard mode). Only a cheque that passes them all is stored.

/** Which check refused a cheque. */
export type ChequeCheck = 'chequebook' | 'beneficiary' | 'increase' | 'signer' | 'cover'

/** A cheque refused by one of the receiving checks; `check` names it. */
export class ChequeRefusedError extends BaseError {
  override name = 'ChequeRefusedError' as const
  override readonly kind = 'forbidden' as const
  constructor(
    readonly check: ChequeCheck,
    message: string,
  ) {
    super(message)
  }
}

/** A cheque as it arrives. */
export type ReceivedCheque = {
  readonly chequebook: Address
  readonly beneficiary: Address
  readonly cumulativePayout: bigint
  readonly signature: Hex
}

/** What the receiver knows when it checks a cheque. */
export type ChequeContext = {
  /** The chequebook bound to this peer (handshake or an earlier cheque); undefined if none yet. */
  readonly boundChequebook: Address | undefined
  /** Our beneficiary address. */
  readonly beneficiary: Address
  /** The cumulative payout of the last cheque stored from this peer (0 if none). */
  readonly lastCumulative: bigint
  /** The least increase that covers what is owed (0: any positive increase). */
  readonly owed: bigint
  /**
   * The most an increase may be: what the peer owes and some slack for answers still on their
   * way (a cheque paying more than owed is refused, as Bee refuses overpayment).
   */
  readonly most: bigint
}

/** What the chain (or, in mock mode, the peer's word) says of the chequebook. */
export type ChequeWitness = {
  /** The address that signed the cheque (recovered from its signature). */
  readonly signer: Address
  /** The chequebook's issuer. */
  readonly issuer: Address
  /**
   * What the chequebook can still pay us: `liquidBalanceFor(us)`, against which the unpaid part
   * of the cheque (`cumulative − paidOut(us)`) is measured with `paidOut`. Undefined in mock mode
   * (not checked).
   */
  readonly cover?: { readonly liquid: bigint; readonly paidOut: bigint } | undefined
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()

/**
 * The first four checks, which need nothing from the chain. Returns the increase.
 * @throws ChequeRefusedError naming the check that failed.
 */
export function checkChequeTerms(cheque: ReceivedCheque, context: ChequeContext): bigint {
  if (context.boundChequebook !== undefined && !same(cheque.chequebook, context.boundChequebook))
    throw new ChequeRefusedError(
      'chequebook',
      `The cheque is drawn on chequebook ${cheque.chequebook}, but this peer pays from ${context.boundChequebook}; pay from the same chequebook.`,
    )
  if (!same(cheque.beneficiary, context.beneficiary))
    throw new ChequeRefusedError(
      'beneficiary',
      `The cheque is made out to ${cheque.beneficiary}, not to this node (${context.beneficiary}); make it out to the beneficiary of the handshake.`,
    )
  const increase = cheque.cumulativePayout - context.lastCumulative
  if (increase <= 0n)
    throw new ChequeRefusedError(
      'increase',
      `The cheque's cumulative payout ${cheque.cumulativePayout} is not above the last one received (${context.lastCumulative}); a cheque must add to the lifetime total.`,
    )
  if (increase < context.owed)
    throw new ChequeRefusedError(
      'increase',
      `The cheque adds ${increase}, less than the ${context.owed} owed; pay at least what is owed.`,
    )
  if (increase > context.most)
    throw new ChequeRefusedError(
      'increase',
      `The cheque adds ${increase}, more than the ${context.most} this node can take (what is owed, and some slack); pay what is owed.`,
    )
  return increase
}

/**
 * The last two checks, on what the chain (or the peer's word) says of the chequebook.
 * @throws ChequeRefusedError naming the check that failed.
 */
export function checkChequeBacking(cheque: ReceivedCheque, witness: ChequeWitness): void {
  if (!same(witness.signer, witness.issuer))
    throw new ChequeRefusedError(
      'signer',
      `The cheque is signed by ${witness.signer}, not by the chequebook's issuer ${witness.issuer}.`,
    )
  if (witness.cover === undefined) return
  const unpaid = cheque.cumulativePayout - witness.cover.paidOut
  if (unpaid > witness.cover.liquid)
    throw new ChequeRefusedError(
      'cover',
      `The chequebook can pay ${witness.cover.liquid} now but the cheque leaves ${unpaid} unpaid; deposit into the chequebook before paying.`,
    )
}
