import type { ChainService } from '../chain/chain-service.ts'
import { probeRpc, rpcHost } from '../chain/rpc-probe.ts'
import type { Ledger } from '../ledger/ledger.ts'
import type { Store } from '../ledger/store.ts'
import type { Replicator } from '../net/replicator.ts'

/** One check of `GET /ready`: whether it passed, and one sentence saying what was found. */
export type ReadyCheck = { readonly ok: boolean; readonly detail: string }

/** The answer of `GET /ready`: ready when every check passed. */
export type Readiness = {
  readonly ready: boolean
  readonly checks: {
    readonly store: ReadyCheck
    readonly chain: ReadyCheck
    readonly net: ReadyCheck
  }
}

/** What the checks look at (parts not started yet are undefined). */
export type ReadinessSources = {
  store(): Store | undefined
  ledger(): Ledger | undefined
  /** Whether the node was told to settle on a chain (`[chain] mode` is not "none"). */
  readonly chainConfigured: boolean
  chain(): ChainService | undefined
  /** Whether replication is on (`[net] enabled`, `--no-net`). */
  readonly netEnabled: boolean
  replicator(): Replicator | undefined
}

/** How long `/ready` waits for the chain's answer before calling it unreachable. */
export const READY_CHAIN_TIMEOUT_MS = 2000

/**
 * Creates the readiness check of a node: its store is open and its ledger has not failed, its
 * chain answers `eth_blockNumber` within `timeoutMs` (when it has one), and replication runs
 * (when it is on). Concurrent calls share one chain probe, so a flood of `/ready` requests is
 * not a flood of RPC calls.
 */
export function createReadiness(
  sources: ReadinessSources,
  { timeoutMs = READY_CHAIN_TIMEOUT_MS }: { timeoutMs?: number } = {},
): () => Promise<Readiness> {
  let probing: Promise<ReadyCheck> | undefined
  const chainCheck = (): Promise<ReadyCheck> => {
    probing ??= checkChain(sources, timeoutMs).finally(() => {
      probing = undefined
    })
    return probing
  }
  return async () => {
    const [store, chain] = await Promise.all([checkStore(sources), chainCheck()])
    const net = checkNet(sources)
    return { ready: store.ok && chain.ok && net.ok, checks: { store, chain, net } }
  }
}

async function checkStore({ store, ledger }: ReadinessSources): Promise<ReadyCheck> {
  const opened = store()
  if (!opened) return { ok: false, detail: 'The store is not open yet.' }
  const failure = ledger()?.failure()
  if (failure) return { ok: false, detail: failure.shortMessage }
  try {
    const ops = await opened.count()
    return { ok: true, detail: `The store is open (${ops} ops).` }
  } catch (error) {
    return { ok: false, detail: (error as Error).message.split('\n')[0]! }
  }
}

async function checkChain(sources: ReadinessSources, timeoutMs: number): Promise<ReadyCheck> {
  if (!sources.chainConfigured) return { ok: true, detail: 'No chain configured.' }
  const chain = sources.chain()
  if (!chain) return { ok: false, detail: 'The chain is not connected yet.' }
  const probe = await probeRpc(chain.info.rpcUrl, { timeoutMs })
  // Named by host: /ready needs no token, and provider URLs carry API keys.
  const at = rpcHost(chain.info.rpcUrl)
  return probe.ok
    ? { ok: true, detail: `The chain answers at ${at} (block ${probe.block}).` }
    : { ok: false, detail: `The chain at ${at} is unreachable: ${probe.reason}.` }
}

function checkNet({ netEnabled, replicator }: ReadinessSources): ReadyCheck {
  if (!netEnabled) return { ok: true, detail: 'Replication is off.' }
  const running = replicator()
  if (running?.node.status !== 'started')
    return { ok: false, detail: 'Replication has not started.' }
  return { ok: true, detail: `Replication runs (${running.peerCount()} peers).` }
}
