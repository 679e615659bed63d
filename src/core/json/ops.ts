import { z } from 'zod'
import { BaseError } from '../../errors/base.ts'
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
} as const

/** Longest name. */
export const MAX_NAME = 80
/** Most editors a genesis names. */
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
}

export const SUMMARIES: Record<keyof typeof BODIES, string> = {
  [JSON_OP.create]:
    'Starts a JSON document: its name, its editors and its first content; anyone may sign it.',
  [JSON_OP.change]:
    "One change of many edits to a document, signed by one of the document's editors.",
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

/**
 * The body of a change: its edits, with the ids of the ops they name listed once in `t` and
 * named by index (`[i, offset]`), so a change of many edits stays small.
 */
export function changeBody(edits: readonly Edit[]): { e: unknown[]; t?: string[] } {
  const table: string[] = []
  const at = new Map<string, number>()
  const index = (id: string) => {
    let i = at.get(id)
    if (i === undefined) {
      i = table.length
      table.push(id)
      at.set(id, i)
    }
    return i
  }
  const ref = <T>(r: T): T =>
    (Array.isArray(r) && typeof r[0] === 'string' ? [index(r[0]), r[1]] : r) as T
  const e = edits.map((edit) => {
    switch (edit.o) {
      case 'ins':
        return { ...edit, obj: ref(edit.obj), l: ref(edit.l), r: ref(edit.r) }
      case 'rm':
        return {
          ...edit,
          obj: ref(edit.obj),
          d: edit.d.map(([op, offset, len]) => [op === -1 ? -1 : index(op), offset, len]),
        }
      default:
        return { ...edit, obj: ref(edit.obj) }
    }
  })
  return table.length ? { e, t: table } : { e }
}

/**
 * A change body's edits with the op ids put back (refusing a body that is not `{ e, t? }` or
 * names an op index outside `t`).
 */
export function unpackChange(body: unknown): Edit[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new InvalidJsonInputError('A change body is { "e": [edits], "t": [op ids] }.')
  const { e, t, ...rest } = body as { e?: unknown; t?: unknown }
  if (Object.keys(rest).length > 0)
    throw new InvalidJsonInputError(
      `A change body has only "e" and "t", not ${describeKeys(rest)}.`,
    )
  if (!Array.isArray(e) || e.length === 0 || e.length > MAX_EDITS)
    throw new InvalidJsonInputError(`A change has 1 to ${MAX_EDITS} edits in "e".`)
  const table: unknown[] = t === undefined ? [] : Array.isArray(t) ? t : []
  if (t !== undefined && (!Array.isArray(t) || t.length === 0 || t.length > MAX_EDITS * 3))
    throw new InvalidJsonInputError('"t" lists the op ids the edits name (1 or more).')
  for (const id of table)
    if (typeof id !== 'string' || id.length > 100)
      throw new InvalidJsonInputError('"t" holds op ids.')
  const op = (i: unknown): string => {
    if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= table.length)
      throw new InvalidJsonInputError(
        `An edit names op ${String(i).slice(0, 20)}, not an index of "t".`,
      )
    return table[i] as string
  }
  const ref = (r: unknown): unknown => (Array.isArray(r) && r.length === 2 ? [op(r[0]), r[1]] : r)
  return e.map((edit: unknown) => {
    if (typeof edit !== 'object' || edit === null || Array.isArray(edit))
      throw new InvalidJsonInputError('An edit is an object.')
    const x = edit as Record<string, unknown>
    if (x.o === 'ins') return { ...x, obj: ref(x.obj), l: ref(x.l), r: ref(x.r) } as Edit
    if (x.o === 'rm') {
      if (!Array.isArray(x.d)) throw new InvalidJsonInputError('rm carries d, a list of ranges.')
      return {
        ...x,
        obj: ref(x.obj),
        d: x.d.map((range: unknown) => {
          if (!Array.isArray(range) || range.length !== 3)
            throw new InvalidJsonInputError('A deleted range is [op, offset, length].')
          return [range[0] === -1 ? -1 : op(range[0]), range[1], range[2]]
        }),
      } as unknown as Edit
    }
    return { ...x, obj: ref(x.obj) } as Edit
  })
}

const describeKeys = (o: object) =>
  Object.keys(o)
    .slice(0, 3)
    .map((k) => JSON.stringify(k.slice(0, 20)))
    .join(', ')
