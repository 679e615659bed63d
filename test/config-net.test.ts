import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import { DEFAULT_NET_LIMITS } from '../src/net/peer-scores.ts'
import { loadConfig, renderConfigToml } from '../src/node/config.ts'
import { createNode } from '../src/node/node.ts'

const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')

const roots: string[] = []
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

/** A data dir whose config.toml is `text`. */
function withConfig(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rwa-config-net-'))
  roots.push(dir)
  writeFileSync(join(dir, 'config.toml'), text)
  return dir
}

describe('[net] limits in config.toml', () => {
  test('the rendered config sets every limit at its default, and loads to the defaults', () => {
    const text = renderConfigToml('n1')
    for (const key of [
      'max_peers_per_ip',
      'ip_max_strikes',
      'sync_ops_per_second',
      'sync_bytes_per_second',
    ])
      expect(text).toMatch(new RegExp(`^${key} = \\d+$`, 'm'))
    const { syncRequestCost: _, ...limits } = DEFAULT_NET_LIMITS
    expect(loadConfig(withConfig(text)).net.limits).toEqual(limits)
  })

  test('limits set in config.toml are used; nonsense is refused with the key named', () => {
    const set = renderConfigToml('n1')
      .replace(/^max_peers_per_ip = \d+$/m, 'max_peers_per_ip = 32')
      .replace(/^ip_max_strikes = \d+$/m, 'ip_max_strikes = 40')
    expect(loadConfig(withConfig(set)).net.limits).toMatchObject({
      maxPeersPerIp: 32,
      ipMaxStrikes: 40,
    })
    const bad = renderConfigToml('n1').replace(/^max_peers_per_ip = \d+$/m, 'max_peers_per_ip = 0')
    expect(() => loadConfig(withConfig(bad))).toThrow(/net\.max_peers_per_ip/)
  })
})

describe('[chain] explorer_url', () => {
  test('is off by default; set, it loads without a trailing slash; a URL with a query is refused', () => {
    const text = renderConfigToml('n1')
    expect(loadConfig(withConfig(text)).explorerUrl).toBeUndefined()
    const set = text.replace(/^# explorer_url = .*$/m, 'explorer_url = "https://etherscan.io/"')
    expect(loadConfig(withConfig(set)).explorerUrl).toBe('https://etherscan.io')
    const bad = text.replace(/^# explorer_url = .*$/m, 'explorer_url = "https://x.example/?q="')
    expect(() => loadConfig(withConfig(bad))).toThrow(/chain\.explorer_url: an http\(s\) URL/)
  })
})

describe('[net] listen written by rwa init', () => {
  test('rwa init picks a free port for peers, and the peer address survives a restart', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-config-net-'))
    roots.push(root)
    const dataDir = join(root, 'n1')
    const { stdout } = await promisify(execFile)(process.execPath, [
      bin,
      'init',
      'n1',
      '--data-dir',
      dataDir,
    ])
    const [listen] = loadConfig(dataDir).net.listen
    const port = Number(/^\/ip4\/127\.0\.0\.1\/tcp\/(\d+)$/.exec(listen ?? '')?.[1])
    expect(port).toBeGreaterThan(0)
    expect(stdout).toContain(`peer port         ${port}`)
    /** Starts the node from its config.toml (replication on, as configured); answers its peer address. */
    const addressAfterStart = async () => {
      const node = createNode(loadConfig(dataDir), {
        port: 0,
        logger: pino({ level: 'silent' }),
        verifyPool: false,
        chain: { mode: 'none' },
      })
      await node.start()
      try {
        return { peerId: node.replicator!.peerId, addresses: node.replicator!.multiaddrs() }
      } finally {
        await node.stop()
      }
    }
    const first = await addressAfterStart()
    expect(first.addresses).toEqual([`/ip4/127.0.0.1/tcp/${port}/p2p/${first.peerId}`])
    expect(await addressAfterStart()).toEqual(first)
  }, 60_000)
})
