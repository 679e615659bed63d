import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createPublicClient, http } from 'viem'
import { NodeClient } from '../../../cli/client.ts'
import { BaseError } from '../../../errors/base.ts'
import { DENIED_PEERS_FILE, editDeniedPeers } from '../../../net/denied-peers.ts'
import { loadPeerKey } from '../../../net/replicator.ts'
import { initNode, pickFreePort } from '../../../node/init.ts'

// The feeds demo's network: rwa nodes as separate processes (`rwa start`) on temporary data dirs,
// all settling on one devnet, each dialling the others; partitions are made through their
// deny-list files, as an operator would.

/** The `rwa` command of this checkout. */
const RWA_BIN = fileURLToPath(new URL('../../../../bin/rwa.js', import.meta.url))
/** ETH each node's operator gets on the devnet (it deploys its escrow, and transmits reports). */
const NODE_ETH = 10n ** 21n
/** How long a node may take to start (a first run builds the CLI) and the mesh to form. */
const START_TIMEOUT_MS = 120_000
const MESH_TIMEOUT_MS = 60_000
/** How long a node gets to stop on SIGTERM before it is killed. */
const STOP_GRACE_MS = 15_000

/** Thrown when a demo node does not start, or the network does not form. */
export class DemoClusterError extends BaseError {
  override name = 'DemoClusterError' as const
  override readonly kind = 'unavailable' as const
}

/** One node process of the cluster. */
export type ClusterNode = {
  readonly name: string
  readonly dataDir: string
  readonly peerId: string
  /** Its peer address (`/ip4/127.0.0.1/tcp/<port>/p2p/<peer id>`). */
  readonly address: string
  /** Its operator's EVM address (funded on the devnet). */
  readonly operator: string
  readonly client: NodeClient
  readonly url: string
  /** Its log file (stdout and stderr). */
  readonly log: string
}

/** Nodes running as processes, and the partition switch over them. */
export interface DemoCluster {
  readonly nodes: readonly ClusterNode[]
  /** Splits the network: every node of `side` denies every node not in it, and the other way. */
  split(side: readonly ClusterNode[]): void
  /** Lifts every deny the cluster made. */
  heal(): void
  /** Stops every node process (SIGTERM, then SIGKILL after a grace period). */
  stop(): Promise<void>
}

/** Options of `startCluster`. */
export type StartClusterOptions = {
  /** Node names (each becomes a data dir under `root`). */
  readonly names: readonly string[]
  /** A fresh directory for the data dirs and logs. */
  readonly root: string
  /** The devnet every node settles on. */
  readonly rpcUrl: string
  readonly signal?: AbortSignal | undefined
}

type Prepared = Omit<ClusterNode, 'client' | 'url'>

/**
 * Starts one `rwa start` process per name, on data dirs made under `root`, each funded on the
 * devnet and given the others' peer addresses; resolves once every node serves and each sees all
 * the others. On failure every process started is stopped.
 */
export async function startCluster(options: StartClusterOptions): Promise<DemoCluster> {
  const prepared: Prepared[] = []
  for (const name of options.names) prepared.push(await prepareNode(options.root, name))
  await fundOperators(
    options.rpcUrl,
    prepared.map((p) => p.operator),
  )
  const children = new Map<string, ChildProcess>()
  const stop = () => stopChildren([...children.values()])
  // A demo that dies unexpectedly must not leave nodes behind.
  const onExit = () => {
    for (const child of children.values()) if (child.exitCode === null) child.kill('SIGKILL')
  }
  process.once('exit', onExit)
  try {
    for (const node of prepared) {
      const peers = prepared.filter((p) => p !== node).map((p) => p.address)
      children.set(node.name, spawnNode(node, options.rpcUrl, peers))
    }
    const nodes = await Promise.all(
      prepared.map((node) => awaitServing(node, children.get(node.name)!, options.signal)),
    )
    await awaitMesh(nodes, options.signal)
    return cluster(nodes, async () => {
      await stop()
      process.removeListener('exit', onExit)
    })
  } catch (error) {
    await stop()
    process.removeListener('exit', onExit)
    throw error
  }
}

/** A node's data dir, fixed peer port and peer identity, made before it starts. */
async function prepareNode(root: string, name: string): Promise<Prepared> {
  const dataDir = join(root, name)
  const port = await pickFreePort()
  const init = initNode({ name, dataDir, p2pPort: port })
  // The identity file the node would create on its first start, made now to know its address.
  const key = await loadPeerKey(join(dataDir, 'keys', 'p2p.identity'))
  const peerId = peerIdFromPrivateKey(key).toString()
  return {
    name,
    dataDir,
    peerId,
    address: `/ip4/127.0.0.1/tcp/${port}/p2p/${peerId}`,
    operator: init.operatorAddress,
    log: join(root, `${name}.log`),
  }
}

/** Gives each address ETH on the devnet (anvil's `anvil_setBalance`). */
async function fundOperators(rpcUrl: string, addresses: readonly string[]): Promise<void> {
  const client = createPublicClient({ transport: http(rpcUrl) })
  for (const address of addresses)
    await client.request({
      method: 'anvil_setBalance' as never,
      params: [address, `0x${NODE_ETH.toString(16)}`] as never,
    })
}

function spawnNode(node: Prepared, rpcUrl: string, peers: readonly string[]): ChildProcess {
  const log = openSync(node.log, 'a')
  try {
    const args = [RWA_BIN, 'start', node.name, '--data-dir', node.dataDir, '--port', '0']
    args.push('--rpc-url', rpcUrl)
    if (peers.length > 0) args.push('--peer', ...peers)
    return spawn(process.execPath, args, { stdio: ['ignore', log, log] })
  } finally {
    closeSync(log)
  }
}

/** The last lines of a node's log, for an error message. */
function logTail(node: Prepared, lines = 15): string {
  if (!existsSync(node.log)) return '(no log)'
  return readFileSync(node.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
}

/** Waits until the node's `run.json` names its URL and `/status` answers there. */
async function awaitServing(
  node: Prepared,
  child: ChildProcess,
  signal: AbortSignal | undefined,
): Promise<ClusterNode> {
  const deadline = Date.now() + START_TIMEOUT_MS
  const runFile = join(node.dataDir, 'run.json')
  while (Date.now() < deadline) {
    signal?.throwIfAborted()
    if (child.exitCode !== null || child.signalCode !== null)
      throw new DemoClusterError(`Node "${node.name}" exited while starting; its log ends:`, {
        details: logTail(node),
      })
    if (existsSync(runFile)) {
      const { url } = JSON.parse(readFileSync(runFile, 'utf8')) as { url: string }
      const client = new NodeClient(url)
      if (
        await client.get('/status').then(
          () => true,
          () => false,
        )
      )
        return { ...node, client, url }
    }
    await sleep(200)
  }
  throw new DemoClusterError(
    `Node "${node.name}" did not start within ${START_TIMEOUT_MS / 1000} s; its log ends:`,
    { details: logTail(node) },
  )
}

/** Waits until every node is connected to every other. */
async function awaitMesh(nodes: readonly ClusterNode[], signal: AbortSignal | undefined) {
  const deadline = Date.now() + MESH_TIMEOUT_MS
  const want = nodes.length - 1
  while (Date.now() < deadline) {
    signal?.throwIfAborted()
    const peers = await Promise.all(
      nodes.map((n) => n.client.get<{ peers: number }>('/status').then((s) => s.peers)),
    )
    if (peers.every((p) => p >= want)) return
    await sleep(200)
  }
  throw new DemoClusterError(
    `The ${nodes.length} demo nodes did not all connect within ${MESH_TIMEOUT_MS / 1000} s; see their logs.`,
  )
}

function cluster(nodes: readonly ClusterNode[], stop: () => Promise<void>): DemoCluster {
  const fileOf = (node: ClusterNode) => join(node.dataDir, DENIED_PEERS_FILE)
  return {
    nodes,
    split(side) {
      const inside = new Set(side)
      for (const node of nodes) {
        const across = nodes.filter((other) => inside.has(other) !== inside.has(node))
        if (across.length > 0)
          editDeniedPeers(fileOf(node), { deny: across.map((other) => other.peerId) })
      }
    },
    heal() {
      for (const node of nodes)
        editDeniedPeers(fileOf(node), {
          allow: nodes.filter((other) => other !== node).map((other) => other.peerId),
        })
    },
    stop,
  }
}

/** Stops the processes: SIGTERM, and SIGKILL for any still running after the grace period. */
async function stopChildren(children: readonly ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS)
      await exited
      clearTimeout(timer)
    }),
  )
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
