import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js'
import { expect } from 'vitest'
import { callJson } from './node-fixture.ts'

// Calls impact routes by their template in /openapi.json and checks every answer, success and
// error, against the schema the document gives for it (the impact tests' part of what
// openapi.test.ts does for the audits).

// biome-ignore lint/suspicious/noExplicitAny: answers are checked by their schemas, not by type
export type Json = Record<string, any>
type Doc = {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: Json }> }> }>
  >
  components: { schemas: Json }
}

/** A node's API, checked against its own document. */
export class CheckedApi {
  /** `post /impact/{community}/requests 200`, … for each answer checked. */
  readonly seen = new Set<string>()
  private readonly ajv = new Ajv2020({ strict: true, allErrors: true })
  private readonly compiled = new Map<string, ValidateFunction>()

  private constructor(
    readonly url: string,
    readonly doc: Doc,
  ) {}

  static async open(url: string): Promise<CheckedApi> {
    return new CheckedApi(url, (await (await fetch(`${url}/openapi.json`)).json()) as Doc)
  }

  /** Every impact operation of the document, as `method path`. */
  impactOperations(): string[] {
    return this.operationsUnder('/impact')
  }

  /** Every operation of the document under `prefix` (a domain's routes), as `method path`. */
  operationsUnder(prefix: string): string[] {
    return Object.entries(this.doc.paths)
      .filter(([path]) => path === prefix || path.startsWith(`${prefix}/`))
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`))
  }

  private schemaOf(method: string, path: string, status: number): Json {
    const response = this.doc.paths[path]?.[method]?.responses[String(status)]
    expect(response, `${method} ${path} declares status ${status}`).toBeDefined()
    const schema = Object.values(response!.content ?? {})[0]!.schema
    return schema.$ref === '#/components/schemas/Error' ? this.doc.components.schemas.Error : schema
  }

  /** Calls `method path` (`{name}` filled from `params`), checks the answer's schema and status. */
  async expect(
    status: number,
    method: 'get' | 'post' | 'delete',
    path: string,
    {
      params = {},
      query = '',
      token,
      body,
      raw,
    }: {
      params?: Record<string, string | number>
      query?: string
      token?: string | undefined
      body?: unknown
      raw?: string
    } = {},
  ): Promise<Json> {
    const url = path.replace(/\{(\w+)\}/g, (_, name: string) => {
      expect(params[name], `parameter ${name}`).toBeDefined()
      return encodeURIComponent(String(params[name]))
    })
    const response = await callJson(this.url, method.toUpperCase(), `${url}${query}`, {
      token,
      body,
      raw,
    })
    const json = response.json as Json
    const key = `${method} ${path} ${response.status}`
    let validate = this.compiled.get(key)
    if (!validate) {
      validate = this.ajv.compile(this.schemaOf(method, path, response.status))
      this.compiled.set(key, validate)
    }
    expect(
      validate(json) ? [] : validate.errors,
      `${key} answers ${JSON.stringify(json).slice(0, 400)}`,
    ).toEqual([])
    this.seen.add(key)
    expect(response.status, `${method} ${url}: ${JSON.stringify(json).slice(0, 400)}`).toBe(status)
    return json
  }
}

/** Polls `check` until it holds (a node's services work on their own timers). */
export async function until(what: string, check: () => Promise<boolean> | boolean, ms = 60_000) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
