import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { ChainInfo } from '../chain/chain-service.ts'
import type { RwaNode } from '../node/node.ts'
import { NodeClient, NodeRequestError } from './client.ts'
import type { contextOf } from './context.ts'

// What every domain's `demo` command shares: a node to run against (started in this process when
// none answers), the chain it settles on, and progress lines on stderr.

/** A one-line progress bar on stderr (plain lines when stderr is not a terminal). */
export function progress(label: string, total: number, quiet: boolean) {
  let done = 0
  const draw = () => {
    if (quiet) return
    if (!process.stderr.isTTY) {
      if (done === total) console.error(`${label}: ${done}/${total}`)
      return
    }
    const width = 30
    const filled = Math.round((done / Math.max(total, 1)) * width)
    process.stderr.write(
      `\r${label.padEnd(22)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`,
    )
    if (done === total) process.stderr.write('\n')
  }
  return {
    tick() {
      done++
      draw()
    },
  }
}

/** The chain a node settles on, or undefined when it runs without one. */
export async function chainOf(client: NodeClient): Promise<ChainInfo | undefined> {
  try {
    return await client.get<ChainInfo>('/chain')
  } catch (error) {
    if (error instanceof NodeRequestError && error.status === 404) return undefined
    throw error
  }
}

/**
 * The node a demo runs against: the one the command names or the local one, and when no local
 * node answers, one started in this process from the data directory (initialised if new), its
 * logs on stderr so stdout holds only the demo's output. Stop `started` when done.
 */
export async function demoNode(
  ctx: ReturnType<typeof contextOf>,
  o: { name: string; node?: string | undefined },
): Promise<{ client: NodeClient; started: RwaNode | undefined }> {
  try {
    await ctx.client.get('/status')
    return { client: ctx.client, started: undefined }
  } catch (error) {
    if (!(error instanceof NodeRequestError) || error.status !== 0 || o.node) throw error
  }
  const { initNode, pickFreePort } = await import('../node/init.ts')
  const { loadConfig } = await import('../node/config.ts')
  const { pino } = await import('pino')
  if (!existsSync(join(ctx.dataDir, 'config.toml')))
    initNode({ name: o.name, dataDir: ctx.dataDir, p2pPort: await pickFreePort() })
  // The node's modules load only here: the other commands need none of them.
  const { createNode } = await import('../node/node.ts')
  const started = createNode(loadConfig(ctx.dataDir), {
    port: 0,
    logger: pino(
      { level: ctx.json ? 'warn' : 'info', base: { node: o.name } },
      pino.destination(2),
    ),
  })
  await started.start()
  if (!ctx.json) console.error(`Started node "${o.name}" at ${started.url} for the demo.`)
  return { client: new NodeClient(started.url), started }
}
