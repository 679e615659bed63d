import { parseAmount, type TokenUnit } from '../../../core/amount.ts'
import { isPeerId, MAX_PEER_ID } from '../wire.ts'
import { SwapCliError } from './errors.ts'
import { formatSwapAmount } from './format.ts'

// The arguments of `rwa swap cash <peer>` and `deposit | withdraw <amount>`, read before anything
// is sent to the node.

/** Shortest part of a peer id that is looked up among the peers. */
const MIN_PART = 4

/**
 * The peer a `cash` argument names: a full peer id, or the short form `rwa swap peers` prints
 * (`12D3KooW…QAJU5SA`), or any part of one, as long as exactly one of `peers` matches.
 * @example matchPeer('QAJU5SA', peers) // '12D3KooWD3eck…QAJU5SA' in full
 */
export function matchPeer(text: string, peers: readonly string[]): string {
  const given = text.trim()
  const shown = JSON.stringify(given.length > 60 ? `${given.slice(0, 60)}…` : given)
  if (given.length > MAX_PEER_ID)
    throw new SwapCliError(
      `${shown} is too long for a libp2p peer id (at most ${MAX_PEER_ID} characters); copy it from "rwa swap peers".`,
    )
  if (peers.includes(given) || isPeerId(given)) return given
  const [start = '', end = ''] = given.split(/…|\.\.\./)
  const short = given.includes('…') || given.includes('...')
  const found = short
    ? peers.filter((p) => p.startsWith(start) && p.endsWith(end))
    : peers.filter((p) => p.includes(given))
  if (!short && given.length < MIN_PART)
    throw new SwapCliError(
      `${shown} is too short to name a peer; give its peer id, or at least ${MIN_PART} characters of it as "rwa swap peers" shows it.`,
    )
  if (found.length === 1 && found[0] !== undefined) return found[0]
  if (found.length === 0)
    throw new SwapCliError(
      `No peer of this node matches ${shown}; "rwa swap peers" lists them (--json for the full ids).`,
    )
  throw new SwapCliError(
    `${shown} matches ${found.length} peers (${found.slice(0, 3).join(', ')}${found.length > 3 ? ', …' : ''}); give more of the peer id.`,
  )
}

/**
 * The amount to deposit or withdraw: base units (`"12500000"`) or a decimal with the token's
 * symbol (`"12.5 TT"`), more than zero.
 * @throws InvalidAmountError or SwapCliError, saying what to give instead.
 */
export function amountArgument(text: string, unit: TokenUnit): bigint {
  // parseAmount refuses negatives, junk, wrong units and more than 2^256 − 1.
  const amount = parseAmount(text, unit)
  if (amount > 0n) return amount
  throw new SwapCliError(
    `${JSON.stringify(text.trim().slice(0, 40))} is ${formatSwapAmount(0n, unit)}; give more than zero.`,
  )
}
