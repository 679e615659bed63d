import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { BaseError, type ErrorKind } from '../errors/base.ts'
import type { Signer } from '../ledger/keys.ts'
import { DEFAULT_MAX_DEPS, type EncodedOp } from '../ledger/op.ts'
import { decodeOp } from '../ledger/op-decode.ts'
import { signOp, verifyOp } from '../ledger/op-encode.ts'
import type { OpId } from '../ledger/op-id.ts'
import { DEFAULT_PORT, loadConfig } from '../node/config.ts'

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
export function localNodeUrl(dataDir: string): string {
  const run = join(dataDir, 'run.json')
  if (existsSync(run)) return (JSON.parse(readFileSync(run, 'utf8')) as { url: string }).url
  if (existsSync(join(dataDir, 'config.toml'))) {
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

/** A small JSON client of a node's HTTP API. */
export class NodeClient {
  constructor(
    readonly url: string,
    readonly token?: string | undefined,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response
    try {
      response = await fetch(new URL(path, this.url), {
        method,
        headers: {
          'content-type': 'application/json',
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    } catch (cause) {
      throw new NodeRequestError(
        `No node answers at ${this.url} (${(cause as Error).cause ?? (cause as Error).message}); start one with "rwa start", or pass --node <url>.`,
        0,
        'NodeUnreachable',
      )
    }
    const text = await response.text()
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
    if (!response.ok) {
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
