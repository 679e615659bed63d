import type { IncomingMessage } from 'node:http'
import type { Context } from 'hono'
import type { z } from 'zod'
import { MalformedJsonError, PayloadTooLargeError, ValidationError } from './errors.ts'

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
  return (await readChunks(c, incoming, limit)).toString('utf8')
}

/** Reads a request body as bytes (a proxied body may be anything), refusing more than `limit` bytes. */
export async function readBodyBytes(c: Context, limit: number): Promise<Uint8Array> {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
  if (!incoming) {
    const bytes = new Uint8Array(await c.req.arrayBuffer())
    if (bytes.byteLength > limit) throw tooLarge(c, limit)
    return bytes
  }
  if (Number(incoming.headers['content-length'] ?? Number.NaN) > limit) throw tooLarge(c, limit)
  return readChunks(c, incoming, limit)
}

/** The rest of a request's stream, refusing more than `limit` bytes. */
async function readChunks(c: Context, incoming: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of incoming as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > limit) throw tooLarge(c, limit)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
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
