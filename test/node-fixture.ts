import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { OPERATOR } from '../src/node/accounts.ts'
import { type ChainConfig, loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'

/** A real node on a temp data dir (SQLite), serving on a free loopback port. */
export class TestNode {
  node: RwaNode
  constructor(
    readonly dataDir: string,
    readonly root: string,
  ) {
    this.node = TestNode.create(dataDir)
  }

  /** A node on `dataDir`; without a chain unless `chain` says otherwise (anvil costs a start). */
  static create(dataDir: string, chain: ChainConfig = { mode: 'none' }): RwaNode {
    return createNode(loadConfig(dataDir), {
      port: 0,
      logger: pino({ level: 'silent' }),
      verifyPool: false,
      chain,
      net: { enabled: false },
    })
  }

  static async start(): Promise<TestNode> {
    const root = mkdtempSync(join(tmpdir(), 'rwa-node-test-'))
    const dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    const t = new TestNode(dataDir, root)
    await t.node.start()
    return t
  }

  get url(): string {
    return this.node.url
  }

  get operatorToken(): string {
    return readFileSync(join(this.dataDir, 'keys', `${OPERATOR}.token`), 'utf8').trim()
  }

  /** Stops and starts the node again on the same data dir (a new port). */
  async restart(): Promise<void> {
    await this.node.stop()
    this.node = TestNode.create(this.dataDir)
    await this.node.start()
  }

  /** A JSON request; answers the status and parsed body. */
  async call(
    method: string,
    path: string,
    { token, body, raw }: { token?: string | undefined; body?: unknown; raw?: string } = {},
  ): Promise<{ status: number; json: any }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(raw !== undefined
        ? { body: raw }
        : body === undefined
          ? {}
          : { body: JSON.stringify(body) }),
    })
    return { status: response.status, json: await response.json() }
  }

  async stop(): Promise<void> {
    await this.node.stop()
    rmSync(this.root, { recursive: true, force: true })
  }
}
