import { readFileSync, statSync } from 'node:fs'
import { type NodeClient, NodeRequestError } from '../../../cli/client.ts'
import { bearerClient, type contextOf, type GlobalOptions } from '../../../cli/context.ts'
import type { ImpactReducer } from '../../../core/impact/domain.ts'
import type { IMPACT_OP } from '../../../core/impact/ops.ts'
import type { RequestState } from '../../../core/impact/state.ts'
import { BaseError } from '../../../errors/base.ts'
import type { OpId } from '../../../ledger/op-id.ts'

/** An impact op type. */
export type ImpactOpType = (typeof IMPACT_OP)[keyof typeof IMPACT_OP]

/**
 * An op type, checked against `IMPACT_OP` at compile time: registering the commands must not load
 * the rules (and zod) that ops.ts imports; each action loads what it uses.
 */
export const impactOp = <T extends ImpactOpType>(type: T): T => type

/** What every impact command gets from `contextOf`. */
export type Ctx = ReturnType<typeof contextOf>

/** Thrown by `rwa impact` for an argument it cannot use (a community, a request, a file). */
export class ImpactCliError extends BaseError {
  override name = 'ImpactCliError' as const
}

/** One line of `GET /impact`. */
export type CommunityLine = {
  id: OpId
  name: string
  state: string
  requests: number
  open: number
}

/** The most bytes an `@file` argument may hold (a configuration or request is at most 8192). */
const MAX_FILE_BYTES = 16_384

/**
 * The communities the node lists (`GET /impact`), or undefined when it has no such route (a node
 * without the impact domain still serves a community's ops through `/docs/:doc/ops`).
 */
export async function listCommunities(ctx: Ctx): Promise<CommunityLine[] | undefined> {
  try {
    const { communities } = await ctx.client.get<{ communities: CommunityLine[] }>('/impact')
    return Array.isArray(communities) ? communities : undefined
  } catch (error) {
    if (error instanceof NodeRequestError && error.status === 404) return undefined
    throw error
  }
}

/** A community's id: its name as `GET /impact` lists it when the node answers, else `ref` as an id. */
export async function resolveCommunity(ctx: Ctx, ref: string): Promise<OpId> {
  const { isOpId } = await import('../../../ledger/op-id.ts')
  const listed = await listCommunities(ctx)
  const named = listed?.filter((c) => c.id === ref || c.name === ref) ?? []
  if (named.length === 1) return named[0]!.id
  if (named.length > 1)
    throw new ImpactCliError(
      `${named.length} impact communities are named "${ref}"; use the id of the one you mean (${named.map((c) => c.id).join(', ')}).`,
    )
  if (isOpId(ref)) return ref
  throw new ImpactCliError(
    listed
      ? `No impact community is named "${ref}" on ${ctx.client.url}; list them with "rwa impact list".`
      : `"${ref}" is not a community id, and the node at ${ctx.client.url} lists no communities by name (GET /impact); give the id "rwa impact create" printed.`,
  )
}

/**
 * Recomputes a community here from its ops, every signature checked (the node serves the log; its
 * word on the state is not needed): anyone can recompute it.
 */
export async function loadCommunity(ctx: Ctx, ref: string): Promise<ImpactReducer> {
  const id = await resolveCommunity(ctx, ref)
  const { createImpactReducer } = await import('../../../core/impact/domain.ts')
  const [genesis, ...rest] = await ctx.client.ops(id)
  if (!genesis)
    throw new ImpactCliError(`The node holds no ops of community "${id}"; check the id.`)
  if (genesis.op.type !== impactOp('impact.create'))
    throw new ImpactCliError(
      `Document "${id}" is not an impact community (its first op is "${genesis.op.type}"); list communities with "rwa impact list".`,
    )
  const reducer = createImpactReducer(genesis)
  for (const op of rest) reducer.apply(op)
  return reducer
}

/** A request of the community by its id, or by a prefix of it that names exactly one. */
export function findRequest(reducer: ImpactReducer, ref: string): RequestState {
  const exact = reducer.request(ref as OpId)
  if (exact) return exact
  const matches = ref.length >= 8 ? reducer.requests({ limit: 100_000 }) : []
  const found = matches.filter((r) => r.id.startsWith(ref))
  if (found.length === 1) return found[0]!
  throw new ImpactCliError(
    found.length > 1
      ? `Request "${ref}" matches ${found.length} requests of "${reducer.name}"; give more of its id.`
      : `Community "${reducer.name}" has no request "${ref}"; list them with "rwa impact requests ${reducer.name}".`,
  )
}

/**
 * An argument given inline or as `@file` (a configuration, an approval request): the file's text,
 * bounded, or the argument itself.
 */
export function readTextArgument(value: string, field: string): string {
  if (!value.startsWith('@')) return value
  const path = value.slice(1)
  try {
    const { size } = statSync(path)
    if (size > MAX_FILE_BYTES)
      throw new ImpactCliError(
        `"${field}" file "${path}" holds ${size} bytes; at most ${MAX_FILE_BYTES} are read (a record is at most 8192).`,
      )
    return readFileSync(path, 'utf8').trim()
  } catch (cause) {
    if (cause instanceof ImpactCliError) throw cause
    throw new ImpactCliError(
      `"${field}" names the file "${path}", which cannot be read; check the path.`,
      {
        cause,
      },
    )
  }
}

/** Options of the commands that call the node's authenticated routes. */
export type AuthOptions = GlobalOptions & { token?: string }

/**
 * A client of the node's authenticated routes: the bearer token from `--token <file>`, default
 * the data dir's operator token (the account whose keys the node holds: its proxy).
 */
export function authClient(o: AuthOptions): NodeClient {
  return bearerClient(o, {
    token: o.token,
    required: true,
    whose: "the bearer token of the node's proxy account",
    fail: (message, cause) => new ImpactCliError(message, { cause }),
  })
}

/** What an op-signing route answers. */
export type Acted = { op: OpId; community: OpId; type: string }
