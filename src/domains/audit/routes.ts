import type { Context } from 'hono'
import { z } from 'zod'
import type { ChainInfo } from '../../chain/chain-service.ts'
import { payoutTokens, withdrawAll } from '../../chain/payments.ts'
import { parseAmount, parseTokenRef, type TokenUnit } from '../../core/amount.ts'
import { addItemBody, createAuditBody, setParamBody, stopBody } from '../../core/audit/ops.ts'
import { formatParams } from '../../core/audit/params.ts'
import { answersByItem, auditorSummary, outstandingInspections } from '../../core/audit/queries.ts'
import type { AuditState } from '../../core/audit/state.ts'
import { describeValue } from '../../core/text.ts'
import { validate } from '../../http/body.ts'
import { NotFoundError, ValidationError } from '../../http/errors.ts'
import { DEFAULT_PAGE_SIZE, listPageQuery } from '../../http/page.ts'
import {
  createRouteGroup,
  type RouteGroup,
  type RouteGroupBuilder,
} from '../../http/route-group.ts'
import { opIdWire, txWire } from '../../http/wire.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { Accounts } from '../../node/accounts.ts'
import { explorerAt } from '../../web/explorer.ts'
import type { AuditActions } from './actions.ts'
import type { AuditIndex } from './audit-index.ts'
import type { AuditMoney, Funding } from './funding.ts'
import {
  auditMoneySchema,
  fundAnswerSchema,
  owedAnswerSchema,
  tokenUnitSchema,
} from './money-schemas.ts'
import { settledTransaction } from './settled-tx.ts'
import {
  actionResultWire,
  auditItemWire,
  auditorResultWire,
  auditorWire,
  auditResultsWire,
  auditStateWire,
  auditSummaryWire,
  auditViewWire,
  inspectionWire,
  settlementWire,
  withdrawalWire,
} from './wire.ts'

const reassignSchema = z
  .object({
    item: z.union([z.string().min(1), z.number().int().positive()], {
      error: 'an item number or id',
    }),
    auditor: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "the auditor's Ed25519 key (64 lowercase hex digits)"),
  })
  .strict()
const registerSchema = z
  .object({ payout: z.string().optional(), proof: z.string().optional() })
  .strict()
const answerSchema = z
  .object({
    answer: z.union([z.boolean(), z.string()], { error: 'yes or no (or true or false)' }),
    item: z
      .string()
      .min(1, 'an item number or id; leave "item" out to answer your next inspection')
      .optional(),
  })
  .strict()
const fundSchema = z
  .object({
    amount: z
      .string({
        error: 'an amount as a string: base units ("900") or a decimal with the unit ("1.5 RWAT")',
      })
      .min(1)
      .max(120),
  })
  .strict()
const ethAddress = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'an Ethereum address (0x and 40 hex digits)')
const owedQuery = z.object({
  token: ethAddress
    .describe('only this token (address(0) for native ETH); default: every token the node knows')
    .optional(),
})

/** `POST /audits`: the genesis body, with a bond that may carry the token's unit. */
const createWithUnitBody = createAuditBody.extend({
  // A string, as every amount in the API: a JSON number loses digits past 2^53.
  bond: z
    .string({
      error:
        'an amount as a string: base units ("1000") or a decimal with the token\'s symbol ("0.01 ETH"), not a JSON number',
    })
    .min(1)
    .max(120),
})

/** The genesis body with its bond in base units, read in the unit of the audit's token. */
async function withBaseUnits(
  body: z.infer<typeof createWithUnitBody>,
  money: AuditMoney,
): Promise<z.infer<typeof createAuditBody>> {
  // The token as the params take it ("ETH" and address(0) are "native").
  const token = parseTokenRef(body.token ?? 'native')
  const withToken = body.token === undefined ? body : { ...body, token }
  if (/^\d+$/.test(body.bond)) return withToken
  return { ...withToken, bond: `${parseAmount(body.bond, await money.unitOf(token))}` }
}

/** What an action may be refused with: not allowed, not in this state, a value not valid. */
const ADMIN_ERRORS = [403, 409, 422] as const

/** What the audit routes need from the node. */
export type AuditRoutesContext = {
  readonly audits: AuditIndex
  readonly actions: AuditActions
  readonly accounts: Accounts
  readonly bodyLimit: number
  /** Units, funding and what the escrow owes, on the node's chain. */
  readonly money: AuditMoney
  /** Where this node settles, if it has a chain. */
  chain(): ChainInfo | undefined
  /** The ledger, to read the transaction a settlement was paid in. */
  readonly ledger: Ledger
  /** `[chain] explorer_url`: settlement transactions link to `<url>/tx/<hash>`. */
  readonly explorerUrl?: string | undefined
}

/** The audit routes under `/audits`, signed by the node for the account of the bearer token. */
export function auditRoutes(ctx: AuditRoutesContext): RouteGroup {
  const { audits, actions } = ctx
  const group = createRouteGroup({
    prefix: '/audits',
    accounts: ctx.accounts,
    bodyLimit: ctx.bodyLimit,
  })
  const auditOf = (c: Context) => audits.resolve(c.req.param('audit') ?? '')
  const stateOf = async (c: Context) => audits.state(auditOf(c))
  const { route } = group

  route(
    {
      method: 'get',
      path: '/',
      summary:
        'The audits this node holds, by name, a page at a time: ?limit= (default 100, at most 1000) and ?after=<the next of the page before>; next is null on the last page.',
      tag: 'audits',
      query: listPageQuery,
      response: z.object({
        audits: z.array(auditSummaryWire),
        next: opIdWire.nullable().describe('The `after` of the next page; null on the last.'),
      }),
    },
    (c) => {
      const { limit = DEFAULT_PAGE_SIZE, after } = validate(listPageQuery, c.req.query(), 'query')
      if (after !== undefined && !audits.has(after))
        throw new ValidationError(
          `In the request query, "after": "${after}" is no audit of this node; give the "next" of the page before, or leave it out for the first page.`,
        )
      const { items, next } = audits.page(after, limit)
      return { audits: items, next }
    },
  )
  route(
    {
      method: 'post',
      path: '/',
      summary:
        'Create an audit; the account becomes its admin. bond: base units, or a decimal with the token\'s symbol ("0.01 ETH").',
      tag: 'admin',
      auth: true,
      body: createWithUnitBody,
      response: z.object({ audit: opIdWire, op: opIdWire, state: auditStateWire }),
      errors: [409, 422],
    },
    async (c, account) => {
      const body = await group.body(c, createWithUnitBody)
      const op = await actions.create(account, await withBaseUnits(body, ctx.money))
      return { audit: op.id, op: op.id, state: (await audits.state(op.id)).state }
    },
  )
  route(
    {
      method: 'get',
      path: '/:audit',
      summary:
        "An audit: state, params, items, outstanding, results, settlement; amounts in base units, with the token's unit, and the escrow's funding against what settling needs.",
      tag: 'audits',
      response: auditViewWire.extend(auditMoneySchema.shape),
      errors: [409],
    },
    async (c) => moneyView(ctx.money, await stateOf(c)),
  )
  route(
    {
      method: 'get',
      path: '/:audit/items',
      summary: 'The items, numbered as "del" takes them.',
      tag: 'audits',
      response: z.object({ items: z.array(auditItemWire) }),
      errors: [409],
    },
    async (c) => ({ items: (await stateOf(c)).items }),
  )
  addAdminRoutes(group, ctx, auditOf)
  addFundRoute(group, ctx, stateOf)
  addReadRoutes(group, ctx, stateOf)
  addAuditorRoutes(group, ctx, auditOf)
  return group
}

function addAdminRoutes(
  group: RouteGroupBuilder,
  { actions }: AuditRoutesContext,
  auditOf: (c: Context) => string,
): void {
  const { route } = group
  route(
    {
      method: 'post',
      path: '/:audit/items',
      summary: 'Add an item (INITIALIZATION only).',
      tag: 'admin',
      auth: true,
      body: addItemBody,
      response: actionResultWire,
      errors: ADMIN_ERRORS,
    },
    async (c, account) =>
      actions.addItem(account, auditOf(c), (await group.body(c, addItemBody)).description),
  )
  route(
    {
      method: 'delete',
      path: '/:audit/items/:number',
      summary: 'Delete an item by its number (states 0–2).',
      tag: 'admin',
      auth: true,
      response: actionResultWire,
      errors: ADMIN_ERRORS,
    },
    (c, account) => actions.deleteItem(account, auditOf(c), c.req.param('number')!),
  )
  route(
    {
      method: 'post',
      path: '/:audit/reassign',
      summary:
        "Give an auditor's missed inspection of an item (number or id) to a backup auditor, after its deadline (AUDITING).",
      tag: 'admin',
      auth: true,
      body: reassignSchema,
      response: actionResultWire,
      errors: ADMIN_ERRORS,
    },
    async (c, account) => {
      const { item, auditor } = await group.body(c, reassignSchema)
      return actions.reassign(account, auditOf(c), item, auditor)
    },
  )
  route(
    {
      method: 'post',
      path: '/:audit/params',
      summary:
        'Set a typed parameter (num_audits_per_item, slashing_ratio, bond, inspection_deadline).',
      tag: 'admin',
      auth: true,
      body: setParamBody,
      response: actionResultWire,
      errors: ADMIN_ERRORS,
    },
    async (c, account) => {
      const { name, value } = await group.body(c, setParamBody)
      return actions.setParam(account, auditOf(c), name, value)
    },
  )
  for (const action of ['open', 'close', 'start', 'stop', 'finish'] as const) {
    route(
      {
        method: 'post',
        path: `/:audit/${action}`,
        summary: `The admin's "${action}"${action === 'stop' ? ' (force: count outstanding inspections as missing)' : ''}.`,
        tag: 'admin',
        auth: true,
        ...(action === 'stop' ? { body: stopBody } : {}),
        response: actionResultWire,
        errors: ADMIN_ERRORS,
      },
      async (c, account) => {
        const { force } = action === 'stop' ? await group.body(c, stopBody) : { force: false }
        return actions.control(account, auditOf(c), action, force ?? false)
      },
    )
  }
}

function addFundRoute(
  group: RouteGroupBuilder,
  { money }: AuditRoutesContext,
  stateOf: (c: Context) => Promise<AuditState>,
): void {
  group.route(
    {
      method: 'post',
      path: '/:audit/fund',
      summary:
        "Fund the audit's escrow from the account's Ethereum key (its first funder becomes the sponsor, who gets the remainder back); amount in base units or a decimal with the token's symbol.",
      tag: 'chain',
      auth: true,
      body: fundSchema,
      response: fundAnswerSchema,
      errors: [403, 409, 422, 503],
    },
    async (c, account) => {
      const { amount } = await group.body(c, fundSchema)
      const state = await stateOf(c)
      const done = await money.fund(account, state, amount)
      return {
        audit: state.id,
        from: account.address,
        amount: done.amount,
        token: done.token,
        tx: done.tx,
        funding: done.funding,
      }
    },
  )
}

function addReadRoutes(
  group: RouteGroupBuilder,
  ctx: Pick<AuditRoutesContext, 'ledger' | 'explorerUrl' | 'money'>,
  stateOf: (c: Context) => Promise<AuditState>,
): void {
  const { route } = group
  route(
    {
      method: 'get',
      path: '/:audit/outstanding',
      summary: 'Inspections not answered yet.',
      tag: 'audits',
      response: z.object({ outstanding: z.array(inspectionWire) }),
      errors: [409],
    },
    async (c) => {
      const state = await stateOf(c)
      return { outstanding: describeInspections(state, outstandingInspections(state)) }
    },
  )
  route(
    {
      method: 'get',
      path: '/:audit/results',
      summary: 'Item, audit and auditor results (once computed).',
      tag: 'audits',
      response: z.object({
        state: auditStateWire,
        token: tokenUnitSchema,
        results: auditResultsWire.nullable().describe('Null until computed.'),
      }),
      errors: [409],
    },
    async (c) => {
      const state = await stateOf(c)
      const token = await ctx.money.unitOf(state.params.token)
      return { state: state.state, token, results: state.results ?? null }
    },
  )
  route(
    {
      method: 'get',
      path: '/:audit/settlement',
      summary:
        'Payout addresses and amounts, and the ABI encoding (once computed); the transaction that paid them (once COMPLETE), with its explorer link when [chain] explorer_url is set.',
      tag: 'audits',
      response: z.object({
        state: auditStateWire,
        token: tokenUnitSchema,
        settlement: settlementWire.nullable().describe('Null until computed.'),
        transaction: z
          .object({
            hash: txWire,
            chainId: z.number().int().optional().describe('Left out when the op names none.'),
            escrow: z.string().optional().describe('The escrow that paid, as the op names it.'),
            url: z
              .string()
              .nullable()
              .describe('Its explorer link ([chain] explorer_url), if set.'),
          })
          .nullable()
          .describe(
            'The transaction that paid the audit out: null until COMPLETE, and for an audit handed over through the Chainlink route.',
          ),
      }),
      errors: [409],
    },
    async (c) => {
      const state = await stateOf(c)
      const [tx, token] = await Promise.all([
        settledTransaction(ctx.ledger, state),
        ctx.money.unitOf(state.params.token),
      ])
      return {
        state: state.state,
        token,
        settlement: state.settlement ?? null,
        transaction: tx ? { ...tx, url: explorerAt(ctx.explorerUrl)?.tx(tx.hash) ?? null } : null,
      }
    },
  )
  route(
    {
      method: 'get',
      path: '/:audit/auditors/:key',
      summary: "An auditor's inspections and result.",
      tag: 'audits',
      response: z.object({
        auditor: auditorWire,
        inspections: z.array(inspectionWire),
        result: auditorResultWire.optional().describe('Once the results are computed.'),
      }),
      errors: [409],
    },
    async (c) => {
      const state = await stateOf(c)
      const key = c.req.param('key')!
      const { auditor, inspections, result } = auditorSummary(state, key)
      if (!auditor)
        throw new NotFoundError(
          `${describeValue(key)} is not the key of an auditor of "${state.params.name}"; list them at GET /audits/${state.id}.`,
        )
      return { auditor, inspections: describeInspections(state, inspections), result }
    },
  )
}

function addAuditorRoutes(
  group: RouteGroupBuilder,
  { actions }: AuditRoutesContext,
  auditOf: (c: Context) => string,
): void {
  const { route } = group
  route(
    {
      method: 'post',
      path: '/:audit/register',
      summary:
        'Register the account as an auditor (payout: its own address unless given with proof).',
      tag: 'auditor',
      auth: true,
      body: registerSchema,
      response: actionResultWire,
      errors: ADMIN_ERRORS,
    },
    async (c, account) =>
      actions.register(account, auditOf(c), await group.body(c, registerSchema)),
  )
  route(
    {
      method: 'get',
      path: '/:audit/next',
      summary: "The account's current inspection (one at a time).",
      tag: 'auditor',
      auth: true,
      response: z.object({
        inspection: inspectionWire
          .omit({ number: true })
          .extend({ description: z.string() })
          .nullable()
          .describe('Null when the account has no inspection open.'),
      }),
      errors: [409],
    },
    async (c, account) => ({ inspection: (await actions.next(account, auditOf(c))) ?? null }),
  )
  route(
    {
      method: 'post',
      path: '/:audit/answer',
      summary:
        'Answer the current inspection: true/false or the words yes true 1 y t / no false 0 n f.',
      tag: 'auditor',
      auth: true,
      body: answerSchema,
      response: actionResultWire,
      errors: ADMIN_ERRORS,
    },
    async (c, account) => {
      const { answer, item } = await group.body(c, answerSchema)
      return actions.answer(account, auditOf(c), answer, item)
    },
  )
  route(
    {
      method: 'post',
      path: '/:audit/reveal',
      summary: 'Reveal the answers the account committed (commit–reveal audits).',
      tag: 'auditor',
      auth: true,
      response: z.object({ revealed: z.array(actionResultWire) }),
      errors: ADMIN_ERRORS,
    },
    async (c, account) => ({ revealed: await actions.reveal(account, auditOf(c)) }),
  )
}

/**
 * `GET /payouts/:address`: what the audit escrow owes an address, per token with its unit;
 * `POST /payouts/withdraw`: that, withdrawn with the account's key; `GET /payouts/tokens/:token`:
 * a token's unit.
 */
export function payoutRoutes(
  ctx: Pick<AuditRoutesContext, 'accounts' | 'bodyLimit' | 'chain' | 'money'>,
) {
  const group = createRouteGroup({
    prefix: '/payouts',
    accounts: ctx.accounts,
    bodyLimit: ctx.bodyLimit,
  })
  group.route(
    {
      method: 'post',
      path: '/withdraw',
      summary:
        "Withdraw everything the escrow owes the account's Ethereum address (native ETH and the devnet token).",
      tag: 'chain',
      auth: true,
      response: withdrawalWire,
      errors: [404, 409, 503],
    },
    async (_c, account) => {
      const info = ctx.chain()
      if (!info)
        throw new NotFoundError(
          'This node runs without a chain; there is nothing to withdraw here.',
        )
      const paid = await withdrawAll({
        info,
        account: account.ethAccount,
        tokens: payoutTokens(info),
      })
      const units = await Promise.all(paid.map((p) => ctx.money.unitOf(p.token)))
      return {
        address: account.address,
        withdrawn: paid.map((p, i) => ({ ...p, unit: units[i]! })),
      }
    },
  )
  group.route(
    {
      method: 'get',
      path: '/tokens/:token',
      summary:
        'A token\'s unit: its symbol and decimals as the ERC-20 answers them ("native" or address(0): ETH, 18); null when the contract does not tell.',
      tag: 'chain',
      response: tokenUnitSchema,
      errors: [503],
    },
    async (c) => {
      const token = c.req.param('token')!
      if (token !== 'native' && !ethAddress.safeParse(token).success)
        throw new ValidationError(
          `${describeValue(token)} is not a token; give "native" for ETH or an ERC-20 contract address (0x and 40 hex digits).`,
        )
      return ctx.money.unitOf(token)
    },
  )
  group.route(
    {
      method: 'get',
      path: '/:address',
      summary:
        'What the escrow owes an address and it may withdraw, per token (native ETH and the devnet token, or ?token=), in base units with the unit.',
      tag: 'chain',
      query: owedQuery,
      response: owedAnswerSchema,
      errors: [503],
    },
    async (c) => {
      const address = c.req.param('address')!
      if (!ethAddress.safeParse(address).success)
        throw new ValidationError(
          `${describeValue(address)} is not an Ethereum address; give 0x and 40 hex digits.`,
        )
      const { token } = validate(owedQuery, c.req.query(), 'query')
      const owed = await ctx.money.owed(
        address as `0x${string}`,
        token as `0x${string}` | undefined,
      )
      return { address, owed }
    },
  )
  return group
}

/** The audit's JSON view with its token's unit and the escrow's funding (null without a chain). */
async function moneyView(money: AuditMoney, state: AuditState) {
  const token: TokenUnit = await money.unitOf(state.params.token)
  // The audit is readable while the chain is not: funding is then unknown (null), not an error.
  const funding: Funding | null = (await money.funding(state).catch(() => undefined)) ?? null
  return { ...auditView(state), token, funding }
}

function describeInspections(state: AuditState, list: AuditState['inspections']) {
  const describe = new Map(state.items.map((i) => [i.id, i]))
  return list.map((i) => ({
    ...i,
    number: describe.get(i.item)?.number,
    description: describe.get(i.item)?.description,
  }))
}

/** The JSON view of an audit that `GET /audits/:audit` answers. */
export function auditView(state: AuditState) {
  const counts: Record<string, number> = {}
  for (const i of state.inspections) counts[i.status] = (counts[i.status] ?? 0) + 1
  const answers = answersByItem(state)
  return {
    id: state.id,
    name: state.params.name,
    state: state.state,
    stateIndex: state.stateIndex,
    params: formatParams(state.params),
    items: state.items.map((item) => ({
      ...item,
      answers: answers.get(item.id) ?? 0,
      of: state.params.auditsPerItem,
    })),
    auditors: state.auditors,
    inspections: counts,
    outstanding: describeInspections(state, outstandingInspections(state)),
    results: state.results ?? null,
    settlement: state.settlement ?? null,
    transitions: state.transitions,
    rejected: state.rejected,
    excluded: state.excluded,
  }
}
