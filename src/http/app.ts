import type { IncomingMessage } from 'node:http'
import { type Context, Hono } from 'hono'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { ChainInfo } from '../chain/chain-service.ts'
import { payoutTokens, withdrawAll } from '../chain/payments.ts'
import { formatParams } from '../core/audit/params.ts'
import { answersByItem, auditorSummary, outstandingInspections } from '../core/audit/queries.ts'
import type { AuditState } from '../core/audit/state.ts'
import { toJson } from '../core/json.ts'
import { describeValue } from '../core/text.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { OpId } from '../ledger/op-id.ts'
import { type Accounts, type LocalAccount, OPERATOR } from '../node/accounts.ts'
import type { AuditActions } from '../node/audit-actions.ts'
import type { AuditIndex } from '../node/audit-index.ts'
import { APP_CSS, APP_JS } from '../web/assets.ts'
import { auditorPage, auditPage, homePage } from '../web/pages.ts'
import { EA_ROUTE_DOCS, registerEaRoutes } from './ea-routes.ts'
import {
  errorResponse,
  ForbiddenError,
  MalformedJsonError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from './errors.ts'
import { buildOpenApi, type RouteDoc } from './openapi.ts'

/** What the HTTP interface needs from a node. */
export type HttpContext = {
  readonly name: string
  readonly version: string
  readonly ledger: Ledger
  readonly audits: AuditIndex
  readonly actions: AuditActions
  readonly accounts: Accounts
  readonly logger: Logger
  readonly bodyLimit: number
  /** Connected peers. */
  peers(): number
  /** This node's libp2p identity and addresses, if it replicates. */
  net?(): { peerId: string; listen: string[]; gossipDropped: number } | undefined
  /** Where this node settles, if it has a chain. */
  chain?(): ChainInfo | undefined
  /** The account bound to a chat address (created for it when the chat bot runs). */
  accountForJid?(jid: string): LocalAccount | undefined
}

const send = (c: Context, value: unknown, status = 200) =>
  c.body(toJson(value), status as 200, { 'content-type': 'application/json; charset=utf-8' })

/**
 * Reads a request body as text, refusing more than `limit` bytes. On Node it reads the
 * `IncomingMessage` directly: building a web `Request` body stream costs more than the rest of
 * a small request.
 */
export async function readBodyText(c: Context, limit: number): Promise<string> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  if (!incoming) {
    const text = await c.req.text()
    if (Buffer.byteLength(text) > limit) throw tooLarge(c, limit)
    return text
  }
  const length = Number(incoming.headers['content-length'] ?? Number.NaN)
  if (length > limit) throw tooLarge(c, limit)
  if (length === 0) return ''
  // A small body usually comes in the same packet as the headers. Handlers run while the HTTP
  // parser is still inside that packet, so one microtask later the body is in the stream's
  // buffer: then take it at once instead of iterating the stream.
  if (length > 0) {
    if (incoming.readableLength < length) await undefined
    if (incoming.readableLength === length) {
      const body = (incoming.read() as Buffer).toString('utf8')
      // Let the stream end on its own: a request whose stream has not ended when its response
      // closes is drained by @hono/node-server with two timers and listeners.
      incoming.resume()
      return body
    }
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw tooLarge(c, limit)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * The error for a body over the limit. Its response closes the connection, whichever route
 * answers it: the rest of a refused body is not worth reading.
 */
function tooLarge(c: Context, limit: number): PayloadTooLargeError {
  c.header('connection', 'close')
  return new PayloadTooLargeError(
    `The request body is larger than this node accepts (${limit} bytes); send less, or raise http.body_limit.`,
  )
}

/** Reads and validates a JSON body; an empty body counts as `{}`. */
export async function readJson<T extends z.ZodType>(
  c: Context,
  limit: number,
  schema: T,
): Promise<z.infer<T>> {
  const text = await readBodyText(c, limit)
  return validate(schema, text.trim() === '' ? {} : parseJsonText(text), 'body')
}

/** Parses a request body as JSON, or throws MalformedJsonError saying why it is not. */
export function parseJsonText(text: string): unknown {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw new MalformedJsonError(
      `The request body is not valid JSON (${(cause as Error).message}); send a JSON object.`,
    )
  }
  if (nestingDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
    throw new MalformedJsonError(
      `The request body nests deeper than ${MAX_JSON_DEPTH} levels of objects and lists; no request needs that many.`,
    )
  return value
}

/** How deep request JSON may nest: far more than any route needs, far less than encoders recurse. */
export const MAX_JSON_DEPTH = 32

/** The nesting depth of a parsed JSON value, counted without recursion and up to `limit + 1`. */
function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0
  const stack: [unknown, number][] = [[value, 0]]
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [node, depth] = top
    if (typeof node !== 'object' || node === null) continue
    if (depth + 1 > deepest) deepest = depth + 1
    if (deepest > limit) return deepest
    for (const child of Object.values(node)) stack.push([child, depth + 1])
  }
  return deepest
}

/** Validates `raw` against `schema`, naming the first wrong field in a ValidationError. */
export function validate<T extends z.ZodType>(schema: T, raw: unknown, where: string): z.infer<T> {
  const parsed = schema.safeParse(raw)
  if (parsed.success) return parsed.data
  const issue = parsed.error.issues[0]!
  if (issue.path.length > 0)
    throw new ValidationError(
      `In the request ${where}, "${issue.path.join('.')}": ${issue.message}.`,
    )
  if (issue.code === 'invalid_type' && issue.expected === 'object')
    throw new ValidationError(
      `The request ${where} must be a JSON object, not ${Array.isArray(raw) ? 'a list' : raw === null ? 'null' : `a ${typeof raw}`}.`,
    )
  throw new ValidationError(`The request ${where} is wrong: ${issue.message}.`)
}

const amount = z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()], {
  error: 'a whole number of base units, e.g. "1000"',
})
const createSchema = z
  .object({
    name: z.string().min(1).max(200),
    bond: amount,
    token: z.string().optional(),
    auditsPerItem: z.number().int().optional(),
    slashingRatio: z
      .union([z.string(), z.number()], { error: 'a fraction such as "1/2"' })
      .optional(),
    commitReveal: z.boolean().optional(),
    inspectionDeadline: z.number().int().optional(),
    tie: z.boolean().optional(),
    admins: z.array(z.string()).optional(),
    reward: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
const itemSchema = z.object({ description: z.string().min(1).max(1000) }).strict()
const paramSchema = z
  .object({
    name: z.string(),
    value: z.union([z.string(), z.number(), z.boolean()], {
      error: 'a number, a text or true/false',
    }),
  })
  .strict()
const stopSchema = z.object({ force: z.boolean().optional() }).strict()
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
const opsSchema = z
  .object({
    ops: z
      .array(z.string().regex(/^(0x)?([0-9a-fA-F]{2})+$/, 'hex bytes'))
      .min(1)
      .max(1000),
  })
  .strict()
const accountSchema = z.object({ name: z.string(), jid: z.string().optional() }).strict()
const headsQuery = z.object({
  author: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
})

/** Creates the HTTP API of a node (Hono): JSON routes, the EA routes and `/openapi.json`. */
export function createHttpApp(ctx: HttpContext): Hono {
  const app = new Hono()
  const docs: RouteDoc[] = []
  const { audits, actions, accounts, ledger } = ctx

  app.onError((error, c) => {
    const { status, body } = errorResponse(error)
    if (status >= 500) ctx.logger.error({ err: error, path: c.req.path }, 'request failed')
    // RFC 9110: a 401 names the scheme the client should use.
    if (status === 401) c.header('www-authenticate', 'Bearer realm="rwa"')
    return c.json(body, status as 400)
  })
  app.notFound((c) =>
    c.json(
      {
        error: 'NotFoundError',
        message: `There is no route ${c.req.method} ${c.req.path}; see GET /openapi.json.`,
      },
      404,
    ),
  )

  const route = (
    doc: RouteDoc,
    handler: (c: Context, account: LocalAccount | undefined) => Promise<unknown> | unknown,
  ) => {
    docs.push(doc)
    app[doc.method](doc.path, async (c) => {
      const account = doc.auth ? accounts.authenticate(c.req.header('authorization')) : undefined
      return send(c, await handler(c, account))
    })
  }
  const auditOf = (c: Context) => audits.resolve(c.req.param('audit') ?? '')
  const stateOf = async (c: Context) => audits.state(auditOf(c))

  route(
    {
      method: 'get',
      path: '/status',
      summary:
        'Node name, version, peers, and per document: heads, pending, equivocations, stateHash.',
      tag: 'node',
    },
    async () => {
      const heads: Record<string, string[]> = {}
      const documents: Record<
        string,
        { heads: string[]; pending: number; equivocations: number; stateHash: string | null }
      > = {}
      const auditIds = new Set(audits.list().map((a) => a.id))
      const stats = ledger.log.stats()
      for (const doc of ledger.log.docs()) {
        heads[doc] = ledger.log.heads(doc)
        documents[doc] = {
          heads: heads[doc],
          pending: ledger.log.pending(doc).length,
          equivocations: ledger.log.equivocations(doc).length,
          stateHash: auditIds.has(doc) ? await audits.stateHash(doc) : null,
        }
      }
      return {
        name: ctx.name,
        version: ctx.version,
        docs: ledger.log.docs().length,
        peers: ctx.peers(),
        heads,
        documents,
        net: ctx.net?.() ?? null,
        chain: ctx.chain?.() ?? null,
        accepted: stats.accepted,
        pending: stats.pending,
      }
    },
  )
  // The dashboard: server-rendered pages, a stylesheet and a small script (src/web).
  const html = (c: Context, page: string) => c.html(page, 200, { 'cache-control': 'no-store' })
  app.get('/', (c) => {
    const stats = ledger.log.stats()
    return html(
      c,
      homePage({
        name: ctx.name,
        version: ctx.version,
        ops: stats.accepted,
        docs: stats.documents,
        peers: ctx.peers(),
        chain: ctx.chain?.(),
        audits: audits.list(),
      }),
    )
  })
  app.get('/ui/audits/:audit', async (c) => {
    const state = await stateOf(c)
    const completed = state.transitions.find((t) => t.state === 'COMPLETE')
    const [settled] = completed ? await ledger.getOps([completed.op]) : []
    const tx = (settled?.op.body as { tx?: unknown } | undefined)?.tx
    return html(
      c,
      auditPage({
        node: ctx.name,
        state,
        settledTx: typeof tx === 'string' ? tx : undefined,
        chain: ctx.chain?.(),
      }),
    )
  })
  app.get('/ui/audits/:audit/me', async (c) =>
    html(c, auditorPage({ node: ctx.name, state: await stateOf(c) })),
  )
  app.get('/ui/app.css', (c) => c.body(APP_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }))
  app.get('/ui/app.js', (c) =>
    c.body(APP_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  )
  route(
    {
      method: 'get',
      path: '/chain',
      summary: 'Where this node settles: chain id, RPC URL, escrow (and the devnet token).',
      tag: 'chain',
    },
    () => {
      const info = ctx.chain?.()
      if (!info)
        throw new NotFoundError(
          'This node runs without a chain (started with --no-chain or [chain] mode = "none").',
        )
      return info
    },
  )
  route(
    {
      method: 'post',
      path: '/payouts/withdraw',
      summary:
        "Withdraw everything the escrow owes the account's Ethereum address (native ETH and the devnet token).",
      tag: 'chain',
      auth: true,
    },
    async (_c, account) => {
      const info = ctx.chain?.()
      if (!info)
        throw new NotFoundError(
          'This node runs without a chain; there is nothing to withdraw here.',
        )
      const paid = await withdrawAll({
        info,
        account: account!.ethAccount,
        tokens: payoutTokens(info),
      })
      return { address: account!.address, withdrawn: paid }
    },
  )
  app.get('/openapi.json', (c) => c.json(buildOpenApi(docs, ctx.version) as object))

  route(
    { method: 'get', path: '/audits', summary: 'Every audit this node holds.', tag: 'audits' },
    () => ({
      audits: audits.list(),
    }),
  )
  route(
    {
      method: 'post',
      path: '/audits',
      summary: 'Create an audit; the account becomes its admin.',
      tag: 'admin',
      auth: true,
      body: createSchema,
    },
    async (c, account) => {
      const body = await readJson(c, ctx.bodyLimit, createSchema)
      const op = await actions.create(account!, body)
      return { audit: op.id, op: op.id, state: (await audits.state(op.id)).state }
    },
  )
  route(
    {
      method: 'get',
      path: '/audits/:audit',
      summary: 'An audit: state, params, items, outstanding, results, settlement.',
      tag: 'audits',
    },
    async (c) => auditView(await stateOf(c)),
  )
  route(
    {
      method: 'get',
      path: '/audits/:audit/items',
      summary: 'The items, numbered as "del" takes them.',
      tag: 'audits',
    },
    async (c) => ({
      items: (await stateOf(c)).items,
    }),
  )
  route(
    {
      method: 'post',
      path: '/audits/:audit/items',
      summary: 'Add an item (INITIALIZATION only).',
      tag: 'admin',
      auth: true,
      body: itemSchema,
    },
    async (c, account) =>
      actions.addItem(
        account!,
        auditOf(c),
        (await readJson(c, ctx.bodyLimit, itemSchema)).description,
      ),
  )
  route(
    {
      method: 'delete',
      path: '/audits/:audit/items/:number',
      summary: 'Delete an item by its number (states 0–2).',
      tag: 'admin',
      auth: true,
    },
    (c, account) => actions.deleteItem(account!, auditOf(c), c.req.param('number')!),
  )
  route(
    {
      method: 'post',
      path: '/audits/:audit/reassign',
      summary:
        "Give an auditor's missed inspection of an item (number or id) to a backup auditor, after its deadline (AUDITING).",
      tag: 'admin',
      auth: true,
      body: reassignSchema,
    },
    async (c, account) => {
      const { item, auditor } = await readJson(c, ctx.bodyLimit, reassignSchema)
      return actions.reassign(account!, auditOf(c), item, auditor)
    },
  )
  route(
    {
      method: 'post',
      path: '/audits/:audit/params',
      summary:
        'Set a typed parameter (num_audits_per_item, slashing_ratio, bond, inspection_deadline).',
      tag: 'admin',
      auth: true,
      body: paramSchema,
    },
    async (c, account) => {
      const { name, value } = await readJson(c, ctx.bodyLimit, paramSchema)
      return actions.setParam(account!, auditOf(c), name, value)
    },
  )
  for (const action of ['open', 'close', 'start', 'stop', 'finish'] as const) {
    route(
      {
        method: 'post',
        path: `/audits/:audit/${action}`,
        summary: `The admin's "${action}"${action === 'stop' ? ' (force: count outstanding inspections as missing)' : ''}.`,
        tag: 'admin',
        auth: true,
        ...(action === 'stop' ? { body: stopSchema } : {}),
      },
      async (c, account) => {
        const { force } =
          action === 'stop' ? await readJson(c, ctx.bodyLimit, stopSchema) : { force: false }
        return actions.control(account!, auditOf(c), action, force ?? false)
      },
    )
  }
  route(
    {
      method: 'get',
      path: '/audits/:audit/outstanding',
      summary: 'Inspections not answered yet.',
      tag: 'audits',
    },
    async (c) => ({
      outstanding: describeInspections(await stateOf(c), outstandingInspections(await stateOf(c))),
    }),
  )
  route(
    {
      method: 'get',
      path: '/audits/:audit/results',
      summary: 'Item, audit and auditor results (once computed).',
      tag: 'audits',
    },
    async (c) => {
      const state = await stateOf(c)
      return { state: state.state, results: state.results ?? null }
    },
  )
  route(
    {
      method: 'get',
      path: '/audits/:audit/settlement',
      summary: 'Payout addresses and amounts, and the ABI encoding (once computed).',
      tag: 'audits',
    },
    async (c) => {
      const state = await stateOf(c)
      return { state: state.state, settlement: state.settlement ?? null }
    },
  )
  route(
    {
      method: 'get',
      path: '/audits/:audit/auditors/:key',
      summary: "An auditor's inspections and result.",
      tag: 'audits',
    },
    async (c) => {
      const state = await stateOf(c)
      const key = c.req.param('key')!
      if (!state.auditors.some((a) => a.key === key))
        throw new NotFoundError(
          `${describeValue(key)} is not the key of an auditor of "${state.params.name}"; list them at GET /audits/${state.id}.`,
        )
      const summary = auditorSummary(state, key)
      return { ...summary, inspections: describeInspections(state, summary.inspections) }
    },
  )
  route(
    {
      method: 'post',
      path: '/audits/:audit/register',
      summary:
        'Register the account as an auditor (payout: its own address unless given with proof).',
      tag: 'auditor',
      auth: true,
      body: registerSchema,
    },
    async (c, account) =>
      actions.register(account!, auditOf(c), await readJson(c, ctx.bodyLimit, registerSchema)),
  )
  route(
    {
      method: 'get',
      path: '/audits/:audit/next',
      summary: "The account's current inspection (one at a time).",
      tag: 'auditor',
      auth: true,
    },
    async (c, account) => ({
      inspection: (await actions.next(account!, auditOf(c))) ?? null,
    }),
  )
  route(
    {
      method: 'post',
      path: '/audits/:audit/answer',
      summary:
        'Answer the current inspection: true/false or the words yes true 1 y t / no false 0 n f.',
      tag: 'auditor',
      auth: true,
      body: answerSchema,
    },
    async (c, account) => {
      const { answer, item } = await readJson(c, ctx.bodyLimit, answerSchema)
      return actions.answer(account!, auditOf(c), answer, item)
    },
  )
  route(
    {
      method: 'post',
      path: '/audits/:audit/reveal',
      summary: 'Reveal the answers the account committed (commit–reveal audits).',
      tag: 'auditor',
      auth: true,
    },
    async (c, account) => ({
      revealed: await actions.reveal(account!, auditOf(c)),
    }),
  )

  route(
    {
      method: 'post',
      path: '/ops',
      summary: "Submit ops signed by the client (hex); each is verified and judged like a peer's.",
      tag: 'ops',
      body: opsSchema,
    },
    async (c) => {
      const { ops } = await readJson(c, ctx.bodyLimit, opsSchema)
      const bytes = ops.map((hex) => new Uint8Array(Buffer.from(hex.replace(/^0x/, ''), 'hex')))
      const results = await ledger.ingest(bytes)
      return {
        results: await Promise.all(
          results.map(async (r) => {
            if (!r.ok) return { ok: false, ...errorResponse(r.error).body }
            // In the log either way; the audit's rules may still refuse it (or leave it out).
            const verdict = r.status === 'accepted' ? await audits.verdict(r.doc, r.id) : undefined
            return {
              ok: true,
              id: r.id,
              status: r.status,
              ...(verdict
                ? {
                    audit: {
                      counted: false,
                      [verdict.name === 'ExcludedByCausalCut' ? 'excluded' : 'refused']: {
                        error: verdict.name,
                        message: verdict.message,
                      },
                    },
                  }
                : {}),
            }
          }),
        ),
      }
    },
  )
  route(
    {
      method: 'get',
      path: '/docs/:doc/heads',
      summary: "A document's heads, and the next seq of an author (for signing an op client-side).",
      tag: 'ops',
      query: headsQuery,
    },
    (c) => {
      const doc = c.req.param('doc') as OpId
      const { author } = validate(headsQuery, c.req.query(), 'query')
      if (ledger.log.size(doc) === 0)
        throw new NotFoundError(`Document "${doc}" is not known to this node.`)
      const nextSeq = author
        ? ledger.log.lastSeq(doc, new Uint8Array(Buffer.from(author, 'hex'))) + 1
        : undefined
      return { doc, heads: ledger.log.heads(doc), nextSeq }
    },
  )
  route(
    {
      method: 'get',
      path: '/docs/:doc/ops',
      summary: "Every op of a document in the log's deterministic order (hex), to recompute it.",
      tag: 'ops',
    },
    async (c) => {
      const doc = c.req.param('doc') as OpId
      if (ledger.log.size(doc) === 0)
        throw new NotFoundError(`Document "${doc}" is not known to this node.`)
      const ops = await ledger.getOps(ledger.log.order(doc))
      return { doc, ops: ops.map((op) => Buffer.from(op!.bytes).toString('hex')) }
    },
  )

  route(
    {
      method: 'get',
      path: '/accounts/me',
      summary: 'The account a token belongs to.',
      tag: 'accounts',
      auth: true,
    },
    (_c, account) => ({
      name: account!.name,
      key: account!.key,
      address: account!.address,
      jid: account!.jid ?? null,
    }),
  )
  route(
    {
      method: 'post',
      path: '/accounts',
      summary: 'Create a local account (operator only); answers its token once.',
      tag: 'accounts',
      auth: true,
      body: accountSchema,
    },
    async (c, account) => {
      if (account!.name !== OPERATOR)
        throw new ForbiddenError('Only the operator account may create accounts.')
      const { name, jid } = await readJson(c, ctx.bodyLimit, accountSchema)
      const created = accounts.create({ name, jid })
      return {
        name,
        key: created.account.key,
        address: created.account.address,
        token: created.token,
      }
    },
  )

  registerEaRoutes(app, ctx)
  docs.push(...EA_ROUTE_DOCS)
  return app
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
