import { z } from 'zod'

/** A status a route may answer with an error body (RFC 9110). */
export type ErrorStatus = 400 | 401 | 402 | 403 | 404 | 409 | 413 | 415 | 422 | 500 | 503

/** One documented route: what the OpenAPI document says about it, from the same zod schemas. */
export type RouteDoc = {
  readonly method: 'get' | 'post' | 'put' | 'patch' | 'delete'
  /** Hono-style path (`/audits/:audit`). */
  readonly path: string
  readonly summary: string
  readonly tag: string
  /** Needs `Authorization: Bearer <token>` of a local account. */
  readonly auth?: boolean
  readonly body?: z.ZodType | undefined
  readonly query?: z.ZodObject | undefined
  /**
   * The answer on success, as it travels (rwa's JSON: amounts as decimal strings, bytes as hex;
   * see src/http/wire.ts). Required: a route without one does not type-check.
   */
  readonly response: z.ZodType
  /** The media type of a success answer (JSON unless said; `response` is then `z.string()`). */
  readonly mediaType?: string
  /**
   * Error statuses the route answers besides those its shape implies (403 from the host guard;
   * 401 with `auth`; 400 and 413 with a body; 400 with a query; 404 with a path parameter).
   */
  readonly errors?: readonly ErrorStatus[]
  /** The body of an error answer, when it is not the shared `{ error, message }`. */
  readonly errorBody?: z.ZodType
}

/** The body of every error answer (except the Chainlink adapter's, which follow EA v2). */
export const errorWire = z
  .object({
    error: z.string().describe('The error name, stable across versions.'),
    message: z.string().describe('One sentence: what was wrong and what to do.'),
  })
  .describe('An error: its name and one sentence saying what was wrong and what to do.')

const ERROR_REF = { $ref: '#/components/schemas/Error' }

const STATUS_TEXT: Readonly<Record<ErrorStatus, string>> = {
  400: 'The request is malformed: not JSON, or a field or query parameter is wrong.',
  401: 'No token, or a token of no local account.',
  402: 'The call costs money: pay it through a payment channel (the message names the price).',
  403: 'Not allowed: the account may not do this, the Host is not this node, or another site asked.',
  404: 'Unknown: no such document, auditor, item or chain here.',
  409: 'Refused in the current state.',
  413: 'The body is larger than the node accepts (`[http] body_limit`).',
  415: 'The body is not of a media type the route takes.',
  422: 'A value is not valid (an amount, a ratio, a name).',
  500: 'The node hit an unexpected error.',
  503: 'Something the node needs is unavailable (the chain).',
}

/** The JSON Schema (2020-12, as OpenAPI 3.1 takes) of a zod schema. */
const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { unrepresentable: 'any', io })

/** The error statuses a route answers: those its shape implies, and those it declares. */
export function errorStatuses(route: RouteDoc): ErrorStatus[] {
  const statuses = new Set<ErrorStatus>([403, ...(route.errors ?? [])])
  if (route.auth) statuses.add(401)
  if (route.body) for (const s of [400, 413] as const) statuses.add(s)
  if (route.query) statuses.add(400)
  if (route.path.includes(':')) statuses.add(404)
  return [...statuses].sort((a, b) => a - b)
}

function responsesOf(route: RouteDoc): Record<string, unknown> {
  const errorSchema = route.errorBody ? jsonSchema(route.errorBody, 'output') : ERROR_REF
  const error = (description: string) => ({
    description,
    content: { 'application/json': { schema: errorSchema } },
  })
  const responses: Record<string, unknown> = {
    '200': {
      description: route.response.description ?? 'Success.',
      content: {
        [route.mediaType ?? 'application/json']: { schema: jsonSchema(route.response, 'output') },
      },
    },
  }
  for (const status of errorStatuses(route)) responses[status] = error(STATUS_TEXT[status])
  responses.default = error('Another error (500: unexpected, logged by the node).')
  return responses
}

function parametersOf(route: RouteDoc): unknown[] {
  return [
    ...[...route.path.matchAll(/:(\w+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    })),
    ...Object.entries(route.query?.shape ?? {}).map(([name, schema]) => ({
      name,
      in: 'query',
      required: !(schema as z.ZodType).safeParse(undefined).success,
      schema: jsonSchema(schema as z.ZodType, 'input'),
    })),
  ]
}

/** Builds the OpenAPI 3.1 document of `routes` (schemas are JSON Schema 2020-12, from zod). */
export function buildOpenApi(routes: readonly RouteDoc[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, '{$1}')
    const parameters = parametersOf(route)
    paths[path] ??= {}
    paths[path]![route.method] = {
      summary: route.summary,
      tags: [route.tag],
      ...(route.auth ? { security: [{ bearer: [] }] } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
            },
          }
        : {}),
      responses: responsesOf(route),
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'rwa node API',
      version,
      description:
        'Real World Auditor node. Convenience routes sign for local accounts (bearer token from the data dir); POST /ops takes ops signed by the client. Amounts are decimal strings in base units of their token; bytes are hex. An interactive page of this document is served at /api.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: jsonSchema(errorWire, 'output') },
    },
    paths,
  }
}
