import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import type { DomainEntry } from '../domains/plugin.ts'
import { BaseError } from '../errors/base.ts'
import type { ChainConfig } from '../node/config.ts'
import { resolveDataDir } from '../node/data-dir.ts'
import { NodeConfigError } from '../node/errors.ts'
import { readEthKeyFile } from '../store/key-file.ts'
import { contextOf, type GlobalOptions, printJson, withNodeOptions } from './context.ts'

/** `rwa init`, `rwa start` (hosting `domains`), `rwa status`, `rwa net …`. */
export function addNodeCommands(
  program: Command,
  { domains }: { domains: readonly DomainEntry[] },
): void {
  program
    .command('init')
    .description('create a node: data dir, keys (mode 0600) and a commented config.toml')
    .argument(
      '<name>',
      'the node name (its data dir is ~/.rwa/<name> unless --data-dir or RWA_HOME)',
    )
    .option('--data-dir <dir>', 'where to put the node')
    .option('--import-eth-key <file>', 'use this Ethereum private key file as the payout key')
    .addHelpText('after', '\nExample:\n  $ rwa init local')
    .action(async (name: string, o: { dataDir?: string; importEthKey?: string }) => {
      const { initNode, pickFreePort } = await import('../node/init.ts')
      const dataDir = resolveDataDir(name, { dataDir: o.dataDir })
      const ethKey = o.importEthKey ? readEthKeyFile(o.importEthKey) : undefined
      const result = initNode({ name, dataDir, ethKey, p2pPort: await pickFreePort() })
      console.log(`Created node "${name}" in ${dataDir}`)
      console.log(`  operator key      ${result.operatorKey}`)
      console.log(`  payout address    ${result.operatorAddress}`)
      console.log(`  operator token    ${result.tokenPath}`)
      console.log(
        `  peer port         ${result.p2pPort ?? 'a new one on every start'} ([net] listen)`,
      )
      console.log(`Start it with: rwa start ${name}`)
    })

  program
    .command('start')
    .description('run a node: open its store, rebuild state, serve HTTP on 127.0.0.1')
    .argument('[name]', 'the node to start', 'local')
    .option('--data-dir <dir>', "the node's data dir")
    .option('--port <port>', 'HTTP port (0: a free one); default from config.toml')
    .option('--init', 'create the node first if it does not exist (what "npm start" does)')
    .option('--rpc-url <url>', 'settle on this EVM chain instead of the embedded devnet')
    .option(
      '--chain-key <file>',
      'Ethereum key file to sign and pay on chain with (default keys/operator.eth)',
    )
    .option(
      '--no-chain',
      'run without a chain (settlement only through the Chainlink data_dump route)',
    )
    .option('--peer <multiaddr...>', 'peers to replicate with (added to [net] peers)')
    .option('--listen <multiaddr...>', 'where to listen for peers (default from [net] listen)')
    .option('--no-net', 'do not replicate with peers')
    .addHelpText(
      'after',
      '\nExamples:\n  $ rwa start local --port 8720\n  $ rwa start b --port 8721 --peer /ip4/127.0.0.1/tcp/9001/p2p/12D3KooW…',
    )
    .action(
      async (
        name: string,
        o: {
          dataDir?: string
          port?: string
          init?: boolean
          rpcUrl?: string
          chainKey?: string
          chain: boolean
          peer?: string[]
          listen?: string[]
          net: boolean
        },
      ) => {
        const { initNode, pickFreePort } = await import('../node/init.ts')
        const { loadConfig } = await import('../node/config.ts')
        const dataDir = resolveDataDir(name, { dataDir: o.dataDir })
        if (o.init && !existsSync(join(dataDir, 'config.toml'))) {
          initNode({ name, dataDir, p2pPort: await pickFreePort() })
          console.error(`Created node "${name}" in ${dataDir}`)
        }
        const config = loadConfig(dataDir)
        const port = o.port === undefined ? undefined : parsePort(o.port)
        const chain: ChainConfig | undefined = !o.chain
          ? { mode: 'none' }
          : o.rpcUrl
            ? {
                mode: 'rpc',
                rpcUrl: o.rpcUrl,
                escrow: config.chain.mode === 'rpc' ? config.chain.escrow : undefined,
                mpe: config.chain.mode === 'rpc' ? config.chain.mpe : undefined,
              }
            : undefined
        const net = {
          enabled: o.net,
          peers: [...config.net.peers, ...(o.peer ?? [])],
          ...(o.listen ? { listen: o.listen } : {}),
        }
        // The node's modules (libp2p, the chain, HTTP) and the domains' rules load only here.
        const { createNode } = await import('../node/node.ts')
        const { OPERATOR } = await import('../node/accounts.ts')
        const plugins = await Promise.all(domains.map((entry) => entry.plugin()))
        const node = createNode(config, {
          port,
          chain,
          chainKeyFile: o.chainKey,
          net,
          domains: plugins,
        })
        await node.start()
        console.error(`rwa node "${name}" is running at ${node.url}`)
        console.error(`  dashboard and API: ${node.url}/  (API document: ${node.url}/openapi.json)`)
        console.error(`  operator token:    ${node.accounts.tokenPath(OPERATOR)}`)
        const info = node.chain?.info
        console.error(
          info
            ? `  chain:             ${formatChain(info)}${info.token ? `, test token ${info.token}` : ''}`
            : '  chain:             none (--no-chain)',
        )
        const p2p = node.replicator
        console.error(
          p2p
            ? `  peer address:      ${p2p
                .multiaddrs()
                .map((m) => `${m}`)
                .join(' ')}  (other nodes join with --peer <this>)`
            : '  peer address:      replication off (--no-net)',
        )
        console.error(
          `  try: ${name === 'local' ? 'npm run demo' : `node bin/rwa.js demo --name ${name}`}    stop: Ctrl-C`,
        )
        const shutdown = (signal: string) => {
          node.logger.info({ signal }, 'shutting down')
          node.stop().then(
            () => process.exit(0),
            (error: unknown) => {
              node.logger.error({ err: error }, 'shutdown failed')
              process.exit(1)
            },
          )
        }
        process.once('SIGINT', shutdown)
        process.once('SIGTERM', shutdown)
      },
    )

  withNodeOptions(
    program.command('status').description("a node's name, version, documents, peers and heads"),
  )
    .addHelpText('after', '\nExample:\n  $ rwa status --json')
    .action(async (o: GlobalOptions) => {
      const ctx = contextOf(o)
      const status = await ctx.client.get<{
        name: string
        version: string
        docs: number
        peers: number
        accepted: number
        pending: number
        net: {
          peerId: string
          listen: string[]
          gossipDropped: number
          /** Absent from nodes before the deny list. */
          denied?: number
        } | null
        chain: StatusChain | null
        documents: Record<
          string,
          { heads: string[]; pending: number; equivocations: number; stateHash: string | null }
        >
        /** The cursor of the next page of documents (null on the last; absent from old nodes). */
        next?: string | null
      }>('/status')
      if (ctx.json) return printJson(status)
      console.log(`${status.name} (rwa ${status.version}) at ${ctx.client.url}`)
      console.log(
        `  documents ${status.docs}, ops ${status.accepted}, pending ${status.pending}, peers ${status.peers}`,
      )
      console.log(`  chain ${formatChain(status.chain)}`)
      if (status.net) {
        console.log(`  listening on ${status.net.listen.join(' ')}`)
        if (status.net.denied)
          console.log(`  peers denied: ${status.net.denied} (rwa net denied lists them)`)
        if (status.net.gossipDropped > 0)
          console.log(
            `  gossip messages dropped while busy: ${status.net.gossipDropped} (fetched again by sync)`,
          )
      }
      for (const [doc, d] of Object.entries(status.documents))
        console.log(
          `  ${doc}  heads ${d.heads.length}  pending ${d.pending}  equivocations ${d.equivocations}  state ${d.stateHash ?? '-'}`,
        )
      const shown = Object.keys(status.documents).length
      // The node answers a page of documents; the rest are listed by GET /status?after=<next>.
      if (status.next)
        console.log(
          `  … and ${status.docs - shown} more documents (GET /status?after=${status.next})`,
        )
    })

  addNetCommands(program)
}

/** `rwa net deny`, `rwa net allow`, `rwa net denied`: the operator's deny list of peers. */
export function addNetCommands(program: Command): void {
  const net = program
    .command('net')
    .description("a node's peers: deny and allow them (network partitions by hand)")
  const withDataDir = (command: Command) =>
    command
      .option('--name <node>', 'the local node whose deny list to edit', 'local')
      .option(
        '--data-dir <dir>',
        'data dir of the node (default $RWA_HOME/<name> or ~/.rwa/<name>)',
      )
  withDataDir(
    net
      .command('deny')
      .argument('<peer...>', 'libp2p peer ids (12D3KooW…)')
      .description(
        'refuse these peers: their connections are closed and no op goes to or comes from them (a running node reloads its list within a second)',
      ),
  )
    .addHelpText('after', '\nExample:\n  $ rwa net deny 12D3KooW… --name a')
    .action(async (peers: string[], o: DataDirOptions) => {
      const { added, list } = await editDenyList(o, { deny: peers })
      console.log(`Denied ${added.length} more peer(s); ${list.peers.length} denied in all.`)
    })
  withDataDir(
    net
      .command('allow')
      .argument('<peer...>', 'libp2p peer ids (12D3KooW…)')
      .description('take peers off the deny list; the node dials them again'),
  )
    .addHelpText('after', '\nExample:\n  $ rwa net allow 12D3KooW… --name a')
    .action(async (peers: string[], o: DataDirOptions) => {
      const { removed, list } = await editDenyList(o, { allow: peers })
      console.log(`Allowed ${removed.length} peer(s); ${list.peers.length} denied in all.`)
    })
  withDataDir(net.command('denied').description('list the peers on the deny list'))
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', '\nExample:\n  $ rwa net denied --name a')
    .action(async (o: DataDirOptions & { json?: boolean }) => {
      const { DENIED_PEERS_FILE, readDeniedPeers } = await import('../net/denied-peers.ts')
      const list = readDeniedPeers(join(nodeDataDir(o), DENIED_PEERS_FILE))
      if (o.json) return printJson(list)
      for (const peer of list.peers) console.log(peer)
      for (const s of list.skipped) console.error(`skipped line ${s.line} ${s.text}: ${s.reason}`)
      if (list.peers.length === 0) console.error('No peer is denied.')
    })
}

type DataDirOptions = { name: string; dataDir?: string }

/** The data dir of an existing node, or an error saying how to make one. */
function nodeDataDir(o: DataDirOptions): string {
  const dataDir = resolveDataDir(o.name, { dataDir: o.dataDir })
  if (!existsSync(join(dataDir, 'config.toml')))
    throw new NodeConfigError(
      `There is no node in "${dataDir}"; create it with rwa init ${o.name}, or pass --name or --data-dir.`,
    )
  return dataDir
}

async function editDenyList(
  o: DataDirOptions,
  change: { deny?: readonly string[]; allow?: readonly string[] },
) {
  const { DENIED_PEERS_FILE, editDeniedPeers } = await import('../net/denied-peers.ts')
  return editDeniedPeers(join(nodeDataDir(o), DENIED_PEERS_FILE), change)
}

/** The chain of `GET /status`: where the node settles. */
type StatusChain = {
  chainId: number
  rpcUrl: string
  escrow: string
  mpe?: string | undefined
  devnet: boolean
}

/** The chain a node settles on, in one line (as `rwa start` prints it). */
function formatChain(chain: StatusChain | null): string {
  if (!chain) return 'none (settlement only through the Chainlink data_dump route)'
  const mpe = chain.mpe ? `, channels (MPE) ${chain.mpe}` : ''
  return `${chain.devnet ? 'devnet (anvil) ' : ''}${chain.rpcUrl}, chain id ${chain.chainId}, escrow ${chain.escrow}${mpe}`
}

function parsePort(text: string): number {
  const port = Number(text)
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new BaseError(
      `"${text}" is not a port; use a number from 0 to 65535 (0 picks a free one).`,
    )
  return port
}
