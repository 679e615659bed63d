import type { Command } from 'commander'
import { contextOf, type GlobalOptions, printJson } from '../../../cli/context.ts'
import type { ImpactReducer } from '../../../core/impact/domain.ts'
import type { ImpactState, RequestStatus } from '../../../core/impact/state.ts'
import { findRequest, ImpactCliError, listCommunities, loadCommunity } from './client.ts'
import {
  formatActions,
  formatAuditor,
  formatAuditors,
  formatCategories,
  formatOracles,
  formatPool,
  formatProxies,
  formatRegistry,
  formatRequest,
  formatRequests,
  table,
} from './format.ts'
import { cmd } from './shared.ts'

// The original's storage queries, one command per store, each recomputed here from the
// community's ops (signatures checked): the node serves the log, and anyone can recompute it.

const STATUSES: readonly RequestStatus[] = [
  'WAITING_FOR_AUDITORS',
  'VOTING',
  'APPROVED',
  'REFUSED',
  'EXPIRED',
]

/** The registry as `GET /impact/:community` answers it. */
export function registryView(reducer: ImpactReducer, s: ImpactState) {
  const { requests: _, auditors: __, rejected: ___, excluded: ____, ...registry } = s
  return { ...registry, counts: reducer.counts }
}

/** A query of one store: its name, what it prints, and how. */
type StoreQuery = {
  name: string
  description: string
  json(s: ImpactState, reducer: ImpactReducer): unknown
  text(s: ImpactState): string
}

const STORES: StoreQuery[] = [
  {
    name: 'show',
    description: 'the registry: governors, counts, tokens and pending changes',
    json: (s, reducer) => registryView(reducer, s),
    text: formatRegistry,
  },
  {
    name: 'categories',
    description: 'the categories (the original Categories store)',
    json: (s) => ({ categories: s.categories }),
    text: formatCategories,
  },
  {
    name: 'actions',
    description: 'the impact actions with their windows, fields and rewards',
    json: (s) => ({ actions: s.actions }),
    text: formatActions,
  },
  {
    name: 'oracles',
    description: 'the oracles',
    json: (s) => ({ oracles: s.oracles }),
    text: formatOracles,
  },
  {
    name: 'auditors',
    description: 'the auditors by ranking: errors, missed deadlines, earnings, stake, queue',
    json: (s) => ({ auditors: s.auditors }),
    text: formatAuditors,
  },
  {
    name: 'proxies',
    description: 'the proxies (keys that assign, decide and settle)',
    json: (s) => ({ proxies: s.proxies }),
    text: formatProxies,
  },
]

function addList(impact: Command): void {
  cmd(impact, 'list', 'the impact communities the node holds', 'rwa impact list').action(
    async (o: GlobalOptions) => {
      const ctx = contextOf(o)
      const communities = await listCommunities(ctx)
      if (!communities)
        throw new ImpactCliError(
          `The node at ${ctx.client.url} does not list impact communities (no GET /impact); query one by its id.`,
        )
      if (ctx.json) return printJson({ communities })
      if (communities.length === 0)
        return console.log('No impact communities yet; start one with "rwa impact create".')
      console.log(
        table(
          ['name', 'state', 'requests', 'open', 'id'],
          communities.map((c) => [c.name, c.state, String(c.requests), String(c.open), c.id]),
        ),
      )
    },
  )
}

function addStoreQueries(impact: Command): void {
  for (const store of STORES)
    cmd(impact, store.name, store.description, `rwa impact ${store.name} "Green Barcelona"`)
      .argument('<community>', 'community name or id')
      .action(async (ref: string, o: GlobalOptions) => {
        const ctx = contextOf(o)
        const reducer = await loadCommunity(ctx, ref)
        const state = reducer.state()
        if (ctx.json) printJson(store.json(state, reducer))
        else console.log(store.text(state))
      })
}

function addAuditorQuery(impact: Command): void {
  cmd(
    impact,
    'auditor',
    'one auditor: ranking, errors, earnings, stake and queue',
    'rwa impact auditor "Green Barcelona" <key>',
  )
    .argument('<community>', 'community name or id')
    .argument('<account>', "the auditor's public key")
    .action(async (ref: string, account: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const reducer = await loadCommunity(ctx, ref)
      const auditor = reducer.auditor(account.toLowerCase())
      if (!auditor)
        throw new ImpactCliError(
          `Community "${reducer.name}" has no auditor "${account}"; list them with "rwa impact auditors".`,
        )
      if (ctx.json) printJson(auditor)
      else console.log(formatAuditor(auditor, reducer.state()))
    })
}

type RequestsOptions = GlobalOptions & { status?: string; mine?: boolean; limit?: string }

function addRequestQueries(impact: Command): void {
  cmd(
    impact,
    'requests',
    'approval requests, newest first',
    'rwa impact requests "Green Barcelona" --status VOTING --mine',
  )
    .argument('<community>', 'community name or id')
    .option('--status <status>', STATUSES.join(' | '))
    .option('--mine', 'only those you requested or hold a seat on (your --key)')
    .option('--limit <n>', 'at most this many', '100')
    .action(async (ref: string, o: RequestsOptions) => {
      const ctx = contextOf(o)
      const status = o.status?.toUpperCase() as RequestStatus | undefined
      if (status !== undefined && !STATUSES.includes(status))
        throw new ImpactCliError(
          `"status" must be one of ${STATUSES.join(', ')}; got "${o.status}".`,
        )
      const limit = Number(o.limit)
      if (!Number.isSafeInteger(limit) || limit < 1)
        throw new ImpactCliError(`"limit" must be a whole number from 1; got "${o.limit}".`)
      const reducer = await loadCommunity(ctx, ref)
      const me = o.mine ? Buffer.from(ctx.signer().publicKey).toString('hex') : undefined
      const requests = reducer
        .requests({ status, limit: me ? Number.MAX_SAFE_INTEGER : limit })
        .filter((r) => !me || r.requester === me || r.assignments.some((a) => a.auditor === me))
        .slice(0, limit)
      if (ctx.json) printJson({ requests })
      else console.log(formatRequests(requests))
    })

  cmd(
    impact,
    'request',
    'one request: status, votes, assignments with deadlines, decision and payments',
    'rwa impact request "Green Barcelona" <request>',
  )
    .argument('<community>', 'community name or id')
    .argument('<request>', 'the request id (or a unique prefix of at least 8 characters)')
    .action(async (ref: string, id: string, o: GlobalOptions) => {
      const ctx = contextOf(o)
      const reducer = await loadCommunity(ctx, ref)
      const request = findRequest(reducer, id)
      if (ctx.json) printJson(request)
      else console.log(formatRequest(request, reducer.state()))
    })
}

function addPoolQuery(impact: Command): void {
  cmd(
    impact,
    'pool',
    "a rewards token's pool: deposits, stakes, queued and batched payments, batches",
    'rwa impact pool "Green Barcelona" --token 0',
  )
    .argument('<community>', 'community name or id')
    .option('--token <n>', 'the rewards token id (0 the native coin)', '0')
    .action(async (ref: string, o: GlobalOptions & { token: string }) => {
      const ctx = contextOf(o)
      if (!/^\d{1,10}$/.test(o.token))
        throw new ImpactCliError(
          `"token" must be a token id (0 or a whole number); got "${o.token}".`,
        )
      const reducer = await loadCommunity(ctx, ref)
      const pool = reducer.pool(Number(o.token))
      if (ctx.json) printJson(pool)
      else console.log(formatPool(pool, reducer.state()))
    })
}

/** Adds the queries (one per store, as the original's) to `rwa impact`. */
export function addQueryCommands(impact: Command): void {
  addList(impact)
  addStoreQueries(impact)
  addAuditorQuery(impact)
  addRequestQueries(impact)
  addPoolQuery(impact)
}
