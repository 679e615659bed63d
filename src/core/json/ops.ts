import { z } from 'zod'
import { BaseError } from '../../errors/base.ts'
import { MAX_EDITS } from './crdt.ts'

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

/** The body of a change. */
export const changeBody = (edits: readonly unknown[]) => ({ e: edits })
