import { z } from 'zod'
import { BaseError } from '../../errors/base.ts'
import { describeValue } from '../text.ts'
import { type Edit, MAX_EDITS } from './crdt.ts'

// The json domain's op types: `json.create` starts a document (its name, who may edit it, its
// first content) and `json.change` carries one change of many edits (see crdt.ts for the edits).

/** Thrown for a change by a key that may not edit the document. */
export class JsonForbiddenError extends BaseError {
  override name = 'JsonForbiddenError' as const
  override readonly kind = 'forbidden' as const
}

/** Thrown for a document's genesis or an op body that breaks a rule no state can fix. */
export class InvalidJsonInputError extends BaseError {
  override name = 'InvalidJsonInputError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown for a reference that names no document. */
export class JsonNotFoundError extends BaseError {
  override name = 'JsonNotFoundError' as const
  override readonly kind = 'not-found' as const
}

/** Thrown for a reference several documents answer to, or a JSON Patch `test` that fails. */
export class JsonConflictError extends BaseError {
  override name = 'JsonConflictError' as const
  override readonly kind = 'conflict' as const
}

export const JSON_OP = {
  create: 'json.create',
  change: 'json.change',
  editors: 'json.editors',
} as const

/** Longest name. */
export const MAX_NAME = 80
/** Most editors a document has (its owner included), and a genesis or an editors op names. */
export const MAX_EDITORS = 1000

const CONTROL = /\p{Cc}/u
const HEX_KEY = /^[0-9a-f]{64}$/

/** A document's genesis body. */
export type JsonCreateBody = {
  readonly name: string
  /** Ed25519 keys (hex) that may edit besides the creator. */
  readonly editors?: readonly string[]
  /** The audit whose auditors were made editors (informational). */
  readonly audit?: string
  /** The first content: plain JSON, `{ "$text": … }` and `{ "$counter": n }` for texts and counters. */
  readonly content?: Record<string, unknown>
}

/** A change of who may edit, by the document's owner. */
export type JsonEditorsBody = {
  /** Ed25519 keys (hex) that may edit from now on. */
  readonly add?: readonly string[]
  /** Ed25519 keys (hex) that may no longer edit (not the owner). */
  readonly remove?: readonly string[]
  /** The audit whose auditors were added (informational). */
  readonly audit?: string
}

export const BODIES = {
  [JSON_OP.create]: z
    .object({
      name: z.string().min(1).max(MAX_NAME).describe('What the document is called'),
      editors: z
        .array(z.string().regex(HEX_KEY))
        .max(MAX_EDITORS)
        .optional()
        .describe('Ed25519 public keys (hex) that may edit it, besides its creator'),
      audit: z
        .string()
        .optional()
        .describe('The audit whose auditors were named editors (for reference)'),
      content: z
        .record(z.string(), z.unknown())
        .optional()
        .describe(
          'First content: plain JSON; {"$text": "…"} makes a text, {"$counter": n} a counter',
        ),
    })
    .strict(),
  [JSON_OP.change]: z
    .object({
      e: z
        .array(z.record(z.string(), z.unknown()))
        .min(1)
        .max(MAX_EDITS)
        .describe('The edits: set, del, ins, rm and inc (see the README, "JSON documents")'),
      t: z
        .array(z.string())
        .optional()
        .describe('The ids of the ops the edits name; an edit names one by its index here'),
    })
    .strict(),
  [JSON_OP.editors]: z
    .object({
      add: z
        .array(z.string().regex(HEX_KEY))
        .max(MAX_EDITORS)
        .optional()
        .describe('Ed25519 public keys (hex) that may edit from now on'),
      remove: z
        .array(z.string().regex(HEX_KEY))
        .max(MAX_EDITORS)
        .optional()
        .describe('Ed25519 public keys (hex) that may no longer edit (never the owner)'),
      audit: z
        .string()
        .max(200)
        .optional()
        .describe('The audit whose auditors were added (for reference)'),
    })
    .strict(),
}

export const SUMMARIES: Record<keyof typeof BODIES, string> = {
  [JSON_OP.create]:
    'Starts a JSON document: its name, its editors and its first content; anyone may sign it.',
  [JSON_OP.change]:
    "One change of many edits to a document, signed by one of the document's editors.",
  [JSON_OP.editors]:
    'Adds and removes editors of a document; signed by its owner, each such op seeing the one before.',
}

/** Checks a genesis body, naming the field that is wrong. */
export function parseCreateBody(body: unknown): JsonCreateBody {
  const parsed = BODIES[JSON_OP.create].safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new InvalidJsonInputError(
      `The document's genesis is not valid: ${issue.path.join('.') || 'body'}: ${issue.message}.`,
    )
  }
  const value = parsed.data as JsonCreateBody
  if (CONTROL.test(value.name)) throw new InvalidJsonInputError('A name has no control characters.')
  return value
}

/** Checks an editors op's body, naming the field that is wrong. */
export function parseEditorsBody(body: unknown): JsonEditorsBody {
  const parsed = BODIES[JSON_OP.editors].safeParse(body)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    throw new InvalidJsonInputError(
      `The editors change is not valid: ${issue.path.join('.') || 'body'}: ${issue.message}.`,
    )
  }
  const value = parsed.data as JsonEditorsBody
  if ((value.add?.length ?? 0) + (value.remove?.length ?? 0) === 0)
    throw new InvalidJsonInputError(
      'An editors change adds or removes at least one key: give "add" or "remove".',
    )
  const removed = new Set(value.remove)
  const both = value.add?.find((key) => removed.has(key))
  if (both)
    throw new InvalidJsonInputError(
      `Key ${both.slice(0, 16)}… is both added and removed; give it once.`,
    )
  return value
}

// The packing below runs for every op a node signs or takes in: plain loops and module-level
// functions, no closures (the TypeScript loader names each closure it creates at run time).

/** The op ids a change names, and where each is in the list. */
type OpTable = { ids: string[]; at: Map<string, number> }

function tableIndex(table: OpTable, id: string): number {
  let i = table.at.get(id)
  if (i === undefined) {
    i = table.ids.length
    table.ids.push(id)
    table.at.set(id, i)
  }
  return i
}

function packRef<T>(table: OpTable, r: T): T {
  return (Array.isArray(r) && typeof r[0] === 'string' ? [tableIndex(table, r[0]), r[1]] : r) as T
}

/**
 * The body of a change: its edits, with the ids of the ops they name listed once in `t` and
 * named by index (`[i, offset]`), so a change of many edits stays small.
 */
export function changeBody(edits: readonly (Edit | unknown)[]): { e: unknown[]; t?: string[] } {
  const table: OpTable = { ids: [], at: new Map() }
  const e = new Array<unknown>(edits.length)
  for (let i = 0; i < edits.length; i++) {
    const edit = edits[i] as Edit
    // A client's raw edit that is not one goes as it is: the rules refuse it by name.
    if (typeof edit !== 'object' || edit === null) e[i] = edit
    else if (edit.o === 'ins')
      e[i] = {
        ...edit,
        obj: packRef(table, edit.obj),
        l: packRef(table, edit.l),
        r: packRef(table, edit.r),
      }
    else if (edit.o === 'rm' && Array.isArray(edit.d)) {
      const d = new Array<unknown>(edit.d.length)
      for (let k = 0; k < d.length; k++) {
        const range = edit.d[k]!
        d[k] =
          Array.isArray(range) && typeof range[0] === 'string'
            ? [tableIndex(table, range[0]), range[1], range[2]]
            : range
      }
      e[i] = { ...edit, obj: packRef(table, edit.obj), d }
    } else e[i] = { ...edit, obj: packRef(table, edit.obj) }
  }
  return table.ids.length ? { e, t: table.ids } : { e }
}

function opAt(table: readonly unknown[], i: unknown): string {
  if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= table.length)
    throw new InvalidJsonInputError(`An edit names op ${describeValue(i)}, not an index of "t".`)
  return table[i] as string
}

function unpackRef(table: readonly unknown[], r: unknown): unknown {
  return Array.isArray(r) && r.length === 2 ? [opAt(table, r[0]), r[1]] : r
}

const NO_OPS: readonly unknown[] = Object.freeze([])

/**
 * A change body's edits with the op ids put back (refusing a body that is not `{ e, t? }` or
 * names an op index outside `t`).
 */
export function unpackChange(body: unknown): Edit[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new InvalidJsonInputError('A change body is { "e": [edits], "t": [op ids] }.')
  const { e, t } = body as { e?: unknown; t?: unknown }
  for (const key in body)
    if (key !== 'e' && key !== 't')
      throw new InvalidJsonInputError(
        `A change body has only "e" and "t", not ${describeValue(key)}.`,
      )
  if (!Array.isArray(e) || e.length === 0 || e.length > MAX_EDITS)
    throw new InvalidJsonInputError(`A change has 1 to ${MAX_EDITS} edits in "e".`)
  let table = NO_OPS
  if (t !== undefined) {
    if (!Array.isArray(t) || t.length === 0 || t.length > MAX_EDITS * 3)
      throw new InvalidJsonInputError('"t" lists the op ids the edits name (1 or more).')
    for (let i = 0; i < t.length; i++)
      if (typeof t[i] !== 'string' || (t[i] as string).length > 100)
        throw new InvalidJsonInputError('"t" holds op ids.')
    table = t
  }
  const out = new Array<Edit>(e.length)
  for (let i = 0; i < e.length; i++) {
    const edit = e[i] as unknown
    if (typeof edit !== 'object' || edit === null || Array.isArray(edit))
      throw new InvalidJsonInputError('An edit is an object.')
    const x = edit as Record<string, unknown>
    if (x.o === 'ins')
      out[i] = {
        ...x,
        obj: unpackRef(table, x.obj),
        l: unpackRef(table, x.l),
        r: unpackRef(table, x.r),
      } as Edit
    else if (x.o === 'rm') {
      if (!Array.isArray(x.d)) throw new InvalidJsonInputError('rm carries d, a list of ranges.')
      const d = new Array<unknown>(x.d.length)
      for (let k = 0; k < d.length; k++) {
        const range = x.d[k] as unknown
        if (!Array.isArray(range) || range.length !== 3)
          throw new InvalidJsonInputError('A deleted range is [op, offset, length].')
        d[k] = [range[0] === -1 ? -1 : opAt(table, range[0]), range[1], range[2]]
      }
      out[i] = { ...x, obj: unpackRef(table, x.obj), d } as unknown as Edit
    } else out[i] = { ...x, obj: unpackRef(table, x.obj) } as Edit
  }
  return out
}
