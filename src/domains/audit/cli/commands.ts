import { randomBytes } from 'node:crypto'
import type { Command } from 'commander'
import { contextOf, type GlobalOptions, printJson, withNodeOptions } from '../../../cli/context.ts'
import {
  ETH_UNIT,
  formatAmount,
  parseAmount,
  parseTokenRef,
  type TokenUnit,
} from '../../../core/amount.ts'
import { parseAnswer } from '../../../core/audit/answer.ts'
import {
  type AuditOpDraft,
  addItemDraft,
  answerDraft,
  answerTarget,
  commitDraft,
  controlDraft,
  createDraft,
  deleteItemDraft,
  reassignDraft,
  registerDraft,
  revealDrafts,
  setParamDraft,
} from '../../../core/audit/drafts.ts'
import { AuditNameTakenError, InvalidAuditInputError } from '../../../core/audit/errors.ts'
import { nextInspection, outstandingInspections } from '../../../core/audit/queries.ts'
import type { Audit } from '../../../core/audit/reduce.ts'
import { formatRational } from '../../../core/rational.ts'
import type { CliPart } from '../../plugin.ts'
import { addChainCommands } from './chain-commands.ts'
import {
  type AuditWithMoney,
  fetchAudit,
  fetchAuditWithMoney,
  isAuditNamed,
  listAudits,
  tokenUnitOn,
} from './client.ts'
import { addDemoCommand } from './demo.ts'

type Ctx = ReturnType<typeof contextOf>

/** Checks a draft against the audit recomputed here, then signs and submits it. */
async function act(ctx: Ctx, ref: string, { type, body }: AuditOpDraft) {
  const signer = ctx.signer()
  const audit = await fetchAudit(ctx.client, ref)
  audit.check({ author: signer.publicKey, type, body, time: Date.now() })
  const op = await ctx.client.submit(signer, { doc: audit.id, type, body })
  const after = await fetchAudit(ctx.client, audit.id)
  return { op: op.id, audit: audit.id, name: after.params.name, state: after.state }
}

function done(ctx: Ctx, result: { op: string; name: string; state: string }, what: string) {
  if (ctx.json) printJson(result)
  else console.log(`${what}. Audit "${result.name}" is now ${result.state} (op ${result.op}).`)
}

/** What `answerTarget` needs of an audit recomputed here. */
const answering = (audit: Audit) => ({
  params: audit.params,
  state: audit.state,
  next: (key: string) => nextInspection(audit, key),
})

function printState({ audit: state, unit, funding }: AuditWithMoney): void {
  const money = (base: bigint) => formatAmount(base, unit)
  console.log(`${state.params.name} (${state.id})`)
  console.log(`  state: ${state.state} (${state.stateIndex})`)
  console.log(
    `  bond: ${money(state.params.bond)}  k: ${state.params.auditsPerItem}  slashing ratio: ${formatRational(state.params.slashingRatio)}`,
  )
  console.log(`  items: ${state.items.length}  auditors: ${state.auditors.length}`)
  const outstanding = outstandingInspections(state).length
  if (state.state === 'AUDITING') console.log(`  outstanding inspections: ${outstanding}`)
  if (!funding) {
    console.log('  funded: unknown (the node has no chain, or it does not answer)')
    return
  }
  const token = state.params.token === 'native' ? `0x${'0'.repeat(40)}` : state.params.token
  if (funding.escrowToken.toLowerCase() !== token.toLowerCase()) {
    console.log(
      `  funded: ${funding.funded} base units of another token (${funding.escrowToken}) than the audit pays in; no node settles it`,
    )
    return
  }
  const missing = funding.needed - funding.funded
  console.log(
    `  funded: ${money(funding.funded)} of ${money(funding.needed)} needed${missing > 0n ? ` (${money(missing)} to go)` : ''}`,
  )
  if (missing > 0n && state.state === 'WAITING_FOR_CONTRACT')
    console.log(`  waiting for funding: rwa audit fund "${state.params.name}" "${money(missing)}"`)
}

/** The unit of the token `rwa audit create` names: ETH, or what the node reads of the ERC-20. */
async function unitForCreate(ctx: Ctx, token: string, bond: string): Promise<TokenUnit> {
  if (token === 'native') return ETH_UNIT
  // Whole base units need no unit: no question to the node (which may have no chain).
  if (/^\s*\d+\s*$/.test(bond)) return { address: token, symbol: null, decimals: null }
  return tokenUnitOn(ctx.client, token)
}

/** The audit commands of `rwa`: `audit …`, `auditor …`, `payout withdraw` and `demo`. */
export const auditCli: CliPart = {
  register(program) {
    addAuditCommands(program)
    addDemoCommand(program)
  },
}

/** `rwa audit …` and `rwa auditor …`: every audit action, signed here and sent to a node. */
function addAuditCommands(program: Command): void {
  const audit = program
    .command('audit')
    .description('run audits as an admin (ops are signed here with --key and sent to the node)')
  const cmd = (name: string, description: string, example: string) =>
    withNodeOptions(audit.command(name).description(description)).addHelpText(
      'after',
      `\nExample:\n  $ ${example}`,
    )

  cmd('list', 'list the audits the node holds', 'rwa audit list').action(
    async (o: GlobalOptions) => {
      const ctx = contextOf(o)
      const audits = await listAudits(ctx.client)
      if (ctx.json) return printJson(audits)
      if (audits.length === 0)
        return console.log('No audits yet; create one with "rwa audit create".')
      for (const a of audits)
        console.log(`${a.name}  ${a.state}  items ${a.items}  auditors ${a.auditors}  ${a.id}`)
    },
  )

  cmd(
    'create',
    'create an audit; your key becomes its admin',
    'rwa audit create "Street lights" --bond "0.01 ETH"',
  )
    .argument('<name>', 'a unique name, as auditors will type it')
    .requiredOption(
      '--bond <amount>',
      'the reward budget: base units, or a decimal with the token\'s symbol ("0.01 ETH", "1.5 RWAT")',
    )
    .option(
      '--token <address>',
      'the ERC-20 the audit pays in (its contract address), or "native" for ETH',
      'native',
    )
    .option('--audits-per-item <k>', 'distinct auditors per item (odd, ≥ 3)', '3')
    .option('--slashing-ratio <r>', 'misaligned inspections cost this many aligned ones', '1/2')
    .option('--commit-reveal', 'auditors commit first and reveal after stop')
    .action(async (name: string, o: GlobalOptions & Record<string, string | boolean>) => {
      const ctx = contextOf(o)
      const token = parseTokenRef(String(o.token))
      const bond = parseAmount(String(o.bond), await unitForCreate(ctx, token, String(o.bond)))
      const body = {
        name,
        bond: `${bond}`,
        ...(token === 'native' ? {} : { token }),
        auditsPerItem: /^\d+$/.test(String(o.auditsPerItem))
          ? Number(o.auditsPerItem)
          : String(o.auditsPerItem),
        slashingRatio: String(o.slashingRatio),
        ...(o.commitReveal ? { commitReveal: true } : {}),
      }
      const signer = ctx.signer()
      // Checked here before signing: a bad genesis would stay in every node's log for good.
      const draft = createDraft(body, Buffer.from(signer.publicKey).toString('hex'))
      const wanted = draft.params.name
      if (await isAuditNamed(ctx.client, wanted)) throw new AuditNameTakenError(wanted)
      const op = await ctx.client.submit(signer, { doc: null, type: draft.type, body })
      const state = await fetchAudit(ctx.client, op.id)
      done(
        ctx,
        { op: op.id, name: state.params.name, state: state.state },
        `Created audit ${op.id}`,
      )
    })

  cmd(
    'add',
    'add an item (INITIALIZATION only)',
    'rwa audit add "Street lights" street light 12 works',
  )
    .argument('<audit>', 'audit name or id')
    .argument('<description...>', 'what auditors will assess')
    .action(async (ref: string, words: string[], o: GlobalOptions) => {
      const ctx = contextOf(o)
      done(ctx, await act(ctx, ref, addItemDraft(words.join(' '))), 'Item added')
    })

  cmd(
    'del',
    'delete an item by its number in "items" (states 0–2)',
    'rwa audit del "Street lights" 2',
  )
    .argument('<audit>', 'audit name or id')
    .argument('<number>', 'the item number')
    .action(async (ref: string, number: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const audit = await fetchAudit(ctx.client, ref)
      done(ctx, await act(ctx, ref, deleteItemDraft(audit, number)), 'Item deleted')
    })

  cmd('items', 'list the items, numbered', 'rwa audit items "Street lights"')
    .argument('<audit>', 'audit name or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const audit = await fetchAudit(ctx.client, ref)
      if (ctx.json) return printJson(audit.items)
      if (audit.items.length === 0)
        return console.log('No items yet; add one with "rwa audit add".')
      for (const item of audit.items) console.log(`${item.number}. ${item.description}`)
    })

  cmd(
    'set',
    'set a parameter (num_audits_per_item, slashing_ratio, bond, inspection_deadline)',
    'rwa audit set "Street lights" num_audits_per_item 5',
  )
    .argument('<audit>', 'audit name or id')
    .argument('<param>', 'parameter name')
    .argument('<value>', 'new value')
    .action(async (ref: string, name: string, value: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      done(ctx, await act(ctx, ref, setParamDraft(name, value)), `Set ${name}`)
    })

  for (const [word, text] of [
    ['open', 'open registration (INITIALIZATION → AUDITOR_REGISTRATION)'],
    ['close', 'close registration; the roster is frozen'],
    ['start', 'assign auditors to items and start auditing'],
    ['finish', 'count the reveals (commit–reveal audits, after stop)'],
  ] as const) {
    cmd(word, text, `rwa audit ${word} "Street lights"`)
      .argument('<audit>', 'audit name or id')
      .action(async (ref: string, o: GlobalOptions) => {
        const ctx = contextOf(o)
        done(ctx, await act(ctx, ref, controlDraft(word)), `Done: ${word}`)
      })
  }
  cmd(
    'stop',
    'stop auditing and compute results (refused while inspections are outstanding)',
    'rwa audit stop "Street lights" --force',
  )
    .argument('<audit>', 'audit name or id')
    .option('--force', 'count outstanding inspections as missing')
    .action(async (ref: string, o: GlobalOptions & { force?: boolean }) => {
      const ctx = contextOf(o)
      done(ctx, await act(ctx, ref, controlDraft('stop', o.force === true)), 'Stopped')
    })

  cmd('state', "show an audit's state", 'rwa audit state "Street lights"')
    .argument('<audit>', 'audit name or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const found = await fetchAuditWithMoney(ctx.client, ref)
      if (ctx.json)
        return printJson({
          ...found.audit,
          check: undefined,
          token: found.unit,
          funding: found.funding,
        })
      printState(found)
    })

  cmd(
    'reassign',
    'give a missed inspection to a backup auditor (after its deadline); the no-show counts as missing',
    'rwa audit reassign "Street lights" 2 5f3a9c01',
  )
    .argument('<audit>', 'audit name or id')
    .argument('<item>', 'the item number (or id)')
    .argument(
      '<auditor>',
      'the no-show\'s key, or its first 8+ hex digits as "outstanding" shows them',
    )
    .action(async (ref: string, item: string, who: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const audit = await fetchAudit(ctx.client, ref)
      const prefix = who.replace(/…$/, '').toLowerCase()
      const keys = audit.auditors.map((a) => a.key).filter((key) => key.startsWith(prefix))
      if (prefix.length < 8 || keys.length !== 1)
        throw new InvalidAuditInputError(
          keys.length > 1
            ? `"${who}" starts ${keys.length} auditors' keys; give more of it.`
            : `"${who}" is not the key (or its first 8+ hex digits) of an auditor of "${audit.params.name}"; see "rwa audit outstanding".`,
        )
      done(ctx, await act(ctx, ref, reassignDraft(audit, item, keys[0]!)), 'Reassigned')
    })

  cmd('outstanding', 'inspections not answered yet', 'rwa audit outstanding "Street lights"')
    .argument('<audit>', 'audit name or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const audit = await fetchAudit(ctx.client, ref)
      const list = outstandingInspections(audit).map((i) => {
        const item = audit.items.find((it) => it.id === i.item)
        return { ...i, number: item?.number, description: item?.description }
      })
      if (ctx.json) return printJson(list)
      if (list.length === 0) return console.log('No outstanding inspections.')
      for (const i of list)
        console.log(`${i.number}. ${i.description}: auditor ${i.auditor.slice(0, 16)}…`)
    })

  cmd('results', 'item and auditor results (after stop)', 'rwa audit results "Street lights"')
    .argument('<audit>', 'audit name or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const { audit, unit } = await fetchAuditWithMoney(ctx.client, ref)
      const money = (base: bigint) => formatAmount(base, unit)
      if (ctx.json)
        return printJson({ state: audit.state, token: unit, results: audit.results ?? null })
      if (!audit.results) return console.log(`No results yet: the audit is ${audit.state}.`)
      for (const item of audit.results.items)
        console.log(
          `${audit.items[item.item]?.description}: ${item.result ? 'yes' : 'no'} (${item.yes} yes, ${item.no} no, ${item.missing} missing)`,
        )
      for (const a of audit.results.auditors)
        console.log(
          `${a.payout}: aligned ${a.aligned}, misaligned ${a.misaligned}, missing ${a.missing}, paid ${money(a.paid)}`,
        )
      console.log(
        `remainder of the bond, back to the sponsor: ${money(audit.results.remainder)} (plus whatever was funded above the bond; the escrow refunds funding minus payouts)`,
      )
    })

  cmd(
    'settlement',
    'payout addresses and amounts (WAITING_FOR_CONTRACT onwards)',
    'rwa audit settlement "Street lights"',
  )
    .argument('<audit>', 'audit name or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const { audit, unit } = await fetchAuditWithMoney(ctx.client, ref)
      const money = (base: bigint) => formatAmount(base, unit)
      const s = audit.settlement
      // The payouts are recomputed here from the ops; the node tells which transaction paid
      // them, with its explorer link ([chain] explorer_url).
      const { transaction } = await ctx.client.get<{ transaction: SettlementTransaction | null }>(
        `/audits/${encodeURIComponent(audit.id)}/settlement`,
      )
      if (ctx.json)
        return printJson({ state: audit.state, token: unit, settlement: s ?? null, transaction })
      if (!s) return console.log(`No settlement yet: the audit is ${audit.state}.`)
      for (const [i, payee] of s.payees.entries()) console.log(`${payee}  ${money(s.amounts[i]!)}`)
      console.log(`total ${money(s.total)}, remainder ${money(s.remainder)}`)
      console.log(settlementLine(audit.state, transaction))
    })

  addAuditorCommands(program)
  addChainCommands(program, audit)
}

/** The transaction that paid a settlement, as `GET /audits/:audit/settlement` names it. */
type SettlementTransaction = { hash: string; chainId?: number; url: string | null }

/** Where a settlement stands on chain: paid in a transaction (with its link), or not yet. */
function settlementLine(state: string, tx: SettlementTransaction | null): string {
  if (tx) {
    const chain = tx.chainId === undefined ? '' : ` on chain ${tx.chainId}`
    return `paid in transaction ${tx.hash}${chain}${tx.url ? `  ${tx.url}` : ''}`
  }
  return state === 'COMPLETE'
    ? 'handed over through the Chainlink data_dump route (no transaction recorded)'
    : 'not paid yet: the node settles once the escrow is funded ("rwa audit fund") and enough nodes have signed'
}

function addAuditorCommands(program: Command): void {
  const auditor = program
    .command('auditor')
    .description('take part in audits as an auditor (signed here with --key)')
  const cmd = (name: string, description: string, example: string) =>
    withNodeOptions(auditor.command(name).description(description)).addHelpText(
      'after',
      `\nExample:\n  $ ${example}`,
    )

  cmd(
    'register',
    'register for an audit; --eth-key proves your payout address',
    'rwa auditor register "Street lights" --key me.key --eth-key me.eth',
  )
    .argument('<audit>', 'audit name or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      // Your own signing key with the operator's payout key would pay the operator: surely a slip.
      if (o.key && !o.ethKey)
        throw new InvalidAuditInputError(
          'With --key, give --eth-key too (the Ethereum key whose address is paid; make one with "rwa key new-eth me.eth"); without it the payout would go to the node operator.',
        )
      const { privateKeyToAccount } = await import('viem/accounts')
      const { identityMessage } = await import('../../../core/identity.ts')
      const account = privateKeyToAccount(ctx.ethKey())
      const proof = await account.signMessage({ message: identityMessage(ctx.signer().publicKey) })
      const result = await act(ctx, ref, registerDraft(account.address, proof))
      done(ctx, result, `Registered with payout address ${account.address}`)
    })

  cmd('next', 'your current inspection', 'rwa auditor next "Street lights" --key me.key')
    .argument('<audit>', 'audit name or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const audit = await fetchAudit(ctx.client, ref)
      const next = nextInspection(audit, Buffer.from(ctx.signer().publicKey).toString('hex'))
      if (ctx.json) return printJson(next ?? null)
      if (!next) return console.log(`You have no open inspection (the audit is ${audit.state}).`)
      console.log(
        `${next.description}\nAnswer with: rwa auditor answer "${audit.params.name}" yes|no${o.key ? ` --key ${o.key}` : ''}`,
      )
    })

  cmd(
    'answer',
    'answer your current inspection: yes true 1 y t / no false 0 n f',
    'rwa auditor answer "Street lights" yes --key me.key',
  )
    .argument('<audit>', 'audit name or id')
    .argument('<answer>', 'yes or no')
    .action(async (ref: string, text: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const answer = parseAnswer(text)
      const audit = await fetchAudit(ctx.client, ref)
      const key = Buffer.from(ctx.signer().publicKey).toString('hex')
      const item = answerTarget(answering(audit), key)
      if (audit.params.commitReveal)
        throw new InvalidAuditInputError(
          `Audit "${audit.params.name}" uses commit–reveal; use "rwa auditor commit" and later "rwa auditor reveal".`,
        )
      const { description } = nextInspection(audit, key)!
      done(
        ctx,
        await act(ctx, ref, answerDraft(item, answer)),
        `Answered "${description}": ${answer ? 'yes' : 'no'}`,
      )
    })

  cmd(
    'commit',
    'commit to an answer of your current inspection (commit–reveal audits); the salt is kept in the data dir',
    'rwa auditor commit "Street lights" yes --key me.key',
  )
    .argument('<audit>', 'audit name or id')
    .argument('<answer>', 'yes or no')
    .action(async (ref: string, text: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const answer = parseAnswer(text)
      const signer = ctx.signer()
      const key = Buffer.from(signer.publicKey).toString('hex')
      const audit = await fetchAudit(ctx.client, ref)
      const item = answerTarget(answering(audit), key)
      const { description } = nextInspection(audit, key)!
      const draft = commitDraft({
        audit: audit.id,
        item,
        auditor: signer.publicKey,
        answer,
        salt: new Uint8Array(randomBytes(32)),
      })
      const salts = ctx.salts()
      // Kept before the commitment is sent: without it the answer could never be revealed.
      salts.set(draft.slot, draft.secret)
      try {
        done(
          ctx,
          await act(ctx, ref, draft),
          `Committed to an answer for "${description}"; reveal it after stop with "rwa auditor reveal"`,
        )
      } catch (error) {
        salts.delete(draft.slot)
        throw error
      }
    })

  cmd(
    'reveal',
    'reveal every answer you committed to in an audit (after stop)',
    'rwa auditor reveal "Street lights" --key me.key',
  )
    .argument('<audit>', 'audit name or id')
    .action(async (ref: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const key = Buffer.from(ctx.signer().publicKey).toString('hex')
      const audit = await fetchAudit(ctx.client, ref)
      const salts = ctx.salts()
      const reveals = revealDrafts(salts, audit.id, key)
      if (reveals.length === 0)
        throw new InvalidAuditInputError(
          `You have no commitment to reveal in audit "${audit.params.name}" (salts are kept in this data dir).`,
        )
      const results = []
      for (const draft of reveals) {
        results.push(await act(ctx, audit.id, draft))
        salts.delete(draft.slot)
      }
      if (ctx.json) return printJson(results)
      console.log(
        `Revealed ${results.length} answer(s). Audit "${audit.params.name}" is now ${results.at(-1)!.state}.`,
      )
    })
}
