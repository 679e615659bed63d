import type { Command } from 'commander'
import type { Address } from 'viem'
import type { ChainInfo } from '../../../chain/chain-service.ts'
import { NATIVE } from '../../../chain/native.ts'
import { contextOf, type GlobalOptions, printJson, withNodeOptions } from '../../../cli/context.ts'
import { BaseError } from '../../../errors/base.ts'
import { fetchAudit } from './client.ts'

/** The token an audit is paid in, as the escrow names it. */
export function tokenOf(param: string): Address {
  if (param === 'native') return NATIVE
  // viem's isAddress without checksum (strict: false), without loading viem for every command.
  if (!/^0x[0-9a-fA-F]{40}$/.test(param))
    throw new BaseError(
      `"${param}" is not a token; give "native" for ETH or an ERC-20 contract address (0x and 40 hex digits).`,
    )
  return param as Address
}

/** `rwa audit fund` and `rwa payout withdraw`: money on the node's chain, from your own key. */
export function addChainCommands(program: Command, audit: Command): void {
  withNodeOptions(
    audit
      .command('fund')
      .description(
        "fund an audit's escrow from your Ethereum key (--eth-key); you become its sponsor",
      ),
  )
    .argument('<audit>', 'audit name or id')
    .argument('<amount>', "base units of the audit's token")
    .addHelpText(
      'after',
      '\nExample:\n  $ rwa audit fund "Street lights" 1000 --eth-key sponsor.eth',
    )
    .action(async (ref: string, amountText: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      if (!/^\d+$/.test(amountText))
        throw new BaseError(`"${amountText}" is not an amount; give a whole number of base units.`)
      const { privateKeyToAccount } = await import('viem/accounts')
      const { fundAudit } = await import('../../../chain/payments.ts')
      const { auditIdOf } = await import('../../../core/audit/settlement-report.ts')
      const info = await ctx.client.get<ChainInfo>('/chain')
      const state = await fetchAudit(ctx.client, ref)
      const token = tokenOf(state.params.token)
      const tx = await fundAudit({
        info,
        account: privateKeyToAccount(ctx.ethKey()),
        auditId: auditIdOf(state.id),
        token,
        amount: BigInt(amountText),
      })
      if (ctx.json) return printJson({ audit: state.id, amount: amountText, token, tx })
      console.log(
        `Funded "${state.params.name}" with ${amountText} (${token === NATIVE ? 'native ETH' : token}); tx ${tx}.`,
      )
    })

  const payout = program.command('payout').description('your payouts on the chain')
  withNodeOptions(
    payout
      .command('withdraw')
      .description('withdraw everything the escrow owes your Ethereum key (--eth-key)'),
  )
    .option(
      '--token <address>',
      'only this token ("native" for ETH); default: every token the node knows',
    )
    .addHelpText('after', '\nExample:\n  $ rwa payout withdraw --eth-key me.eth')
    .action(async (o: GlobalOptions & { token?: string }) => {
      const ctx = contextOf(o)
      const { privateKeyToAccount } = await import('viem/accounts')
      const { payoutTokens, withdrawAll } = await import('../../../chain/payments.ts')
      const info = await ctx.client.get<ChainInfo>('/chain')
      const tokens = o.token ? [tokenOf(o.token)] : payoutTokens(info)
      const paid = await withdrawAll({ info, account: privateKeyToAccount(ctx.ethKey()), tokens })
      if (ctx.json) return printJson(paid)
      for (const p of paid)
        console.log(
          `Withdrew ${p.amount} ${p.token === NATIVE ? 'wei (ETH)' : `of ${p.token}`}; tx ${p.tx}.`,
        )
    })
}
