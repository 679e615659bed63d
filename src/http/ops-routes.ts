import { getConnInfo } from '@hono/node-server/conninfo'
import type { Context } from 'hono'
import { z } from 'zod'
import { EXCLUDED } from '../core/causal/notes.ts'
import { OpRefusedError } from '../ledger/errors.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { AddStatus } from '../ledger/log.ts'
import type { OpId } from '../ledger/op-id.ts'
import { type Accounts, OPERATOR } from '../node/accounts.ts'
import type { DocIndex } from '../node/doc-index.ts'
import { validate } from './body.ts'
import { errorResponse, NotFoundError } from './errors.ts'
import { OPS_PAGE_SIZE, opsPageQuery } from './page.ts'
import { createRouteGroup, type RouteGroup } from './route-group.ts'
import { opIdWire } from './wire.ts'

const opsSchema = z
  .object({
    ops: z
      .array(z.string().regex(/^(0x)?([0-9a-fA-F]{2})+$/, 'hex bytes'))
      .min(1)
      .max(1000),
  })
  .strict()
const headsQuery = z.object({
  author: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
})

const noteWire = z.object({ error: z.string(), message: z.string() })
/** The verdict of an op's domain, under the domain's name: the op is in the log but does not count. */
const verdictWire = z
  .union([
    z.object({ counted: z.literal(false), refused: noteWire }),
    z.object({ counted: z.literal(false), excluded: noteWire }),
  ])
  .describe("Under the domain's name (`audit`): the op is logged but its rules do not count it.")
/**
 * `POST /ops`'s answer. TypeScript cannot type the verdict under the domain's name beside `ok`
 * and `id` (an index signature must fit them too), so the check of the handler is against this
 * type, and the schema is checked against it in turn.
 */
type OpsAnswer = {
  results: (
    | { ok: true; id: string; status: AddStatus; [domain: string]: unknown }
    | { ok: false; error: string; message: string; rule?: string | undefined }
  )[]
}
const opsResultWire: z.ZodType<OpsAnswer> = z.object({
  results: z.array(
    z.union([
      z
        .object({
          ok: z.literal(true),
          id: opIdWire,
          status: z.enum(['accepted', 'equivocation', 'duplicate', 'pending']),
        })
        .catchall(verdictWire),
      z.object({
        ok: z.literal(false),
        error: z.string(),
        message: z.string(),
        rule: z
          .string()
          .optional()
          .describe("The domain rule's error name, when it refused the op."),
      }),
    ]),
  ),
})
const headsWire = z.object({
  doc: opIdWire,
  heads: z.array(opIdWire),
  nextSeq: z.number().int().positive().optional().describe('With ?author=: its next seq.'),
})
const opsPageWire = z.object({
  doc: opIdWire,
  ops: z.array(z.string().regex(/^([0-9a-f]{2})+$/)).describe('Encoded ops (DAG-CBOR, hex).'),
  from: z.number().int().nonnegative(),
  next: z.number().int().nonnegative().nullable(),
  total: z.number().int().nonnegative(),
})

/** The client's address, as the sender of ops for the pending buffer's quotas. */
function remoteAddress(c: Context): string {
  try {
    return getConnInfo(c).remote.address ?? 'unknown'
  } catch {
    return 'unknown' // not served by the Node server (a test calling app.request)
  }
}

/** What the op routes need: the ledger, and every domain's documents (for their verdicts). */
export type OpsRoutesContext = {
  readonly ledger: Ledger
  readonly accounts: Accounts
  readonly bodyLimit: number
  readonly indexes: readonly DocIndex[]
}

/**
 * `POST /ops` (ops signed by clients, judged like a peer's, with their domain's verdict) and
 * `GET /docs/:doc/…` (heads and ops, to sign and to recompute). Domain-agnostic.
 */
export function opsRoutes(ctx: OpsRoutesContext): RouteGroup {
  const { ledger, indexes } = ctx
  const group = createRouteGroup({ prefix: '/', accounts: ctx.accounts, bodyLimit: ctx.bodyLimit })
  /** The verdict of an op's domain: a `{ [domain]: { counted: false, refused | excluded } }` field. */
  async function verdictOf(doc: OpId, id: OpId) {
    const index = indexes.find((i) => i.has(doc))
    const verdict = await index?.verdict(doc, id)
    if (!index || !verdict) return {}
    const outcome = verdict.name === EXCLUDED ? 'excluded' : 'refused'
    return {
      [index.domain.name]: {
        counted: false as const,
        [outcome]: { error: verdict.name, message: verdict.message },
      },
    }
  }
  group.route(
    {
      method: 'post',
      path: '/ops',
      summary: "Submit ops signed by the client (hex); each is verified and judged like a peer's.",
      tag: 'ops',
      body: opsSchema,
      response: opsResultWire,
    },
    async (c) => {
      const { ops } = await group.body(c, opsSchema)
      const bytes = ops.map((hex) => new Uint8Array(Buffer.from(hex.replace(/^0x/, ''), 'hex')))
      const results = await ledger.ingest(bytes, { source: `http:${remoteAddress(c)}` })
      return {
        results: await Promise.all(
          results.map(async (r) => {
            if (!r.ok) {
              // A refusal at admission names the domain's rule, for clients that branch on it.
              const rule = r.error instanceof OpRefusedError ? { rule: r.error.rule } : {}
              return { ok: false as const, ...errorResponse(r.error).body, ...rule }
            }
            // In the log either way; the domain's rules may still refuse it (or leave it out).
            const verdict = r.status === 'accepted' ? await verdictOf(r.doc, r.id) : {}
            return { ok: true as const, id: r.id, status: r.status, ...verdict }
          }),
        ),
      }
    },
  )
  const known = (doc: OpId) => {
    if (ledger.log.size(doc) === 0)
      throw new NotFoundError(`Document "${doc}" is not known to this node.`)
    return doc
  }
  group.route(
    {
      method: 'get',
      path: '/docs/:doc/heads',
      summary:
        "A document's heads, and the next seq of an author (for signing an op client-side). When there are more heads than an op may cite, the node folds them with merge ops first, so an op citing these heads follows every op the node holds.",
      tag: 'ops',
      query: headsQuery,
      response: headsWire,
    },
    async (c) => {
      const { author } = validate(headsQuery, c.req.query(), 'query')
      const doc = known(c.req.param('doc') as OpId)
      if (ledger.log.heads(doc).length > ledger.maxDeps)
        await ledger.fold(ctx.accounts.get(OPERATOR)!.signer, doc)
      const nextSeq = author
        ? ledger.log.lastSeq(doc, new Uint8Array(Buffer.from(author, 'hex'))) + 1
        : undefined
      return { doc, heads: ledger.log.heads(doc), nextSeq }
    },
  )
  group.route(
    {
      method: 'get',
      path: '/docs/:doc/ops',
      summary: `A document's ops in the log's deterministic order (hex), to recompute it, a page at a time: ?from=<index> (default 0) and ?limit= (default and at most ${OPS_PAGE_SIZE}); next is the from of the next page (null on the last), total the ops in the document.`,
      tag: 'ops',
      query: opsPageQuery,
      response: opsPageWire,
    },
    async (c) => {
      const { from = 0, limit = OPS_PAGE_SIZE } = validate(opsPageQuery, c.req.query(), 'query')
      const doc = known(c.req.param('doc') as OpId)
      const order = ledger.log.order(doc)
      const ids = order.slice(from, from + limit)
      const bytes = await ledger.getBytes(doc, ids)
      const next = from + ids.length < order.length ? from + ids.length : null
      return {
        doc,
        ops: bytes.map((b) => Buffer.from(b).toString('hex')),
        from,
        next,
        total: order.length,
      }
    },
  )
  return group
}
