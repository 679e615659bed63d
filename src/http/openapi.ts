import { z } from 'zod'

/** One documented route: what the OpenAPI document says about it, from the same zod schemas. */
export type RouteDoc = {
  readonly method: 'get' | 'post' | 'delete'
  /** Hono-style path (`/audits/:audit`). */
  readonly path: string
  readonly summary: string
  readonly tag: string
  /** Needs `Authorization: Bearer <token>` of a local account. */
  readonly auth?: boolean
  readonly body?: z.ZodType | undefined
  readonly query?: z.ZodObject | undefined
  /** Describes the JSON answered on success. */
  readonly response?: string
}

const ERROR_SCHEMA = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', description: 'The error name, stable across versions.' },
    message: { type: 'string', description: 'One sentence: what was wrong and what to do.' },
  },
}

/** Builds the OpenAPI 3.1 document of `routes` (schemas are JSON Schema 2020-12, from zod). */
export function buildOpenApi(routes: readonly RouteDoc[], version: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, '{$1}')
    const parameters = [
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
        schema: z.toJSONSchema(schema as z.ZodType, { unrepresentable: 'any' }),
      })),
    ]
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
              content: {
                'application/json': {
                  schema: z.toJSONSchema(route.body, { unrepresentable: 'any', io: 'input' }),
                },
              },
            },
          }
        : {}),
      responses: {
        '200': {
          description: route.response ?? 'Success.',
          content: { 'application/json': { schema: { type: 'object' } } },
        },
        default: {
          description:
            'An error: 400 bad input, 401 no or unknown token, 403 not allowed, 404 unknown, 409 refused in this state, 413 too large, 422 invalid value.',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'rwa node API',
      version,
      description:
        'Real World Auditor node. Convenience routes sign for local accounts (bearer token from the data dir); POST /ops takes ops signed by the client.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: ERROR_SCHEMA },
    },
    paths,
  }
}
