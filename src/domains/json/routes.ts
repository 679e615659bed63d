import type { Context } from 'hono'
import { z } from 'zod'
import type { JsonCrdt } from '../../core/json/crdt.ts'
import { InvalidJsonInputError, JsonNotFoundError } from '../../core/json/ops.ts'
import { applyJsonPatch, parsePointer, resolvePath } from '../../core/json/patch.ts'
import { rebaseSplices } from '../../core/json/rebase.ts'
import { parseJsonText, readBodyText, validate } from '../../http/body.ts'
import { UnsupportedMediaTypeError } from '../../http/errors.ts'
import type { RouteDoc } from '../../http/openapi.ts'
import { DEFAULT_PAGE_SIZE, listPageQuery } from '../../http/page.ts'
import { createRouteGroup, type RouteGroup, sendJson } from '../../http/route-group.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { Accounts } from '../../node/accounts.ts'
import type { JsonActions } from './actions.ts'
import type { JsonIndex, JsonLive } from './live.ts'
import {
  changedWire,
  changesBody,
  contentQuery,
  contentWire,
  createBody,
  createdWire,
  editorsBody,
  editorsWire,
  eventsWire,
  historyQuery,
  historyWire,
  listWire,
  type PathTokens,
  textBody,
} from './wire.ts'

// The `/json` routes (issue 23): list and create documents, read one (as plain JSON, or with its
// metadata), change it by JSON Patch, by raw CRDT edits or by text splices rebased onto what
// changed since the client's version, its history from the ledger, and its change feed (SSE).

/** What the json routes need from the node. */
export type JsonRoutesContext = {
  readonly index: JsonIndex
  readonly actions: JsonActions
  readonly live: JsonLive
  readonly ledger: Ledger
  readonly accounts: Accounts
  readonly bodyLimit: number
}

const TAG = 'json'
/** Media types `PATCH /json/:doc` takes (RFC 6902 §6 names the first). */
const PATCH_TYPES = /^application\/(json-patch\+)?json\s*(;|$)/i
const HISTORY_PAGE = 100

/** The `/json` routes; changes are signed by the node for the bearer token's account. */
export function jsonRoutes(ctx: JsonRoutesContext): RouteGroup {
  const { index, actions, live, ledger } = ctx
  const group = createRouteGroup({
    prefix: '/json',
    accounts: ctx.accounts,
    bodyLimit: ctx.bodyLimit,
  })
  const { route } = group
  const docOf = (c: Context) => index.resolve(c.req.param('doc') ?? '')

  route(
    {
      method: 'get',
      path: '/',
      summary:
        'The JSON documents this node holds, by name: ?limit= (default 100, at most 1000) and ?after=<next>.',
      tag: TAG,
      query: listPageQuery,
      response: listWire,
    },
    (c) => {
      const { limit = DEFAULT_PAGE_SIZE, after } = validate(listPageQuery, c.req.query(), 'query')
      const { items, next } = index.page(after, limit)
      return {
        documents: items.map((d) => ({
          id: d.id,
          name: d.name,
          editors: d.editors,
          changes: d.changes,
        })),
        next,
      }
    },
  )
  route(
    {
      method: 'post',
      path: '/',
      summary:
        "Start a JSON document; the account signs its genesis and is an editor. `audit` (a name or id) makes that audit's registered auditors editors too.",
      tag: TAG,
      auth: true,
      body: createBody,
      response: createdWire,
      errors: [409, 422],
    },
    async (c, account) => {
      const body = await group.body(c, createBody)
      return actions.create(account, body)
    },
  )
  route(
    {
      method: 'get',
      path: '/:doc',
      summary:
        'A document as plain JSON; with ?meta=1, its id, name, owner, editors, version, the paths of its texts and its content.',
      tag: TAG,
      query: contentQuery,
      response: contentWire,
    },
    async (c) => {
      const { meta } = validate(contentQuery, c.req.query(), 'query')
      const id = docOf(c)
      if (meta !== '1' && meta !== 'true')
        return (await index.reducer(id)).content() as Record<string, unknown>
      const reducer = await live.follow(id)
      const state = reducer.state()
      return {
        id,
        name: state.name,
        owner: state.owner,
        editors: state.editors,
        audit: state.audit ?? null,
        version: reducer.size,
        texts: textPaths(reducer.crdt),
        content: state.content,
      }
    },
  )
  route(
    {
      method: 'post',
      path: '/:doc/changes',
      summary:
        'Sign raw CRDT edits (set, del, ins, rm, inc; as a json.change carries them) made on a replica of the client.',
      tag: TAG,
      auth: true,
      body: changesBody,
      response: changedWire,
      errors: [403, 409, 422],
    },
    async (c, account) => {
      const { edits } = await group.body(c, changesBody)
      return actions.edits(account, docOf(c), edits)
    },
  )
  route(
    {
      method: 'post',
      path: '/:doc/text',
      summary:
        'Splice a text: `splices` were made on the text at `path` as it was at version `base`; they are rebased onto what changed since (409 when `base` is older than the node keeps) and signed as one change.',
      tag: TAG,
      auth: true,
      body: textBody,
      response: changedWire,
      errors: [403, 409, 422],
    },
    async (c, account) => {
      const { path, base, splices } = await group.body(c, textBody)
      const id = docOf(c)
      await live.follow(id)
      return actions.change(account, id, (change, crdt) => {
        const text = textAt(crdt, typeof path === 'string' ? parsePointer(path) : path)
        for (const [pos, del, ins] of rebaseSplices(splices, live.textSince(id, crdt, text, base)))
          change.splice(text, pos, del, ins)
      })
    },
  )
  route(
    {
      method: 'post',
      path: '/:doc/editors',
      summary:
        "Add and remove editors (the owner's account only): `add` and `remove` keys, `audit` (a name or id) adds its registered auditors. Signed as one json.editors op; changes that saw it are judged on the new editors.",
      tag: TAG,
      auth: true,
      body: editorsBody,
      response: editorsWire,
      errors: [403, 409, 422],
    },
    async (c, account) => {
      const body = await group.body(c, editorsBody)
      return actions.editors(account, docOf(c), body)
    },
  )
  route(
    {
      method: 'get',
      path: '/:doc/history',
      summary:
        "A document's ops in the ledger's order: author, seq, time and edits of each; ?limit= (default 100, at most 1000) and ?after=<next>.",
      tag: TAG,
      query: historyQuery,
      response: historyWire,
    },
    async (c) => {
      const { after, limit = HISTORY_PAGE } = validate(historyQuery, c.req.query(), 'query')
      return history(ledger, docOf(c), after as OpId | undefined, limit)
    },
  )

  // PATCH and the change feed answer other than JSON: Hono routes, documented below.
  group.app.patch('/:doc', async (c) => {
    const account = ctx.accounts.authenticate(c.req.header('authorization'))
    const type = c.req.header('content-type') ?? ''
    if (!PATCH_TYPES.test(type))
      throw new UnsupportedMediaTypeError(
        `PATCH takes a JSON Patch as application/json-patch+json (or application/json), not ${JSON.stringify(type.slice(0, 80))}.`,
      )
    const id = docOf(c)
    const patch = parseJsonText(await readBodyText(c, ctx.bodyLimit))
    if (!Array.isArray(patch))
      throw new InvalidJsonInputError(
        'A JSON Patch is an array of operations ([{"op": "replace", "path": "/title", "value": "…"}]); see RFC 6902.',
      )
    const changed = await actions.change(account, id, (change, crdt) =>
      applyJsonPatch(change, crdt, patch),
    )
    return sendJson(c, changed)
  })
  group.app.get('/:doc/events', (c) => live.stream(c, docOf(c)))

  const docs: RouteDoc[] = [
    {
      method: 'patch',
      path: '/json/:doc',
      summary:
        'Change a document with a JSON Patch (RFC 6902; application/json-patch+json or application/json): add, remove, replace, move, copy, test; a text replaced by a string is spliced where they differ. Signed as one change.',
      tag: TAG,
      auth: true,
      body: jsonPatchDoc,
      response: changedWire,
      errors: [403, 409, 415, 422],
    },
    {
      method: 'get',
      path: '/json/:doc/events',
      summary: `A document's change feed (text/event-stream): a snapshot, then each op as it applies; at most [domains.json] max_streams feeds per node (503 past it).`,
      tag: TAG,
      response: eventsWire,
      mediaType: 'text/event-stream',
      errors: [503],
    },
  ]
  return { prefix: group.prefix, app: group.app, docs: [...group.docs, ...docs] }
}

const jsonPatchDoc = z
  .array(
    z.object({
      op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']),
      path: z.string().describe('A JSON Pointer.'),
      from: z.string().optional(),
      value: z.unknown().optional(),
    }),
  )
  .describe('A JSON Patch (RFC 6902).')

/** The text container at `path`. */
function textAt(crdt: JsonCrdt, path: PathTokens): number {
  const at = resolvePath(crdt, path)
  if (!('container' in at) || crdt.kind(at.container) !== 'text')
    throw new InvalidJsonInputError(
      `${JSON.stringify(path)} is not a text; texts are made with {"$text": "…"} (GET ?meta=1 lists them).`,
    )
  return at.container
}

/** The paths of a document's texts (as keys and list indices), in the order they were made. */
function textPaths(crdt: JsonCrdt): (string | number)[][] {
  const paths: (string | number)[][] = []
  for (let id = 1; id < crdt.containers.length; id++) {
    if (crdt.kind(id) !== 'text') continue
    const path = crdt.pathOf(id)
    if (path) paths.push(path)
  }
  return paths
}

async function history(ledger: Ledger, doc: OpId, after: OpId | undefined, limit: number) {
  const order = ledger.log.order(doc)
  let start = 0
  if (after !== undefined) {
    start = order.indexOf(after) + 1
    if (start === 0)
      throw new JsonNotFoundError(
        `Op "${after}" is not in this document; give the "next" of the page before.`,
      )
  }
  const ids = order.slice(start, start + limit)
  const ops = await ledger.getOps(doc, ids)
  const items = ops.flatMap((op) => {
    if (!op) return []
    const body = op.op.body as { e?: unknown; content?: unknown } | null
    const edits = Array.isArray(body?.e)
      ? body.e.length
      : body?.content && typeof body.content === 'object'
        ? Object.keys(body.content).length
        : 0
    return [
      {
        op: op.id,
        type: op.op.type,
        author: Buffer.from(op.op.author).toString('hex'),
        seq: op.op.seq,
        time: op.op.time,
        edits,
      },
    ]
  })
  return { items, next: start + limit < order.length ? (ids[ids.length - 1] ?? null) : null }
}
