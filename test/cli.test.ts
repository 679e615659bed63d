import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, test } from 'vitest'
import { hoistLeadingOptions } from '../src/cli/args.ts'
import { makeGenesis, testSigner } from './helpers.ts'

const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')
const run = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, ...args])
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('rwa CLI', () => {
  test('--version prints the package version, and help lists the node commands', async () => {
    const { version } = (await import('../package.json', { with: { type: 'json' } })).default
    expect((await run('--version')).stdout.trim()).toBe(version)
    const help = await run('--help')
    const start = await run('start', '--help')
    for (const option of [
      '--peer',
      '--listen',
      '--no-net',
      '--rpc-url',
      '--chain-key',
      '--no-chain',
      '--init',
    ])
      expect(start.stdout).toContain(option)
    for (const command of ['init', 'start', 'status', 'audit', 'auditor', 'demo'])
      expect(help.stdout).toMatch(new RegExp(`\\n  ${command}\\b`))
  })

  test('key new writes a 0600 key whose public key key show prints', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rwa-cli-test-'))
    const path = join(dir, 'k.pem')
    const created = await run('key', 'new', path)
    expect(created.code).toBe(0)
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const shown = await run('key', 'show', path)
    expect(shown.stdout.trim()).toBe(created.stdout.trim())
    expect(shown.stdout.trim()).toMatch(/^[0-9a-f]{64}$/)
    const again = await run('key', 'new', path)
    expect(again.code).toBe(1)
    expect(again.stderr).toContain('already exists')
    // An Ethereum key for --eth-key: its address, shown again by key show.
    const eth = join(dir, 'me.eth')
    const address = await run('key', 'new-eth', eth)
    expect(address.stdout).toMatch(/^0x[0-9a-fA-F]{40}\n$/)
    expect(statSync(eth).mode & 0o777).toBe(0o600)
    expect((await run('key', 'show', eth)).stdout).toBe(address.stdout)
    const missing = await run('key', 'show', join(dir, 'nothere.eth'))
    expect(missing.stderr).toMatch(
      /^error: Key file ".*nothere.eth" does not exist; check the path/,
    )
    rmSync(dir, { recursive: true, force: true })
  })

  test('op decode prints a checked op, and explains garbage', async () => {
    const g = makeGenesis(testSigner(1), { name: 'street lights' })
    const ok = await run('op', 'decode', Buffer.from(g.bytes).toString('hex'))
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({
      id: g.id,
      seq: 1,
      type: 'test.create',
      body: { name: 'street lights' },
      signatureValid: true,
    })
    const bad = await run('op', 'decode', 'a1617601')
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/^error: Value is not an rwa op/)
    const missing = await run('op', 'decode', 'no-such-file.bin')
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe(
      'error: "no-such-file.bin" is neither an op in hex (an even number of 0-9a-f digits) nor a readable file.\n',
    )
  })

  test('an unknown command fails with usage help', async () => {
    const { code, stderr } = await run('frobnicate')
    expect(code).not.toBe(0)
    expect(stderr).toContain("unknown command 'frobnicate'")
  })
})

describe('options before the command', () => {
  test('node options written before the command move after it; anything else stays', () => {
    expect(hoistLeadingOptions(['--node', 'http://n:1', 'audit', 'state', 'x'])).toEqual([
      'audit',
      'state',
      'x',
      '--node',
      'http://n:1',
    ])
    expect(hoistLeadingOptions(['--json', '--node=http://n:1', 'status'])).toEqual([
      'status',
      '--json',
      '--node=http://n:1',
    ])
    // Before a "--" separator, so they stay options.
    expect(hoistLeadingOptions(['--json', 'op', 'decode', '--', '-x'])).toEqual([
      'op',
      'decode',
      '--json',
      '--',
      '-x',
    ])
    for (const unchanged of [
      ['status', '--node', 'http://n:1'],
      ['--bogus', 'status'],
      ['--node'],
      ['--json'],
      ['--version'],
    ])
      expect(hoistLeadingOptions(unchanged)).toEqual(unchanged)
  })

  test('the binary takes --node before the command', async () => {
    const { code, stderr } = await run('--node', 'http://127.0.0.1:9', 'status')
    expect(code).toBe(1)
    expect(stderr).toMatch(/^error: No node answers at http:\/\/127.0.0.1:9/)
  })
})
