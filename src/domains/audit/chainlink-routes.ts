import { type Context, Hono } from 'hono'
import type { Logger } from 'pino'
import { z } from 'zod'
import type { ChainInfo } from '../../chain/chain-service.ts'
import { encodeSettlement } from '../../core/audit/settlement.ts'
import { AUDIT_OP } from '../../core/audit/states.ts'
import { parseJsonText, readBodyText, validate } from '../../http/body.ts'
import { CLIENT_CLOSED_REQUEST, isClientAbort } from '../../http/client-abort.ts'
import {
  errorResponse,
  ForbiddenError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
  ValidationError,
} from '../../http/errors.ts'
import type { RouteDoc } from '../../http/openapi.ts'
import type { RouteGroup } from '../../http/route-group.ts'
import { hexWire, keyWire, opIdWire } from '../../http/wire.ts'
import { type Accounts, type LocalAccount, OPERATOR } from '../../node/accounts.ts'
import type { AuditActions } from './actions.ts'
import type { AuditIndex } from './audit-index.ts'
import { auditStateWire } from './wire.ts'

// Chainlink external-adapter conventions (EA v2): the request is { id, data: {...}, meta? }; a
// success answers { jobRunID, data: { result, ... }, result, statusCode }; an error answers
// { jobRunID, status: "errored", statusCode, error: { name, message } }.

const registerData = z
  .object({
    name: z.string().min(1).max(200),
    // A string, as every amount in the API: a JSON number loses digits past 2^53.
    bond: z.string({
      error: (issue) =>
        typeof issue.input === 'number'
          ? `an amount is a string of base units, e.g. "${issue.input}", not a JSON number (numbers lose digits past 2^53)`
          : 'an amount is a string of base units, e.g. "1000"',
    }),
    admin_jid: z.string().optional(),
    num_audits_per_item: z.number().int().optional(),
    slashing_ratio: z.union([z.string(), z.number()]).optional(),
  })
  .loose()
const dumpData = z
  .object({ name: z.string({ error: "the audit's name is required" }).min(1) })
  .loose()
const request = z
  .object({ id: z.union([z.string(), z.number()]).optional(), data: z.unknown() })
  .loose()

const EMPTY = encodeSettlement([], [])

/** An EA v2 success: `result` also in `data`, with the route's other fields. */
const eaSuccess = <Shape extends z.ZodRawShape>(result: z.ZodString, data: Shape) =>
  z.object({
    jobRunID: z.string().describe('The request\'s id ("1" when it sent none).'),
    data: z.object({ ...data, result }),
    result,
    statusCode: z.literal(200),
  })

/** An EA v2 error: the request's id, and the error's name and message. */
const eaError = z.object({
  jobRunID: z
    .string()
    .nullable()
    .describe(
      'The request\'s id ("1" when it sent none; null when its body was too large to read).',
    ),
  status: z.literal('errored'),
  statusCode: z.number().int().describe('The HTTP status, repeated.'),
  error: z.object({ name: z.string(), message: z.string() }),
})

/** The adapter routes in the OpenAPI document (answers and errors in the EA v2 shapes). */
export const EA_ROUTE_DOCS: readonly RouteDoc[] = [
  {
    method: 'post',
    path: '/register_audit/',
    summary:
      'Chainlink external adapter: create an audit (admin: the account bound to admin_jid, else the operator). Answers {jobRunID, data: {result}, result: <audit id>, statusCode}. Needs content-type application/json and no foreign Origin.',
    tag: 'chainlink',
    body: z.object({ id: z.union([z.string(), z.number()]).optional(), data: registerData }),
    response: eaSuccess(opIdWire.describe('The audit id.'), {
      audit: opIdWire,
      name: z.string(),
      admin: keyWire.describe("The admin's Ed25519 key."),
    }),
    errors: [409, 415, 422],
    errorBody: eaError,
  },
  {
    method: 'post',
    path: '/data_dump/',
    summary:
      "Chainlink external adapter: an audit's settlement as 0x + abi.encode(address[], uint256[]) (empty arrays until WAITING_FOR_CONTRACT). Without a chain, the first fetch records COMPLETE.",
    tag: 'chainlink',
    body: z.object({ id: z.union([z.string(), z.number()]).optional(), data: dumpData }),
    response: eaSuccess(hexWire.describe('0x + abi.encode(address[], uint256[]).'), {
      response: hexWire,
      state: auditStateWire,
    }),
    errors: [404, 409, 415],
    errorBody: eaError,
  },
]

/**
 * These routes act without a token (as the original adapter's), so a web page must not be able
 * to call them from the operator's browser: a JSON content type cannot be sent across sites
 * without a CORS preflight, which this node never grants, and a foreign `Origin` is refused.
 * A Chainlink node's bridge sends JSON and no `Origin`.
 */
function assertNotCrossSite(c: Context): void {
  const type = c.req.header('content-type') ?? ''
  if (!/^application\/json\s*(;|$)/i.test(type))
    throw new UnsupportedMediaTypeError(
      `An adapter request must be sent as "content-type: application/json"${type ? `, not "${type.slice(0, 60)}"` : ''}.`,
    )
  const origin = c.req.header('origin')
  if (origin !== undefined && origin !== `http://${c.req.header('host')}`)
    throw new ForbiddenError(
      `Adapter requests from web pages of other sites (origin ${origin.slice(0, 100)}) are refused; call this route from the Chainlink node.`,
    )
}

/**
 * The `jobRunID` of an answer to a request that sent no id: "1", as the Chainlink adapter
 * template the original adapter was built on.
 */
export const NO_JOB_RUN_ID = '1'

/** The `id` of an adapter request's body, as a string, if the body is JSON and has one. */
function jobRunIdOf(text: string): string | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return undefined // the body is refused below, saying why
  }
  const id = (raw as { id?: unknown } | null)?.id
  return typeof id === 'string' || typeof id === 'number' ? String(id) : undefined
}

/** What the adapter routes need from the node. */
export type ChainlinkContext = {
  readonly audits: AuditIndex
  readonly actions: AuditActions
  readonly accounts: Accounts
  readonly logger: Logger
  readonly bodyLimit: number
  /** Where this node settles, if it has a chain. */
  chain(): ChainInfo | undefined
  /** The account bound to a chat address (created for it when the chat bot runs). */
  accountForJid(jid: string): LocalAccount | undefined
}

/** `POST /register_audit/` and `POST /data_dump/`, compatible with the original RWA adapter. */
export function chainlinkRoutes(ctx: ChainlinkContext): RouteGroup {
  const app = new Hono()
  const handle = (
    path: string,
    run: (data: unknown) => Promise<{ result: unknown; data?: Record<string, unknown> }>,
  ) => {
    const handler = async (c: Context) => {
      let jobRunID = NO_JOB_RUN_ID
      try {
        // Read before the checks below, so that their refusals name the job run too.
        const text = await readBodyText(c, ctx.bodyLimit)
        // The job run's id is echoed in every answer, errors included (a refused content type
        // or origin too), whenever the body carries one.
        jobRunID = jobRunIdOf(text) ?? NO_JOB_RUN_ID
        assertNotCrossSite(c)
        const parsed = request.safeParse(parseJsonText(text))
        if (!parsed.success || parsed.data.data === undefined)
          throw new ValidationError(
            'An adapter request is a JSON object with "id" and "data" (an object).',
          )
        const { result, data } = await run(parsed.data.data)
        return c.json({ jobRunID, data: { ...data, result }, result, statusCode: 200 })
      } catch (error) {
        if (isClientAbort(error, c)) {
          ctx.logger.debug({ path }, 'client closed the adapter request')
          return c.body(null, CLIENT_CLOSED_REQUEST as 400)
        }
        const { status, body } = errorResponse(error)
        if (status >= 500) ctx.logger.error({ err: error, path }, 'adapter request failed')
        return c.json(
          {
            // A body over the limit is not read (its connection is closed), so its id is not
            // known: null, rather than an id another job run may have.
            jobRunID: error instanceof PayloadTooLargeError ? null : jobRunID,
            status: 'errored',
            statusCode: status,
            error: { name: body.error, message: body.message },
          },
          status as 400,
        )
      }
    }
    app.post(path, handler)
    app.post(path.replace(/\/$/, ''), handler)
  }

  handle('/register_audit/', async (raw) => {
    const data = validate(registerData, raw, 'data')
    // The admin is the identity bound to admin_jid (a custodial one when the chat bot runs), or
    // the node's operator key if there is none.
    const jid = data.admin_jid?.trim().toLowerCase()
    const admin = (jid && ctx.accountForJid(jid)) || ctx.accounts.get(OPERATOR)!
    const op = await ctx.actions.create(admin, {
      name: data.name,
      bond: String(data.bond),
      ...(data.num_audits_per_item === undefined
        ? {}
        : { auditsPerItem: data.num_audits_per_item }),
      ...(data.slashing_ratio === undefined ? {} : { slashingRatio: data.slashing_ratio }),
    })
    return { result: op.id, data: { audit: op.id, name: data.name.trim(), admin: admin.key } }
  })

  handle('/data_dump/', async (raw) => {
    const { name } = validate(dumpData, raw, 'data')
    const id = ctx.audits.resolve(name)
    const state = await ctx.audits.state(id)
    const settlement = state.settlement
    if (!settlement || (state.state !== 'WAITING_FOR_CONTRACT' && state.state !== 'COMPLETE'))
      return { result: EMPTY, data: { response: EMPTY, state: state.state } }
    // Without a chain of its own, the first successful fetch records the hand-over to the
    // Chainlink job's contract: WAITING_FOR_CONTRACT → COMPLETE. A node that settles through
    // its escrow records COMPLETE only once the escrow has paid: an unauthenticated fetch
    // must not end the audit before the escrow does (which would leave the bond locked there).
    if (state.state === 'WAITING_FOR_CONTRACT' && !ctx.chain()) {
      const admin = ctx.accounts.among(state.params.admins)
      if (admin) await ctx.actions.control(admin, id, 'settled')
      else ctx.logger.warn({ audit: id }, `no local admin account can record ${AUDIT_OP.settled}`)
    }
    return {
      result: settlement.encoded,
      data: { response: settlement.encoded, state: (await ctx.audits.state(id)).state },
    }
  })
  return { prefix: '/', app, docs: EA_ROUTE_DOCS }
}
