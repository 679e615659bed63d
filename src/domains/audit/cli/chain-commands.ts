import type { Command } from 'commander'
import type { ChainInfo } from '../../../chain/chain-service.ts'
import { NATIVE } from '../../../chain/native.ts'
import { contextOf, type GlobalOptions, printJson, withNodeOptions } from '../../../cli/context.ts'
import {
  formatAmount,
  parseAmount,
  parseTokenRef,
  type TokenUnit,
  toTokenUnit,
} from '../../../core/amount.ts'
import { BaseError } from '../../../errors/base.ts'
import { fetchAuditWithMoney, tokenUnitOn } from './client.ts'

/** The token an audit is paid in, as the escrow names it (address(0) for native ETH). */
export function tokenOf(param: string): `0x${string}` {
  const token = parseTokenRef(param)
  return (token === 'native' ? NATIVE : token) as `0x${string}`
}

/** `rwa audit fund`, `rwa payout owed` and `rwa payout withdraw`: money on the node's chain. */
export function addChainCommands(program: Command, audit: Command): void {
  addFundCommand(audit)
  const payout = program.command('payout').description('your payouts on the chain')
  addOwedCommand(payout)
  addWithdrawCommand(payout)
}

function addFundCommand(audit: Command): void {
  withNodeOptions(
    audit
      .command('fund')
      .description(
        "fund an audit's escrow from your Ethereum key (--eth-key); you become its sponsor",
      ),
  )
    .argument('<audit>', 'audit name or id')
    .argument(
      '<amount>',
      'base units of the audit\'s token, or a decimal with its symbol ("0.5 ETH", "1.5 RWAT")',
    )
    .option(
      '--token <address>',
      'the token you mean to pay in; refused unless the audit pays in it',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  $ rwa audit fund "Street lights" 1000 --eth-key sponsor.eth\n  $ rwa audit fund "Street lights" "0.01 ETH"',
    )
    .action(async (ref: string, amountText: string, o: GlobalOptions & { token?: string }) => {
      const ctx = contextOf(o)
      const { auditIdOf } = await import('../../../core/audit/settlement-report.ts')
      const info = await ctx.client.get<ChainInfo>('/chain')
      const { audit: state, unit } = await fetchAuditWithMoney(ctx.client, ref)
      const token = tokenOf(state.params.token)
      if (o.token !== undefined && tokenOf(o.token).toLowerCase() !== token.toLowerCase())
        throw new BaseError(
          `Audit "${state.params.name}" pays in ${describeToken(unit)}, not in ${o.token}; fund it in its own token (the escrow refuses another).`,
        )
      const amount = parseAmount(amountText, unit)
      const { privateKeyToAccount } = await import('viem/accounts')
      const { fundAudit } = await import('../../../chain/payments.ts')
      const tx = await fundAudit({
        info,
        account: privateKeyToAccount(ctx.ethKey()),
        auditId: auditIdOf(state.id),
        token,
        amount,
      })
      if (ctx.json) return printJson({ audit: state.id, amount, token: unit, tx })
      console.log(`Funded "${state.params.name}" with ${formatAmount(amount, unit)}; tx ${tx}.`)
    })
}

function addOwedCommand(payout: Command): void {
  withNodeOptions(
    payout
      .command('owed')
      .description(
        'what the escrow owes an address, per token, before you withdraw (default: your --eth-key)',
      ),
  )
    .argument('[address]', 'the payout address (default: the address of --eth-key)')
    .option(
      '--token <address>',
      'only this token ("native" for ETH); default: every token the node knows',
    )
    .addHelpText('after', '\nExample:\n  $ rwa payout owed --eth-key me.eth')
    .action(async (given: string | undefined, o: GlobalOptions & { token?: string }) => {
      const ctx = contextOf(o)
      const address = given ?? (await ethAddressOf(ctx.ethKey()))
      if (!/^0x[0-9a-fA-F]{40}$/.test(address))
        throw new BaseError(
          `"${address.slice(0, 60)}" is not an Ethereum address; give 0x and 40 hex digits, or leave it out for your --eth-key's.`,
        )
      const query = o.token ? `?token=${tokenOf(o.token)}` : ''
      const answer = await ctx.client.get<{
        address: string
        owed: { token: TokenUnit; amount: string }[]
      }>(`/payouts/${address}${query}`)
      if (ctx.json) return printJson(answer)
      const owed = answer.owed.filter((o) => /^\d+$/.test(o.amount) && BigInt(o.amount) > 0n)
      if (owed.length === 0)
        return console.log(`Nothing is owed to ${address} by the escrow (in any token it knows).`)
      console.log(`The escrow owes ${address}:`)
      for (const o of owed) console.log(`  ${formatAmount(BigInt(o.amount), safeUnit(o.token))}`)
      console.log('Withdraw it with "rwa payout withdraw" (with the --eth-key of that address).')
    })
}

function addWithdrawCommand(payout: Command): void {
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
      const only = o.token ? tokenOf(o.token) : undefined
      const info = await ctx.client.get<ChainInfo>('/chain')
      const { privateKeyToAccount } = await import('viem/accounts')
      const { payoutTokens, withdrawAll } = await import('../../../chain/payments.ts')
      const tokens = only ? [only] : payoutTokens(info)
      const paid = await withdrawAll({ info, account: privateKeyToAccount(ctx.ethKey()), tokens })
      const units = await Promise.all(
        paid.map((p) => tokenUnitOn(ctx.client, p.token === NATIVE ? 'native' : p.token)),
      )
      if (ctx.json) return printJson(paid.map((p, i) => ({ ...p, unit: units[i] })))
      for (const [i, p] of paid.entries())
        console.log(`Withdrew ${formatAmount(p.amount, units[i]!)}; tx ${p.tx}.`)
    })
}

async function ethAddressOf(key: `0x${string}`): Promise<string> {
  const { privateKeyToAccount } = await import('viem/accounts')
  return privateKeyToAccount(key).address
}

/** A unit the node reported, re-checked: a hostile node's symbol is shown only if well formed. */
function safeUnit(unit: Partial<TokenUnit> | undefined): TokenUnit {
  const address = typeof unit?.address === 'string' ? unit.address.slice(0, 42) : 'unknown'
  return toTokenUnit(address, unit?.symbol, unit?.decimals)
}

/** How a token is named in a sentence. */
export function describeToken(unit: TokenUnit): string {
  return unit.symbol ? `${unit.symbol} (${unit.address})` : `the token ${unit.address}`
}
