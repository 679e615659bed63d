import type { Command } from 'commander'
import type { Address, Hex } from 'viem'
import type { PrivateKeyAccount } from 'viem/accounts'
import type { ChainInfo } from '../../../chain/chain-service.ts'
import { NATIVE } from '../../../chain/native.ts'
import type { NodeClient } from '../../../cli/client.ts'
import { contextOf, type GlobalOptions, printJson, withNodeOptions } from '../../../cli/context.ts'
import { chainOf, demoNode, progress } from '../../../cli/demo-kit.ts'
import {
  formatAmount,
  InvalidAmountError,
  parseAmount,
  type TokenUnit,
} from '../../../core/amount.ts'
import {
  type AuditOpDraft,
  addItemDraft,
  answerDraft,
  controlDraft,
  createDraft,
  registerDraft,
} from '../../../core/audit/drafts.ts'
import { BaseError } from '../../../errors/base.ts'
import type { OpId } from '../../../ledger/op-id.ts'
import { generateSigner } from '../../../store/key-file.ts'
import { fetchAudit, tokenUnitOn } from './client.ts'

type DemoOptions = GlobalOptions & {
  items: string
  auditors: string
  dishonest: string
  bond: string
  k: string
}

const count = (text: string, what: string, min: number, max: number) => {
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > max)
    throw new BaseError(`--${what} must be a whole number from ${min} to ${max}; got "${text}".`)
  return n
}

/** `rwa demo`: a whole audit with simulated auditors against a node, in seconds. */
export function addDemoCommand(program: Command): void {
  withNodeOptions(
    program
      .command('demo')
      .description(
        'run a whole audit with simulated auditors (each with its own keys) against a node',
      ),
  )
    .option('--items <n>', 'items to audit', '10')
    .option('--auditors <m>', 'simulated auditors', '7')
    .option('--dishonest <percent>', 'percent of auditors answering at random', '0')
    .option(
      '--bond <amount>',
      'reward budget: base units, or a decimal with the token\'s symbol ("2 RWAT")',
      '1000000',
    )
    .option('--k <k>', 'auditors per item (odd, ≥ 3)', '3')
    .addHelpText('after', '\nExample:\n  $ rwa demo --items 20 --auditors 9 --dishonest 20')
    .action(async (o: DemoOptions) => {
      const items = count(o.items, 'items', 1, 10_000)
      const auditors = count(o.auditors, 'auditors', 1, 1000)
      const dishonest = count(o.dishonest, 'dishonest', 0, 100)
      const k = count(o.k, 'k', 3, 99)
      // Checked before anything is funded or signed: a demo that cannot finish must not start.
      if (k % 2 === 0)
        throw new BaseError(`--k ${k} is even; use an odd number of auditors per item (3, 5, 7…).`)
      if (auditors < k)
        throw new BaseError(
          `--auditors ${auditors} is fewer than --k ${k}: each item needs ${k} distinct auditors; give at least ${k}.`,
        )
      // Whole base units are checked here; a decimal with a unit once the token is known.
      if (/^\s*\d+\s*$/.test(o.bond) && BigInt(o.bond) === 0n)
        throw new BaseError(
          `--bond "${o.bond}" is nothing; give a positive amount, e.g. 1000000 (base units) or "1 ETH".`,
        )
      const ctx = contextOf(o)
      const { client, started } = await demoNode(ctx, o)
      try {
        const result = await runDemo(client, ctx.signer(), ctx.ethKey, {
          items,
          auditors,
          dishonest,
          k,
          bond: o.bond,
          quiet: ctx.json,
        })
        if (ctx.json) printJson(result)
        else printDemo(result)
      } finally {
        await started?.stop()
      }
    })
}

type ChainResult = {
  chainId: number
  escrow: string
  token: string
  settled: boolean
  withdrawals: { address: string; amount: string; balance: string }[]
  sponsor: { address: string; refund: string; balanceBefore: string; balanceAfter: string }
}

type DemoResult = {
  chain: ChainResult | null
  audit: string
  name: string
  state: string
  items: { description: string; result: boolean | null; truth: boolean }[]
  payouts: { address: string; amount: string }[]
  remainder: string
  bond: string
  /** The unit of every amount above (base units in JSON). */
  token: TokenUnit
}

async function runDemo(
  client: NodeClient,
  admin: ReturnType<typeof generateSigner>,
  sponsorKey: () => Hex,
  o: {
    items: number
    auditors: number
    dishonest: number
    k: number
    bond: string
    quiet: boolean
  },
): Promise<DemoResult> {
  const { generatePrivateKey, privateKeyToAccount } = await import('viem/accounts')
  const { balanceOf, fundAudit } = await import('../../../chain/payments.ts')
  const { auditIdOf } = await import('../../../core/audit/settlement-report.ts')
  const { identityMessage } = await import('../../../core/identity.ts')
  const name = `demo ${new Date().toISOString()}`
  const info = await chainOf(client)
  const token = info?.token ?? NATIVE
  const unit = await tokenUnitOn(client, token === NATIVE ? 'native' : token)
  const bond = parseBond(o.bond, unit)
  if (bond === 0n)
    throw new BaseError(
      `--bond "${o.bond}" is nothing; give a positive amount of ${formatAmount(1n, unit).replace(/^1 /, '')}.`,
    )
  const create = createDraft(
    { name, bond: `${bond}`, auditsPerItem: o.k, token: token === NATIVE ? 'native' : token },
    Buffer.from(admin.publicKey).toString('hex'),
  )
  const genesis = await client.submit(admin, { doc: null, type: create.type, body: create.body })
  const doc = genesis.id
  const sponsor = info ? privateKeyToAccount(sponsorKey()) : undefined
  const sponsorBefore = info && sponsor ? await balanceOf(info, sponsor.address, token) : 0n
  if (info && sponsor) {
    if (!o.quiet)
      console.error(`funding the escrow with ${formatAmount(bond, unit)} from ${sponsor.address}`)
    await fundAudit({ info, account: sponsor, auditId: auditIdOf(doc), token, amount: bond })
  }
  const submit = (signer: typeof admin, { type, body }: AuditOpDraft) =>
    client.submit(signer, { doc, type, body })
  const truth: boolean[] = []
  const adding = progress('adding items', o.items, o.quiet)
  for (let i = 0; i < o.items; i++) {
    truth.push(Math.random() < 0.5)
    await submit(admin, addItemDraft(`street light ${i + 1} works`))
    adding.tick()
  }
  await submit(admin, controlDraft('open'))
  const people = Array.from({ length: o.auditors }, (_, i) => ({
    signer: generateSigner(),
    account: privateKeyToAccount(generatePrivateKey()),
    dishonest: i < Math.round((o.auditors * o.dishonest) / 100),
  }))
  const registering = progress('registering auditors', people.length, o.quiet)
  for (const p of people) {
    const proof = await p.account.signMessage({ message: identityMessage(p.signer.publicKey) })
    await submit(p.signer, registerDraft(p.account.address, proof))
    registering.tick()
  }
  await submit(admin, controlDraft('close'))
  await submit(admin, controlDraft('start'))
  const assigned = await fetchAudit(client, doc)
  if (assigned.state !== 'AUDITING') {
    const refused = assigned.rejected.at(-1)
    throw new BaseError(
      refused ? refused.message : `The audit did not start (it is ${assigned.state}).`,
    )
  }
  const numberOf = new Map(assigned.items.map((item, i) => [item.id, i]))
  const byKey = new Map(people.map((p) => [Buffer.from(p.signer.publicKey).toString('hex'), p]))
  const answering = progress('answering', assigned.inspections.length, o.quiet)
  for (const inspection of assigned.inspections) {
    const p = byKey.get(inspection.auditor)!
    const honest = truth[numberOf.get(inspection.item)!]!
    const answer = p.dishonest ? Math.random() < 0.5 : honest
    await submit(p.signer, answerDraft(inspection.item, answer))
    answering.tick()
  }
  await submit(admin, controlDraft('stop'))
  const chain =
    info && sponsor
      ? await settleAndWithdraw(client, doc, info, token, sponsor, sponsorBefore, people, o.quiet)
      : null
  const final = await fetchAudit(client, doc)
  const s = final.settlement
  return {
    chain,
    audit: doc,
    name,
    state: final.state,
    items: final.items.map((item, i) => ({
      description: item.description,
      result: final.results?.items[i]?.result ?? null,
      truth: truth[i]!,
    })),
    payouts: s ? s.payees.map((address, i) => ({ address, amount: `${s.amounts[i]}` })) : [],
    remainder: `${final.results?.remainder ?? bond}`,
    bond: `${bond}`,
    token: unit,
  }
}

/** `--bond` in the demo's token; its errors name the option. */
function parseBond(text: string, unit: TokenUnit): bigint {
  try {
    return parseAmount(text, unit)
  } catch (error) {
    if (error instanceof InvalidAmountError)
      throw new BaseError(`--bond ${error.shortMessage}`, { cause: error })
    throw error
  }
}

/** Waits for the node to settle on chain, then every payee and the sponsor withdraw with their own keys. */
async function settleAndWithdraw(
  client: NodeClient,
  doc: OpId,
  info: ChainInfo,
  token: Address,
  sponsor: PrivateKeyAccount,
  sponsorBefore: bigint,
  people: { account: PrivateKeyAccount }[],
  quiet: boolean,
): Promise<ChainResult> {
  if (!quiet) console.error('waiting for the node to settle on chain')
  let state = ''
  for (let i = 0; i < 300 && state !== 'COMPLETE'; i++) {
    state = (await client.get<{ state: string }>(`/audits/${doc}`)).state
    if (state !== 'COMPLETE') await new Promise((r) => setTimeout(r, 100))
  }
  if (state !== 'COMPLETE')
    throw new BaseError(
      `The node did not settle the audit within 30 s (it is ${state}); see the node's log.`,
    )
  const { balanceOf, chainClients, owedTo, withdrawAll } = await import(
    '../../../chain/payments.ts'
  )
  const { client: evm, wallet } = chainClients(info, sponsor)
  const withdrawing = progress('withdrawing payouts', people.length, quiet)
  const withdrawals: ChainResult['withdrawals'] = []
  for (const person of people) {
    if ((await owedTo(info, person.account.address, token)) > 0n) {
      // Each auditor pays its own gas: the sponsor sends it a little ETH first.
      const gas = await wallet.sendTransaction({ to: person.account.address, value: 10n ** 16n })
      await evm.waitForTransactionReceipt({ hash: gas })
      const [paid] = await withdrawAll({ info, account: person.account, tokens: [token] })
      withdrawals.push({
        address: person.account.address,
        amount: `${paid!.amount}`,
        balance: `${await balanceOf(info, person.account.address, token)}`,
      })
    }
    withdrawing.tick()
  }
  const refund = await owedTo(info, sponsor.address, token)
  if (refund > 0n) await withdrawAll({ info, account: sponsor, tokens: [token] })
  return {
    chainId: info.chainId,
    escrow: info.escrow,
    token,
    settled: true,
    withdrawals,
    sponsor: {
      address: sponsor.address,
      refund: `${refund}`,
      balanceBefore: `${sponsorBefore}`,
      balanceAfter: `${await balanceOf(info, sponsor.address, token)}`,
    },
  }
}

function printDemo(r: DemoResult): void {
  const money = (base: string) => formatAmount(BigInt(base), r.token)
  console.log(`\nAudit "${r.name}" (${r.audit}) is ${r.state}.\n`)
  console.log('item'.padEnd(28), 'result', ' truth')
  for (const item of r.items)
    console.log(
      item.description.padEnd(28),
      (item.result ? 'yes' : 'no').padEnd(6),
      item.truth ? ' yes' : ' no',
    )
  console.log(`\n${'payout address'.padEnd(44)} amount`)
  for (const p of r.payouts) console.log(p.address.padEnd(44), money(p.amount))
  console.log(
    `${'remainder to the payer'.padEnd(44)} ${money(r.remainder)}  (bond ${money(r.bond)})`,
  )
  if (r.chain) {
    console.log(
      `\nSettled on chain ${r.chain.chainId} by the escrow ${r.chain.escrow}; each auditor withdrew:`,
    )
    for (const w of r.chain.withdrawals)
      console.log(w.address.padEnd(44), money(w.amount), ` (balance now ${money(w.balance)})`)
    console.log(`${'sponsor refund'.padEnd(44)} ${money(r.chain.sponsor.refund)}`)
  }
}
