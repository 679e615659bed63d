import { execFile } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createPublicClient, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterEach, describe, expect, test } from 'vitest'
import { startDevnet } from '../src/chain/devnet.ts'
import { decodeOp } from '../src/ledger/op.ts'
import { readEthKeyFile } from '../src/store/key-file.ts'
import { TestNode } from './node-fixture.ts'

const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')
let node: TestNode | undefined
afterEach(async () => {
  await node?.stop()
  node = undefined
})

/** A test node on the embedded devnet. */
async function devnetNode(): Promise<TestNode> {
  const t = await TestNode.start()
  await t.node.stop()
  t.node = TestNode.create(t.dataDir, { mode: 'devnet' })
  await t.node.start()
  return t
}

describe('settlement on the devnet', () => {
  test('rwa demo: the node signs, settles and records COMPLETE; every payee withdraws its payout, the sponsor its remainder', async () => {
    node = await devnetNode()
    const { stdout } = await promisify(execFile)(process.execPath, [
      bin,
      'demo',
      '--json',
      '--items',
      '3',
      '--auditors',
      '4',
      '--dishonest',
      '25',
      '--bond',
      '900000',
      '--node',
      node.url,
      '--data-dir',
      node.dataDir,
    ])
    const result = JSON.parse(stdout)
    expect(result.state).toBe('COMPLETE')
    expect(result.chain.settled).toBe(true)
    const payouts = Object.fromEntries(
      result.payouts.map((p: { address: string; amount: string }) => [p.address, p.amount]),
    )
    expect(result.chain.withdrawals.length).toBe(result.payouts.length)
    for (const w of result.chain.withdrawals) {
      expect(w.amount).toBe(payouts[w.address])
      expect(w.balance).toBe(payouts[w.address])
    }
    const { sponsor } = result.chain
    expect(sponsor.refund).toBe(result.remainder)
    expect(BigInt(sponsor.balanceBefore) - BigInt(sponsor.balanceAfter)).toBe(
      900000n - BigInt(result.remainder),
    )

    // The log shows how: this node's signature of the report, then "settled" with the transaction.
    const { json } = await node.call('GET', `/docs/${result.audit}/ops`)
    const ops = json.ops.map((hex: string) => decodeOp(Buffer.from(hex, 'hex')).op)
    const operator = privateKeyToAccount(readEthKeyFile(join(node.dataDir, 'keys', 'operator.eth')))
    const signed = ops.find((op: { type: string }) => op.type === 'audit.settlement.sign')
    expect(signed.body.escrow).toBe(result.chain.escrow)
    const view = (await node.call('GET', `/audits/${result.audit}`)).json
    expect(view.state).toBe('COMPLETE')
    const settled = ops.find((op: { type: string }) => op.type === 'audit.settled')
    expect(settled.body.tx).toMatch(/^0x[0-9a-f]{64}$/)
    const status = (await node.call('GET', '/status')).json
    expect(status.chain).toMatchObject({ chainId: 31337, devnet: true, signer: operator.address })
  }, 120_000)

  test('a restarted node keeps its devnet contracts (anvil state in the data dir)', async () => {
    node = await devnetNode()
    const before = (await node.call('GET', '/chain')).json
    await node.node.stop()
    node.node = TestNode.create(node.dataDir, { mode: 'devnet' })
    await node.node.start()
    const after = (await node.call('GET', '/chain')).json
    expect(after.escrow).toBe(before.escrow)
    expect(after.token).toBe(before.token)
  }, 60_000)

  test('without a chain, /chain says so and /status shows none', async () => {
    node = await TestNode.start()
    expect(await node.call('GET', '/chain')).toMatchObject({
      status: 404,
      json: { error: 'NotFoundError' },
    })
    expect((await node.call('GET', '/status')).json.chain).toBeNull()
  })
})

describe('another chain by RPC URL', () => {
  test('deploys an escrow on first start, records it, and reuses it on the next', async () => {
    const chain = await startDevnet()
    try {
      node = await TestNode.start()
      await node.node.stop()
      const operator = privateKeyToAccount(
        readEthKeyFile(join(node.dataDir, 'keys', 'operator.eth')),
      )
      const client = createPublicClient({ transport: http(chain.rpcUrl) })
      await client.request({
        method: 'anvil_setBalance' as never,
        params: [operator.address, '0x56BC75E2D63100000'] as never,
      })
      node.node = TestNode.create(node.dataDir, { mode: 'rpc', rpcUrl: chain.rpcUrl })
      await node.node.start()
      const info = (await node.call('GET', '/chain')).json
      expect(info).toMatchObject({ chainId: 31337, rpcUrl: chain.rpcUrl, devnet: false })
      expect(await client.getCode({ address: info.escrow })).toMatch(/^0x6080/)
      const recorded = JSON.parse(readFileSync(join(node.dataDir, 'chain.json'), 'utf8'))
      expect(recorded['31337'].escrow).toBe(info.escrow)
      await node.node.stop()
      node.node = TestNode.create(node.dataDir, { mode: 'rpc', rpcUrl: chain.rpcUrl })
      await node.node.start()
      expect((await node.call('GET', '/chain')).json.escrow).toBe(info.escrow)
    } finally {
      await chain.stop()
    }
  }, 60_000)

  test('an unreachable RPC URL is a clear error at start', async () => {
    node = await TestNode.start()
    await node.node.stop()
    node.node = TestNode.create(node.dataDir, { mode: 'rpc', rpcUrl: 'http://127.0.0.1:9' })
    await expect(node.node.start()).rejects.toMatchObject({
      name: 'ChainError',
      message: expect.stringContaining('--no-chain'),
    })
  })
})

describe('devnet launcher', () => {
  test('stops an anvil a killed node left behind (pid file)', async () => {
    node = await TestNode.start()
    const pidFile = join(node.dataDir, 'anvil.pid')
    const first = await startDevnet({ pidFile })
    const pid = Number(readFileSync(pidFile, 'utf8'))
    writeFileSync(pidFile, `${pid}\n`) // as if the node died without stopping it
    const second = await startDevnet({ pidFile })
    await new Promise((r) => setTimeout(r, 300))
    expect(existsSync(`/proc/${pid}`)).toBe(false)
    await second.stop()
    await first.stop()
  })
})
