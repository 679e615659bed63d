import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { DEFAULT_NET_LIMITS } from '../src/net/peer-scores.ts'
import { loadConfig, renderConfigToml } from '../src/node/config.ts'

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
