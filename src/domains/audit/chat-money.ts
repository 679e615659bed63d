import type { ChainInfo } from '../../chain/chain-service.ts'
import { formatAmount, isKnownUnit, type TokenUnit } from '../../core/amount.ts'
import { auditorSummary } from '../../core/audit/queries.ts'
import type { AuditState } from '../../core/audit/state.ts'
import { S } from '../../core/audit/states.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import { explorerAt } from '../../web/explorer.ts'
import { count, PHASE } from './chat-words.ts'
import { type AuditMoney, escrowTokenOf, type Owed } from './funding.ts'
import { settledTransaction } from './settled-tx.ts'

/** How long a reply or notice waits on the chain for what the escrow owes, before going without it. */
const OWED_READ_MS = 3000

/** What the chat's money texts need: the chain, the escrow's books, links and units. */
export type ChatMoneyDeps = {
  readonly ledger: Ledger
  unitOf(token: string): Promise<TokenUnit>
  /** The absolute URL of a page of the node's dashboard. */
  pageUrl(path: string): string
  readonly explorerUrl?: string | undefined
  readonly money?: Pick<AuditMoney, 'funding' | 'owed'> | undefined
  readonly chain?: (() => ChainInfo | undefined) | undefined
}

/**
 * The audit chat's words about money: how much an escrow needs and how to fund it, what an
 * auditor is owed and how to withdraw it, with units, transactions and commands people can paste.
 * Reads on the chain are bounded, so a chain that does not answer never holds a reply.
 */
export function createChatMoney(deps: ChatMoneyDeps) {
  const { ledger, unitOf, pageUrl } = deps
  const explorer = explorerAt(deps.explorerUrl)

  /**
   * ` --node <url>` for a command people run on their own machine, where the CLI's default node
   * (the local one) is not this one; nothing when the node's URL is not known.
   */
  const nodeFlag = () => {
    const url = pageUrl('')
    return /^https?:\/\/[^/]/.test(url) ? ` --node ${url}` : ''
  }

  const txText = (hash: string) => `transaction ${hash}${explorer ? ` (${explorer.tx(hash)})` : ''}`

  /** How the admins of a finished audit get its escrow funded (amount, escrow, page and command). */
  async function fundingNotice(state: AuditState): Promise<string> {
    const info = deps.chain?.()
    const name = state.params.name
    if (!info || !deps.money)
      return `This node runs without a chain, so "${name}" cannot be paid out from here.`
    if (state.settlement?.total === 0n)
      return `It pays nobody (no auditor earned anything), so it needs no funding: it completes without a transaction, and I'll tell you when it does.`
    const unit = await unitOf(state.params.token)
    const funding = await deps.money.funding(state).catch(() => undefined)
    const token = escrowTokenOf(state.params.token)
    if (funding && funding.funded > 0n && funding.escrowToken.toLowerCase() !== token.toLowerCase())
      return `Its escrow holds ${funding.funded} base units of another token (${funding.escrowToken}) than "${name}" pays in, so no node settles it and the escrow takes no more for it; it must be settled by hand, or run as a new audit.`
    if (funding && funding.funded >= funding.needed)
      return `Its escrow already holds ${formatAmount(funding.funded, unit)} for it; it settles once enough nodes have signed the settlement. I'll tell you when it does.`
    // What settling takes: the settlement's total (the escrow refuses less), as `funding` counts it.
    const needed = funding?.needed ?? state.settlement?.total ?? state.params.bond
    const funded = funding?.funded ?? 0n
    const missing = needed - funded
    const typed = isKnownUnit(unit) ? formatAmount(missing, unit) : `${missing}`
    const what = state.settlement ? 'the total its settlement pays out' : 'its bond'
    return [
      ...(funding
        ? []
        : [
            `I could not read its escrow just now, so I do not know what it already holds; it needs ${formatAmount(needed, unit)} in all (${what}).`,
          ]),
      funded > 0n
        ? `Its escrow holds ${formatAmount(funded, unit)} of the ${formatAmount(needed, unit)} it needs (${what}); fund the other ${formatAmount(missing, unit)} from the wallet that funded it: the escrow takes more only from its first funder.`
        : funding
          ? `To pay the auditors, fund its escrow with ${formatAmount(missing, unit)}, ${what}.`
          : `If nobody has funded it yet, fund it with ${formatAmount(missing, unit)}; if someone has, only that wallet can add the rest.`,
      `The escrow contract ${info.escrow} on chain ${info.chainId} holds it for this audit; whatever is funded beyond that, the first funder withdraws once it settles.`,
      `Fund it from the command line with your Ethereum key (the audit is named by its id, which needs no quoting):`,
      `  rwa audit fund ${state.id} "${typed}"${tokenFlag(state.params.token)}${nodeFlag()} --eth-key <your Ethereum key file>`,
      `or on the audit's page ${pageUrl(`/ui/audits/${state.id}`)} with an account token of this node.`,
      "I'll tell you when it settles.",
    ].join('\n')
  }

  /** How an auditor withdraws what an audit paid it. */
  function withdrawHow(payout: string, token: string): string {
    return [
      `Withdraw it with the wallet of ${payout} on ${pageUrl(`/ui/audits/payouts/${payout}`)}, or from the command line:`,
      `  rwa payout withdraw${tokenFlag(token)}${nodeFlag()} --eth-key <the Ethereum key file of ${payout}>`,
    ].join('\n')
  }

  /**
   * ` --token <address>` when the audit's token is one the CLI does not look at by itself (it
   * withdraws native ETH and the devnet token unless told another).
   */
  function tokenFlag(token: string): string {
    if (token === 'native') return ''
    const known = deps.chain?.()?.token
    return known && known.toLowerCase() === token.toLowerCase() ? '' : ` --token ${token}`
  }

  /** An auditor's result in a finished audit, in a sentence or three. */
  async function resultText(state: AuditState, key: string, finished = false): Promise<string> {
    const { result } = auditorSummary(state, key)
    const name = state.params.name
    if (!result) return `"${name}" has no result for you yet: it is ${PHASE[state.state]}.`
    const unit = await unitOf(state.params.token)
    const pay = result.paid + result.returned
    const lead = finished ? `Audit "${name}" is finished. Of` : `Audit "${name}": of`
    const head = `${lead} your ${count(result.inspections, 'inspection')}, ${result.aligned} matched the majority, ${result.misaligned} did not and ${result.missing} went unanswered; your compensation is ${formatAmount(pay, unit)}, for ${result.payout}.`
    if (pay === 0n) return head
    if (state.stateIndex !== S.COMPLETE)
      return `${head}\nIt is paid into the escrow when the audit settles on chain; I'll tell you then how to withdraw it.`
    const tx = await settledTransaction(ledger, state)
    if (!tx && !deps.chain?.())
      return `${head}\nIts settlement went to the Chainlink job that pays it out.`
    const settled = `It was settled${tx ? ` in ${txText(tx.hash)}` : ''}`
    const owed = await owedNow(result.payout, state.params.token)
    // Once withdrawn it no longer waits anywhere; the escrow's books are per address, not per audit.
    if (owed?.length === 0)
      return `${head}\n${settled}. The escrow owes that address nothing more in ${unit.symbol ?? 'this token'} now: it has been withdrawn.`
    return `${head}\n${settled} and paid into the escrow for you.${inAll(owed)}\n${withdrawHow(result.payout, state.params.token)}`
  }

  /**
   * What the escrow credited back to an audit's first funder (funded beyond the payouts) and how
   * to withdraw it, on a line of its own; nothing when it holds no more than it paid out.
   */
  async function excessText(state: AuditState, unit: TokenUnit): Promise<string> {
    const funding = await deps.money?.funding(state).catch(() => undefined)
    const paid = state.settlement?.total
    if (!funding || paid === undefined || funding.funded <= paid) return ''
    return [
      '',
      `The ${formatAmount(funding.funded - paid, unit)} funded beyond its payouts is credited back to the wallet that funded it; withdraw it from the command line:`,
      `  rwa payout withdraw${tokenFlag(state.params.token)}${nodeFlag()} --eth-key <the Ethereum key file that funded it>`,
    ].join('\n')
  }

  /** What the escrow owes `payout` now (the amounts above zero); undefined when the chain does not answer. */
  async function owedNow(payout: string, token: string): Promise<Owed[] | undefined> {
    if (!deps.money) return undefined
    let timer: NodeJS.Timeout | undefined
    // A chain that does not answer would keep a reply waiting for viem's retries (about 40 s).
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), OWED_READ_MS)
    })
    const read = deps.money
      .owed(payout as `0x${string}`, escrowTokenOf(token))
      .then((owed) => owed.filter((o) => o.amount > 0n))
      .catch(() => undefined)
    return Promise.race([read, late]).finally(() => clearTimeout(timer))
  }

  /** " The escrow owes that address … in all." (in the audit's token) for what it owes, else nothing. */
  const inAll = (owed: readonly Owed[] | undefined) =>
    owed?.length
      ? ` The escrow owes that address ${owed.map((o) => formatAmount(o.amount, o.token)).join(' and ')} in all.`
      : ''

  /** " The escrow owes … in all." when the chain answers, else nothing. */
  const owedInAll = async (payout: string, token: string) => inAll(await owedNow(payout, token))

  return {
    nodeFlag,
    txText,
    fundingNotice,
    withdrawHow,
    tokenFlag,
    resultText,
    excessText,
    owedNow,
    inAll,
    owedInAll,
  }
}
