import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { generatePrivateKey } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { initNode } from '../src/node/init.ts'
import { generateSigner, writeEthKeyFile, writeKeyFile } from '../src/store/key-file.ts'
import { RWA_BIN, TestNode } from './node-fixture.ts'

const bin = RWA_BIN
let node: TestNode

/** Runs the real `rwa` binary against the test node. */
const rwa = (...args: string[]) => node.rwa(...args)

/** The ops the test node has accepted (read over HTTP: no command to spawn). */
async function accepted(): Promise<number> {
  return ((await (await fetch(`${node.url}/status`)).json()) as { accepted: number }).accepted
}

/**
 * `n` auditors' key options (--key, --eth-key), their files written here as `rwa key new` and
 * `key new-eth` write them (test/cli.test.ts runs those): a spawn per key is start-up, not test.
 */
async function auditorKeys(prefix: string, n: number): Promise<string[][]> {
  const keys: string[][] = []
  for (let i = 0; i < n; i++) {
    const key = join(node.root, `${prefix}${i}.key`)
    const eth = join(node.root, `${prefix}${i}.eth`)
    writeKeyFile(key, generateSigner())
    writeEthKeyFile(eth, generatePrivateKey())
    keys.push(['--key', key, '--eth-key', eth])
  }
  return keys
}

beforeAll(async () => {
  node = await TestNode.start()
})
afterAll(async () => {
  await node.stop()
})

describe('rwa CLI against a real node', () => {
  test('an admin and three auditors run an audit with client-signed ops', async () => {
    const created = await rwa('audit', 'create', 'CLI audit', '--bond', '900', '--json')
    expect(created.code).toBe(0)
    expect(JSON.parse(created.stdout)).toMatchObject({ name: 'CLI audit', state: 'INITIALIZATION' })
    expect(
      (await rwa('audit', 'add', 'CLI audit', 'street', 'light', '1', 'works')).stdout,
    ).toContain('Item added')
    const items = JSON.parse((await rwa('audit', 'items', 'CLI audit', '--json')).stdout)
    expect(items).toMatchObject([{ number: 1, description: 'street light 1 works' }])

    const refused = await rwa('audit', 'close', 'CLI audit')
    expect(refused.code).toBe(1)
    expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    expect(refused.stderr).toMatch(/^error: .*INITIALIZATION/)

    expect((await rwa('audit', 'open', 'CLI audit')).code).toBe(0)
    // Your own --key without --eth-key would pay the node operator: refused.
    const slip = join(node.root, 'slip.key')
    writeKeyFile(slip, generateSigner())
    const noEth = await rwa('auditor', 'register', 'CLI audit', '--key', slip)
    expect([noEth.code, noEth.stderr]).toEqual([
      1,
      expect.stringMatching(/^error: With --key, give --eth-key too/),
    ])
    const keys = await auditorKeys('auditor', 3)
    for (const key of keys) {
      const registered = await rwa('auditor', 'register', 'CLI audit', ...key)
      expect(registered.stdout).toContain('Registered with payout address 0x')
    }
    expect((await rwa('audit', 'close', 'CLI audit')).code).toBe(0)
    expect((await rwa('audit', 'start', 'CLI audit')).stdout).toContain('AUDITING')
    const garbage = await rwa('auditor', 'answer', 'CLI audit', 'maybe', ...keys[0]!)
    expect(garbage.code).toBe(1)
    expect(garbage.stderr).toContain('yes')
    for (const [i, key] of keys.entries()) {
      const next = await rwa('auditor', 'next', 'CLI audit', ...key)
      expect(next.stdout).toContain('street light 1 works')
      expect(next.stdout).toContain(`yes|no --key ${key[1]}`)
      expect((await rwa('auditor', 'answer', 'CLI audit', i === 0 ? 'n' : 'Y', ...key)).code).toBe(
        0,
      )
    }
    expect((await rwa('audit', 'stop', 'CLI audit')).stdout).toContain('WAITING_FOR_CONTRACT')
    const settlement = JSON.parse((await rwa('audit', 'settlement', 'CLI audit', '--json')).stdout)
    expect(settlement.settlement.amounts).toEqual(['300', '300'])
    expect(settlement.settlement.remainder).toBe('300')
  })

  test('create checks parameters and the name before signing; reassign gives a missed inspection to a backup', async () => {
    const before = await accepted()
    const even = await rwa('audit', 'create', 'Even', '--bond', '10', '--audits-per-item', '4')
    expect([even.code, even.stderr]).toEqual([
      1,
      expect.stringMatching(/^error: audits per item 4 is not allowed; .*\n$/),
    ])
    const taken = await rwa('audit', 'create', 'CLI audit', '--bond', '10')
    expect(taken.stderr).toMatch(/^error: An audit named "CLI audit" already exists/)
    expect(await accepted()).toBe(before)

    await rwa('audit', 'create', 'Late', '--bond', '900')
    await rwa('audit', 'add', 'Late', 'bench', '4')
    await rwa('audit', 'set', 'Late', 'inspection_deadline', '1000')
    await rwa('audit', 'open', 'Late')
    const keys = await auditorKeys('late', 4)
    for (const key of keys) {
      expect((await rwa('auditor', 'register', 'Late', ...key)).code).toBe(0)
    }
    await rwa('audit', 'close', 'Late')
    await rwa('audit', 'start', 'Late')
    const outstanding = await rwa('audit', 'outstanding', 'Late')
    const [first] = outstanding.stdout.trim().split('\n')
    const noShow = /^1\. bench 4: auditor ([0-9a-f]{16})…$/.exec(first!)![1]!
    const stop = await rwa('audit', 'stop', 'Late')
    expect(stop.stderr).toContain('("reassign")')
    await new Promise((resolve) => setTimeout(resolve, 1100)) // past the 1 s deadline
    const reassigned = await rwa('audit', 'reassign', 'Late', '1', noShow)
    expect([reassigned.code, reassigned.stdout]).toEqual([0, expect.stringContaining('Reassigned')])
    const state = JSON.parse((await rwa('audit', 'state', 'Late', '--json')).stdout)
    const inspections = state.inspections as { auditor: string; status: string }[]
    expect(inspections.find((i) => i.auditor.startsWith(noShow))!.status).toBe('reassigned')
    expect(inspections.filter((i) => i.status === 'outstanding')).toHaveLength(3)
    const unknown = await rwa('audit', 'reassign', 'Late', '1', 'ffffffff')
    expect(unknown.stderr).toMatch(/^error: "ffffffff" is not the key .* of an auditor of "Late"/)
  })

  test('commit–reveal by CLI: commit, stop, reveal, finish', async () => {
    await rwa('audit', 'create', 'CR audit', '--bond', '600', '--commit-reveal')
    await rwa('audit', 'add', 'CR audit', 'bench', '3', 'is', 'painted')
    await rwa('audit', 'open', 'CR audit')
    const keys = await auditorKeys('cr', 3)
    for (const key of keys) {
      expect((await rwa('auditor', 'register', 'CR audit', ...key)).code).toBe(0)
    }
    await rwa('audit', 'close', 'CR audit')
    await rwa('audit', 'start', 'CR audit')
    const plain = await rwa('auditor', 'answer', 'CR audit', 'yes', ...keys[0]!)
    expect(plain.stderr).toContain('rwa auditor commit')
    for (const [i, key] of keys.entries())
      expect(
        (await rwa('auditor', 'commit', 'CR audit', i === 2 ? 'no' : 'yes', ...key)).stdout,
      ).toContain('Committed')
    expect((await rwa('audit', 'stop', 'CR audit')).stdout).toContain('AUDITING_FINISHED')
    for (const key of keys)
      expect((await rwa('auditor', 'reveal', 'CR audit', ...key)).stdout).toContain('Revealed 1')
    const again = await rwa('auditor', 'reveal', 'CR audit', ...keys[0]!)
    expect(again.stderr).toContain('no commitment to reveal')
    expect((await rwa('audit', 'finish', 'CR audit')).stdout).toContain('WAITING_FOR_CONTRACT')
    const settlement = JSON.parse((await rwa('audit', 'settlement', 'CR audit', '--json')).stdout)
    expect(settlement.settlement.amounts).toEqual(['200', '200'])
  })

  test('the demo runs every phase and conserves the bond', async () => {
    const { code, stdout } = await rwa(
      'demo',
      '--json',
      '--items',
      '4',
      '--auditors',
      '5',
      '--dishonest',
      '40',
      '--bond',
      '100000',
    )
    expect(code).toBe(0)
    const result = JSON.parse(stdout)
    expect(result.state).toBe('WAITING_FOR_CONTRACT')
    expect(result.items).toHaveLength(4)
    const paid = result.payouts.reduce(
      (sum: bigint, p: { amount: string }) => sum + BigInt(p.amount),
      0n,
    )
    expect(paid + BigInt(result.remainder)).toBe(100000n)
    expect(paid).toBeGreaterThan(0n)
  })

  test('status and a node that does not answer', async () => {
    const status = JSON.parse((await rwa('status', '--json')).stdout)
    expect(status).toMatchObject({ name: 'n1', peers: 0 })
    // Plain output shows the chain too (this node runs without one).
    expect((await rwa('status')).stdout).toContain(
      '\n  chain none (settlement only through the Chainlink data_dump route)\n',
    )
    const { code, stderr } = await promisify(execFile)(process.execPath, [
      bin,
      'status',
      '--node',
      'http://127.0.0.1:9',
    ])
      .then(() => ({ code: 0, stderr: '' }))
      .catch((e: { code: number; stderr: string }) => e)
    expect(code).toBe(1)
    expect(stderr).toMatch(/^error: No node answers at http:\/\/127.0.0.1:9/)
  })

  test('a demo that cannot finish is refused before anything is funded or signed', async () => {
    const before = await accepted()
    for (const [args, message] of [
      [['--auditors', '2'], /^error: --auditors 2 is fewer than --k 3/],
      [['--k', '4'], /^error: --k 4 is even/],
      [['--bond', 'abc'], /^error: --bond "abc" is not an amount/],
    ] as const) {
      const { code, stderr } = await rwa('demo', ...args)
      expect([code, stderr.split('\n').length]).toEqual([1, 2])
      expect(stderr).toMatch(message)
    }
    expect(await accepted()).toBe(before)
  })

  test('a stopped node is looked for at its own port, and --node must be a URL', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-cli-stopped-'))
    try {
      // A node "b" on port 1 (nothing answers there), never started: no run.json.
      const dataDir = join(root, 'b')
      initNode({ name: 'b', dataDir })
      const config = join(dataDir, 'config.toml')
      writeFileSync(config, readFileSync(config, 'utf8').replace(/^port = \d+/m, 'port = 1'))
      const stopped = await promisify(execFile)(process.execPath, [
        bin,
        'status',
        '--data-dir',
        dataDir,
      ]).catch((e: { code: number; stderr: string }) => e)
      expect((stopped as { stderr: string }).stderr).toMatch(
        /^error: No node answers at http:\/\/127.0.0.1:1\b/,
      )
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
    const bad = await promisify(execFile)(process.execPath, [
      bin,
      'status',
      '--node',
      'localhost:8720',
    ]).catch((e: { code: number; stderr: string }) => e)
    expect((bad as { stderr: string }).stderr).toBe(
      'error: --node "localhost:8720" is not a node\'s URL; give one such as http://127.0.0.1:8720.\n',
    )
  })
})
