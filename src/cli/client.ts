import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BaseError, type ErrorKind } from '../errors/base.ts'
import type { Signer } from '../ledger/keys.ts'
import type { EncodedOp } from '../ledger/op.ts'
import type { OpId } from '../ledger/op-id.ts'
import { DEFAULT_PORT } from '../node/data-dir.ts'

/** An error the node answered, or the node not answering at all. */
export class NodeRequestError extends BaseError {
  override name = 'NodeRequestError' as const
  /** The kind of the node's answer (`unavailable` when no node answered). */
  override readonly kind: ErrorKind
  constructor(
    message: string,
    readonly status: number,
    readonly error: string,
  ) {
    super(message)
    this.kind = kindOfStatus(status)
  }
}

/** The kind of error an HTTP status stands for. */
function kindOfStatus(status: number): ErrorKind {
  const kinds: Record<number, ErrorKind> = {
    401: 'unauthorised',
    402: 'payment-required',
    403: 'forbidden',
    404: 'not-found',
    409: 'conflict',
    413: 'too-large',
    415: 'unsupported',
    422: 'invalid',
  }
  return kinds[status] ?? (status >= 500 || status === 0 ? 'unavailable' : 'malformed')
}

/**
 * The URL of the node in `dataDir`: what it wrote in run.json when it started, else the port of
 * its config (a stopped node must not be mistaken for another one on the default port), else
 * the default port (no node there yet).
 */
export async function localNodeUrl(dataDir: string): Promise<string> {
  const run = join(dataDir, 'run.json')
  if (existsSync(run)) return (JSON.parse(readFileSync(run, 'utf8')) as { url: string }).url
  if (existsSync(join(dataDir, 'config.toml'))) {
    // Only here, for a node that is not running: validating a config loads zod.
    const { loadConfig } = await import('../node/config.ts')
    const { host, port } = loadConfig(dataDir).http
    // Port 0 (a free one each start): a stopped node has no URL; this one answers nothing.
    return `http://${host}:${port}`
  }
  return `http://127.0.0.1:${DEFAULT_PORT}`
}

/** One page of `GET /docs/:doc/ops`. */
type OpsPage = { ops: string[]; from?: number; next?: number | null; total?: number }

/** How many times `ops` walks a document that changes under it before it gives up. */
const MAX_OPS_ATTEMPTS = 5

/** One result of `POST /ops`, with the op's domain's verdict under the domain's name. */
type SubmitResult = {
  ok: boolean
  status?: string
  error?: string
  /** Of an op refused at admission: the domain rule's error name. */
  rule?: string
  message?: string
  [domain: string]: unknown
}

/**
 * One HTTP exchange through node:http(s). Not `fetch`: loading Node's fetch (undici) costs a
 * command more than the rest of its start-up.
 */
async function send(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  idleTimeoutMs: number,
): Promise<{ status: number; text: string }> {
  const { request } =
    url.protocol === 'https:' ? await import('node:https') : await import('node:http')
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.once('error', reject)
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      )
    })
    req.once('error', reject)
    // A node that takes the connection and then says nothing does not hang the command for ever
    // (fetch, used before, gave up after 300 s too).
    req.setTimeout(idleTimeoutMs, () =>
      req.destroy(
        new Error(
          `no answer for ${idleTimeoutMs >= 1000 ? `${Math.round(idleTimeoutMs / 1000)} s` : `${idleTimeoutMs} ms`}`,
        ),
      ),
    )
    req.end(body)
  })
}

/** A small JSON client of a node's HTTP API. */
export class NodeClient {
  #url: string | undefined
  readonly #findUrl: (() => Promise<string>) | undefined

  /** `url`: the node's, or a function finding it (called once, by the first request). */
  constructor(
    url: string | (() => Promise<string>),
    readonly token?: string | undefined,
    /** How long a request may go without a byte from the node before it fails. */
    readonly idleTimeoutMs = 300_000,
  ) {
    if (typeof url === 'string') this.#url = url
    else this.#findUrl = url
  }

  /** The node's URL (once the first request has found it, when it is found lazily). */
  get url(): string {
    return this.#url ?? '(the local node)'
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    this.#url ??= await this.#findUrl!()
    let response: { status: number; text: string }
    try {
      response = await send(
        new URL(path, this.url),
        method,
        {
          'content-type': 'application/json',
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body === undefined ? undefined : JSON.stringify(body),
        this.idleTimeoutMs,
      )
    } catch (cause) {
      throw new NodeRequestError(
        `No node answers at ${this.url} (${reasonOf(cause)}); start one with "rwa start", or pass --node <url>.`,
        0,
        'NodeUnreachable',
      )
    }
    const { text } = response
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new NodeRequestError(
        `The node at ${this.url} answered ${response.status} with something that is not JSON.`,
        response.status,
        'BadResponse',
      )
    }
    if (response.status < 200 || response.status > 299) {
      const { error, message } = json as { error?: string; message?: string }
      throw new NodeRequestError(
        message ?? `HTTP ${response.status}`,
        response.status,
        error ?? 'HttpError',
      )
    }
    return json as T
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path)
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body)
  }

  /**
   * Downloads a document's ops in the log's order, checking every signature: the CLI recomputes
   * state from the log, not from the node's word about it.
   */
  async ops(doc: OpId): Promise<EncodedOp[]> {
    const { decodeOp } = await import('../ledger/op-decode.ts')
    const { verifyOp } = await import('../ledger/op-encode.ts')
    const decoded = (await this.opsHex(doc)).map((hex) =>
      decodeOp(new Uint8Array(Buffer.from(hex, 'hex'))),
    )
    for (const op of decoded)
      if (!verifyOp(op))
        throw new NodeRequestError(
          `The node served op "${op.id}" with a bad signature.`,
          0,
          'BadOp',
        )
    return decoded
  }

  /**
   * Every op of a document (hex), walking `GET /docs/:doc/ops` page by page. Ops accepted while
   * it walks can shift the order under it, so it starts again (a few times at most) unless the
   * document kept its size and every page followed the one before.
   */
  private async opsHex(doc: OpId): Promise<string[]> {
    for (let attempt = 0; attempt < MAX_OPS_ATTEMPTS; attempt++) {
      const first = await this.get<OpsPage>(`/docs/${doc}/ops`)
      const ops = [...first.ops]
      // Old nodes answer every op at once, with no next.
      let next = first.next ?? null
      let steady = true
      while (next !== null && steady) {
        const page: OpsPage = await this.get<OpsPage>(`/docs/${doc}/ops?from=${next}`)
        // Each page must move on and stay within the total, or the walk could go on forever.
        steady = page.total === first.total && page.from === ops.length && page.ops.length > 0
        ops.push(...page.ops)
        if (first.total === undefined || ops.length > first.total) steady = false
        next = page.next ?? null
      }
      if (steady && (first.total === undefined || ops.length === first.total)) return ops
    }
    throw new NodeRequestError(
      `Document "${doc}" kept changing while its ops were read; try again.`,
      0,
      'DocumentChanging',
    )
  }

  /** Signs an op on the document's current heads and submits it through `POST /ops`. */
  async submit(
    signer: Signer,
    draft: { doc: OpId | null; type: string; body: unknown; time?: number },
  ): Promise<EncodedOp> {
    const { DEFAULT_MAX_DEPS } = await import('../ledger/op.ts')
    const { signOp } = await import('../ledger/op-encode.ts')
    const author = Buffer.from(signer.publicKey).toString('hex')
    const { heads, nextSeq } =
      draft.doc === null
        ? { heads: [] as OpId[], nextSeq: 1 }
        : await this.get<{ heads: OpId[]; nextSeq: number }>(
            `/docs/${draft.doc}/heads?author=${author}`,
          )
    const op = signOp(
      {
        v: 1,
        doc: draft.doc,
        author: signer.publicKey,
        seq: nextSeq,
        deps: heads.slice(0, DEFAULT_MAX_DEPS),
        time: draft.time ?? Date.now(),
        type: draft.type,
        body: draft.body,
      },
      signer,
    )
    const { results } = await this.post<{ results: SubmitResult[] }>('/ops', {
      ops: [Buffer.from(op.bytes).toString('hex')],
    })
    const [result] = results
    if (!result?.ok)
      throw new NodeRequestError(
        result?.message ?? 'The node refused the op.',
        422,
        result?.rule ?? result?.error ?? 'OpRefused',
      )
    // Checked here before signing, but the document may have moved on since: say what its
    // domain decided (the verdict comes under the domain's name).
    for (const [domain, verdict] of Object.entries(result)) {
      const refused = (verdict as { refused?: { error: string; message: string } } | null)?.refused
      if (refused)
        throw new NodeRequestError(
          `The op joined the log, but the ${domain} refused it: ${refused.message}`,
          409,
          refused.error,
        )
    }
    return op
  }
}

/**
 * Why a request failed, in a few words: a connection error's code, else its message (a failed
 * dual-stack connect is an AggregateError with an empty message: its errors say why).
 */
function reasonOf(cause: unknown): string {
  const error = cause as Error & { code?: unknown; errors?: unknown[] }
  if (typeof error?.code === 'string') return error.code
  if (error?.message) return error.message
  const inner = (error?.errors ?? []).map(reasonOf).filter(Boolean)
  return inner.length ? inner.join(', ') : 'no reason given'
}
