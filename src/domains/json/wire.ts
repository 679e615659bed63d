import { z } from 'zod'
import { MAX_EDITS } from '../../core/json/crdt.ts'
import { MAX_EDITORS, MAX_NAME } from '../../core/json/ops.ts'
import { keyWire, opIdWire } from '../../http/wire.ts'

// The `/json` routes' bodies and answers as they travel. Paths in a document are JSON Pointers
// (RFC 6901) or arrays of keys and list indices, as the change feed's patches give them.

/** Most splices one `POST /json/:doc/text` carries. */
export const MAX_SPLICES = 1000
/** Longest path, in keys. */
export const MAX_PATH = 64

const version = z
  .number()
  .int()
  .nonnegative()
  .describe("The document's version: how many of its ops this node has applied.")

/** A path: a JSON Pointer, or its keys and list indices. */
export const pathWire = z
  .union([
    z.string().max(8192),
    z.array(z.union([z.string().max(256), z.number().int().nonnegative()])).max(MAX_PATH),
  ])
  .describe('A JSON Pointer ("/notes/0/body") or its keys and list indices (["notes", 0, "body"]).')

export const createBody = z
  .object({
    name: z.string().min(1).max(MAX_NAME).describe('What the document is called.'),
    editors: z
      .array(keyWire)
      .max(MAX_EDITORS)
      .optional()
      .describe('Ed25519 keys (hex) that may edit it besides the account creating it.'),
    audit: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('An audit (name or id) whose registered auditors become editors too.'),
    content: z
      .record(z.string(), z.unknown())
      .optional()
      .describe(
        'First content: plain JSON; {"$text": "…"} makes a text, {"$counter": n} a counter.',
      ),
  })
  .strict()

export const createdWire = z.object({ doc: opIdWire, editors: z.array(keyWire) })

export const editorsBody = z
  .object({
    add: z
      .array(keyWire)
      .max(MAX_EDITORS)
      .optional()
      .describe('Ed25519 keys (hex) that may edit from now on.'),
    remove: z
      .array(keyWire)
      .max(MAX_EDITORS)
      .optional()
      .describe('Ed25519 keys (hex) that may no longer edit (never the owner).'),
    audit: z
      .string()
      .min(1)
      .max(100)
      .optional()
      .describe('An audit (name or id) whose registered auditors are added.'),
  })
  .strict()

export const editorsWire = z.object({
  op: opIdWire
    .nullable()
    .describe('The json.editors op signed; null when the editors were already so.'),
  editors: z.array(keyWire).describe('Who may edit now (the owner included), sorted.'),
  version,
})

const summaryWire = z.object({
  id: opIdWire,
  name: z.string(),
  editors: z.number().int().describe('How many keys may edit it.'),
  changes: z.number().int().describe('Changes that count.'),
})

export const listWire = z.object({
  documents: z.array(summaryWire),
  next: opIdWire.nullable().describe('The `after` of the next page; null on the last.'),
})

export const contentWire = z
  .record(z.string(), z.unknown())
  .describe(
    'The document as plain JSON (texts as strings, counters as numbers). With ?meta=1: { id, name, owner, editors, audit, version, texts, content }, texts being the paths of its text containers.',
  )

export const contentQuery = z.object({
  meta: z
    .enum(['0', '1', 'true', 'false'])
    .optional()
    .describe('1: the document with its metadata.'),
})

export const changedWire = z.object({
  op: opIdWire.nullable().describe('The change signed; null when there was nothing to change.'),
  version,
})

export const changesBody = z
  .object({
    edits: z
      .array(z.record(z.string(), z.unknown()))
      .min(1)
      .max(MAX_EDITS)
      .describe('CRDT edits (set, del, ins, rm, inc), as a json.change op carries them.'),
  })
  .strict()

const spliceWire = z.tuple([
  z.number().int().nonnegative().describe('position (UTF-16 units)'),
  z.number().int().nonnegative().describe('characters removed'),
  z.string().describe('text inserted'),
])

export const textBody = z
  .object({
    path: pathWire,
    base: version.describe('The version the splices were made on.'),
    splices: z
      .array(spliceWire)
      .min(1)
      .max(MAX_SPLICES)
      .describe('[pos, del, ins], each applied on the text as the one before left it.'),
  })
  .strict()

export const historyQuery = z.object({
  after: opIdWire.optional().describe('The `next` of the page before.'),
  limit: z.coerce.number().int().min(1).max(1000, 'at most 1000 per page').optional(),
})

export const historyWire = z.object({
  items: z.array(
    z.object({
      op: opIdWire,
      type: z.string(),
      author: keyWire,
      seq: z.number().int(),
      time: z.number().int().describe('ms since the epoch, as its author stated it'),
      edits: z.number().int().describe('Edits of a change (top-level keys of a genesis content).'),
    }),
  ),
  next: opIdWire.nullable().describe('The `after` of the next page; null on the last.'),
})

export const eventsWire = z
  .string()
  .describe(
    'Server-sent events: `snapshot` {version, content} first, then `change` {version, op, type, author, patches} for each op the node applies to the document, in order (patches: {action: put|del|splice|insert|remove|inc, path, …}); comment lines keep the stream alive.',
  )

/** A path as keys and list indices. */
export type PathTokens = readonly (string | number)[]
