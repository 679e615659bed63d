import {
  type CollectFunction,
  Counter,
  collectDefaultMetrics,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client'
import type { ChainService } from '../chain/chain-service.ts'
import { BaseError } from '../errors/base.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { Replicator } from '../net/replicator.ts'
import type { DocIndex } from './doc-index.ts'

/** What a metric is called and what it counts; `labelNames` keep their values few (no ids, no URLs). */
export type MetricSpec<Label extends string = never> = {
  /** Lowercase snake case; the facade puts `rwa_<domain>_` in front. */
  readonly name: string
  readonly help: string
  readonly labelNames?: readonly Label[]
}

/**
 * What a domain plug-in may add to the node's `/metrics`: counters, gauges and histograms named
 * `rwa_<domain>_<name>`, in the node's own registry (never prom-client's global one: several
 * nodes may run in one process).
 * @example
 * const settled = metrics.counter({ name: 'settlements_total', help: 'Audits settled.' })
 * settled.inc()
 */
export interface DomainMetrics {
  counter<Label extends string = never>(spec: MetricSpec<Label>): Counter<Label>
  /** A gauge; with `collect`, its value is read when `/metrics` is scraped. */
  gauge<Label extends string = never>(
    spec: MetricSpec<Label> & { readonly collect?: CollectFunction<Gauge<Label>> },
  ): Gauge<Label>
  histogram<Label extends string = never>(
    spec: MetricSpec<Label> & { readonly buckets?: readonly number[] },
  ): Histogram<Label>
}

/** One HTTP request, as the request log and the HTTP metrics see it. */
export type RequestSample = {
  readonly method: string
  /** The route's pattern (`/audits/:audit`), never the raw URL: label values stay few. */
  readonly route: string
  readonly status: number
  readonly seconds: number
}

/** Where the node's metrics read their values when scraped (each part may not have started yet). */
export type MetricSources = {
  ledger(): Ledger | undefined
  /** Each hosted domain's documents, by domain name. */
  indexes(): ReadonlyMap<string, DocIndex>
  replicator(): Replicator | undefined
  chain(): ChainService | undefined
}

/** A node's metrics: its registry, the HTTP instruments, and a facade for each domain. */
export interface NodeMetrics {
  /** The node's own metrics (the process metrics are shared: `render` appends them). */
  readonly registry: Registry
  /** Counts one answered request and its latency. */
  observeRequest(sample: RequestSample): void
  /** The facade a domain plug-in gets (`DomainComponents.metrics`). */
  forDomain(domain: string): DomainMetrics
  /** The Prometheus text exposition of every metric, and its content type. */
  render(): Promise<{ readonly contentType: string; readonly text: string }>
}

/** Request latency buckets, in seconds: a local API answers in milliseconds, a big page in seconds. */
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

let processRegistry: Registry | undefined

/**
 * prom-client's process metrics (CPU, memory, event-loop lag, GC), in one registry per process
 * that every node's `/metrics` appends: they describe the process, and each collector keeps an
 * event-loop timer and a GC observer for good, so nodes sharing a process (tests) share them.
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/** Sets a collect-time counter to a total read elsewhere (a counter that only ever goes up). */
function setTotal<Label extends string>(
  counter: Counter<Label>,
  totals: Iterable<readonly [Partial<Record<Label, string>>, number]>,
): void {
  counter.reset()
  for (const [labels, value] of totals) counter.inc(labels, value)
}

/**
 * Creates the metrics of one node in a registry of its own: ops, documents, peers, sync and chain
 * metrics are read from the node's parts when scraped (no increments scattered
 * through the code); HTTP requests are counted as they are answered; domains add theirs through
 * `forDomain`. `render` appends the process metrics, shared by the nodes of one process.
 * @example
 * const metrics = createNodeMetrics({ ledger: () => built.ledger, … })
 * const { contentType, text } = await metrics.render()
 */
export function createNodeMetrics(sources: MetricSources): NodeMetrics {
  const registry = new Registry()
  const registers = [registry]
  const sharedRegistry = processMetrics()
  addLedgerMetrics(registers, sources)
  addDocumentMetrics(registers, sources)
  addNetMetrics(registers, sources)
  addChainMetrics(registers, sources)
  const requests = new Counter({
    name: 'rwa_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  })
  const latency = new Histogram({
    name: 'rwa_http_request_duration_seconds',
    help: 'Time from a request to its answer, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  })
  return {
    registry,
    observeRequest({ method, route, status, seconds }) {
      const m = METHODS.has(method) ? method : 'OTHER'
      requests.inc({ method: m, route, status: String(status) })
      latency.observe({ method: m, route }, seconds)
    },
    forDomain: (domain) => domainMetrics(registry, domain),
    async render() {
      const [own, shared] = await Promise.all([registry.metrics(), sharedRegistry.metrics()])
      return { contentType: registry.contentType, text: `${own}\n${shared}` }
    },
  }
}

function addLedgerMetrics(registers: Registry[], { ledger }: MetricSources): void {
  new Counter({
    name: 'rwa_ops_accepted_total',
    help: 'Ops in the log (accepted, restored ones included).',
    registers,
    collect() {
      setTotal(this, [[{}, ledger()?.log.stats().accepted ?? 0]])
    },
  })
  new Counter({
    name: 'rwa_ops_refused_total',
    help: 'Ops refused since the node started (remote and local), by the name of the refusal.',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      const refusals = ledger()?.refusals() ?? new Map<string, number>()
      setTotal(
        this,
        [...refusals].map(([reason, n]) => [{ reason }, n] as const),
      )
    },
  })
  new Gauge({
    name: 'rwa_ops_pending',
    help: 'Ops waiting for missing deps in the pending buffer.',
    registers,
    collect() {
      this.set(ledger()?.log.stats().pending ?? 0)
    },
  })
  new Gauge({
    name: 'rwa_ops_pending_bytes',
    help: 'Bytes the pending buffer holds (ops and their waiting-list entries).',
    registers,
    collect() {
      this.set(ledger()?.log.stats().pendingBytes ?? 0)
    },
  })
}

function addDocumentMetrics(registers: Registry[], { indexes }: MetricSources): void {
  new Gauge({
    name: 'rwa_documents',
    help: 'Documents, by domain and state (each domain summary names its state).',
    labelNames: ['domain', 'state'] as const,
    registers,
    collect() {
      this.reset()
      for (const [domain, index] of indexes()) {
        const byState = new Map<string, number>()
        for (const { state } of index.list()) byState.set(state, (byState.get(state) ?? 0) + 1)
        for (const [state, n] of byState) this.set({ domain, state }, n)
      }
    },
  })
}

function addNetMetrics(registers: Registry[], { replicator }: MetricSources): void {
  new Gauge({
    name: 'rwa_peers',
    help: 'Peers connected for replication.',
    registers,
    collect() {
      this.set(replicator()?.peerCount() ?? 0)
    },
  })
  new Counter({
    name: 'rwa_peer_strikes_total',
    help: 'Misdeeds counted against peers (invalid ops, floods, bad sync requests).',
    registers,
    collect() {
      setTotal(this, [[{}, replicator()?.misdeeds().strikes ?? 0]])
    },
  })
  new Counter({
    name: 'rwa_peer_bans_total',
    help: 'Bans started, of peer ids (kind="peer") and of IP addresses (kind="ip").',
    labelNames: ['kind'] as const,
    registers,
    collect() {
      const m = replicator()?.misdeeds()
      setTotal(this, [
        [{ kind: 'peer' }, m?.bans ?? 0],
        [{ kind: 'ip' }, m?.ipBans ?? 0],
      ])
    },
  })
  new Counter({
    name: 'rwa_gossip_dropped_total',
    help: 'Gossip messages dropped unchecked because too many were being checked (sync fetches them).',
    registers,
    collect() {
      setTotal(this, [[{}, replicator()?.gossipDropped() ?? 0]])
    },
  })
  new Counter({
    name: 'rwa_sync_bytes_total',
    help: 'Sync protocol bytes received (direction="in") and sent (direction="out"), pulling and serving.',
    labelNames: ['direction'] as const,
    registers,
    collect() {
      const stats = replicator()?.syncStats()
      setTotal(this, [
        [{ direction: 'in' }, stats?.bytesIn ?? 0],
        [{ direction: 'out' }, stats?.bytesOut ?? 0],
      ])
    },
  })
}

function addChainMetrics(registers: Registry[], { chain }: MetricSources): void {
  new Counter({
    name: 'rwa_chain_rpc_errors_total',
    help: 'JSON-RPC calls to the chain that failed after their retries (reverts included).',
    registers,
    collect() {
      setTotal(this, [[{}, chain()?.rpcErrors() ?? 0]])
    },
  })
}

const NAME = /^[a-z][a-z0-9_]{0,80}$/

/** The facade of one domain: metrics named `rwa_<domain>_<name>` in the node's registry. */
function domainMetrics(registry: Registry, domain: string): DomainMetrics {
  const registers = [registry]
  const full = (name: string) => {
    if (!NAME.test(name))
      throw new BaseError(
        `Metric name "${name}" of domain "${domain}" is not lowercase snake case; use letters, digits and "_".`,
      )
    return `rwa_${domain}_${name}`
  }
  return {
    counter: ({ name, help, labelNames = [] }) =>
      new Counter({ name: full(name), help, labelNames, registers }),
    gauge: ({ name, help, labelNames = [], collect }) =>
      new Gauge({ name: full(name), help, labelNames, registers, ...(collect ? { collect } : {}) }),
    histogram: ({ name, help, labelNames = [], buckets }) =>
      new Histogram({
        name: full(name),
        help,
        labelNames,
        registers,
        ...(buckets ? { buckets: [...buckets] } : {}),
      }),
  }
}
