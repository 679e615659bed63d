import { execFile } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createPublicClient, createWalletClient, http, type PublicClient } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterEach, describe, expect, test } from 'vitest'
import { auditEscrowAbi } from '../src/chain/artifacts.ts'
import { startDevnet } from '../src/chain/devnet.ts'
import { chainFor, NATIVE } from '../src/chain/escrow.ts'
import { readMpeToken } from '../src/chain/mpe.ts'
import { fundAudit } from '../src/chain/payments.ts'
import { auditIdOf, settlementTypedData } from '../src/core/audit/settlement-report.ts'
import { decodeOp } from '../src/ledger/op-decode.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { readEthKeyFile } from '../src/store/key-file.ts'
import { startMpeChain } from './fixtures/mpe-chain.ts'
import { stoppedAudit, TestNode } from './node-fixture.ts'

const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')
let node: TestNode | undefined
afterEach(async () => {
  await node?.stop()
  node = undefined
})

describe('settlement on the devnet', () => {
  test('rwa demo: the node signs, settles and records COMPLETE; every payee withdraws its payout, the sponsor its remainder', async () => {
    node = await TestNode.startDevnet()
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

  test('rwa audit fund, the node settling once funded, rwa payout withdraw and POST /payouts/withdraw', async () => {
    node = await TestNode.startDevnet({ explorerUrl: 'https://explorer.example' })
    const t = node
    const { id, tokens } = await stoppedAudit(t, 'paid')
    // Not funded yet: the node waits (native ETH, the audit's default token).
    await new Promise((r) => setTimeout(r, 500))
    expect((await t.call('GET', `/audits/${id}`)).json.state).toBe('WAITING_FOR_CONTRACT')
    // A Chainlink fetch (no token needed) reads the settlement, but on a node that settles
    // through its escrow it must not end the audit before the escrow pays.
    const dump = await t.call('POST', '/data_dump/', { body: { id: 'j', data: { name: 'paid' } } })
    expect(dump.json.result).toBe((await t.call('GET', `/audits/${id}`)).json.settlement.encoded)
    expect(dump.json.data.state).toBe('WAITING_FOR_CONTRACT')
    const rwa = (...args: string[]) =>
      promisify(execFile)(process.execPath, [
        bin,
        ...args,
        '--node',
        t.url,
        '--data-dir',
        t.dataDir,
      ])
    expect((await rwa('audit', 'settlement', 'paid')).stdout).toMatch(
      /\nnot paid yet: the node settles once the escrow is funded/,
    )
    expect((await rwa('audit', 'fund', 'paid', '900')).stdout).toContain(
      'Funded "paid" with 0.0000000000000009 ETH',
    )
    for (
      let i = 0;
      i < 100 && (await t.call('GET', `/audits/${id}`)).json.state !== 'COMPLETE';
      i++
    )
      await new Promise((r) => setTimeout(r, 100))
    expect((await t.call('GET', `/audits/${id}`)).json.state).toBe('COMPLETE')
    // The CLI names the transaction that paid, linked to the configured explorer, and the chain.
    const { transaction } = (await t.call('GET', `/audits/${id}/settlement`)).json
    expect(transaction.hash).toMatch(/^0x[0-9a-f]{64}$/)
    expect((await rwa('audit', 'settlement', 'paid')).stdout).toContain(
      `\npaid in transaction ${transaction.hash} on chain 31337  https://explorer.example/tx/${transaction.hash}\n`,
    )
    const chain = (await t.call('GET', '/chain')).json
    const home = await (await fetch(`${t.url}/`)).text()
    expect(home).toContain(`href="https://explorer.example/address/${chain.escrow}"`)
    expect((await rwa('status')).stdout).toContain(
      `\n  chain devnet (anvil) ${chain.rpcUrl}, chain id 31337, escrow ${chain.escrow}, channels (MPE) ${chain.mpe}\n`,
    )
    // Payees pay their own gas; these new keys have no ETH, which the devnet gives them.
    const info = (await t.call('GET', '/chain')).json
    const client = createPublicClient({ transport: http(info.rpcUrl) })
    const a1 = privateKeyToAccount(readEthKeyFile(join(t.dataDir, 'keys', 'a1.eth'))).address
    expect(await client.getBalance({ address: a1 })).toBe(0n)
    const cli = await rwa('payout', 'withdraw', '--eth-key', join(t.dataDir, 'keys', 'a1.eth'))
    expect(cli.stdout).toMatch(/^Withdrew 0\.0000000000000003 ETH; tx 0x[0-9a-f]{64}\.$/m)
    const again = await rwa(
      'payout',
      'withdraw',
      '--eth-key',
      join(t.dataDir, 'keys', 'a1.eth'),
    ).catch((e: { stderr: string }) => e)
    expect((again as { stderr: string }).stderr).toMatch(/^error: Nothing is owed to 0x/)
    // Chain failures are one line, not viem's pages of ABI and request.
    const settled = await rwa('audit', 'fund', 'paid', '900').catch((e: { stderr: string }) => e)
    expect((settled as { stderr: string }).stderr).toBe(
      'error: The contract refused to fund the audit: the audit is already settled.\n',
    )
    const badToken = await rwa('payout', 'withdraw', '--token', 'foo').catch(
      (e: { stderr: string }) => e,
    )
    expect((badToken as { stderr: string }).stderr).toMatch(/^error: "foo" is not a token; .*\n$/)
    const http2 = await t.call('POST', '/payouts/withdraw', { token: tokens[1] })
    expect(http2.json.withdrawn).toMatchObject([
      { token: '0x0000000000000000000000000000000000000000', amount: '300' },
    ])
    expect((await t.call('POST', '/payouts/withdraw', { token: tokens[1] })).json.error).toBe(
      'PaymentError',
    )
  }, 120_000)

  test('an escrow funded in another token than the audit names is not settled', async () => {
    node = await TestNode.startDevnet()
    const t = node
    const { id } = await stoppedAudit(t, 'eth')
    // The audit pays native ETH; the sponsor funds it with the devnet ERC-20 instead.
    const info = (await t.call('GET', '/chain')).json
    await fundAudit({
      info,
      account: privateKeyToAccount(readEthKeyFile(join(t.dataDir, 'keys', 'operator.eth'))),
      auditId: auditIdOf(id as OpId),
      token: info.token,
      amount: 900n,
    })
    // The settler looks again every 2 s: give it two looks.
    await new Promise((r) => setTimeout(r, 4500))
    const view = (await t.call('GET', `/audits/${id}`)).json
    expect(view.state).toBe('WAITING_FOR_CONTRACT')
    // The audit's JSON and page say which token the escrow holds, and that nobody settles it.
    expect(view.funding).toMatchObject({ funded: '900', escrowToken: info.token })
    const page = await (await fetch(`${t.url}/ui/audits/${id}`)).text()
    expect(page).toContain(
      `The escrow holds 900 base units of another token (${info.token}) than the audit pays in, so no node settles it`,
    )
    // Funding it more through the node is refused before anything is sent: no approval, no gas.
    const { createPublicClient, http } = await import('viem')
    const client = createPublicClient({ transport: http(info.rpcUrl) })
    const operator = privateKeyToAccount(readEthKeyFile(join(t.dataDir, 'keys', 'operator.eth')))
    const eth = () => client.getBalance({ address: operator.address })
    const before = await eth()
    const refused = await t.call('POST', `/audits/${id}/fund`, {
      token: t.operatorToken,
      body: { amount: '100' },
    })
    expect(refused.status).toBe(409)
    expect(refused.json.message).toContain('holds another token')
    expect(await eth()).toBe(before)
  }, 60_000)

  test('a signer the escrow’s owner adds later is counted: the node does not keep an old answer', async () => {
    node = await TestNode.startDevnet()
    const t = node
    const { id } = await stoppedAudit(t, 'signers')
    const info = (await t.call('GET', '/chain')).json
    const audit = id as OpId
    const ownSignature = async () =>
      (await t.node.audits.state(audit)).settlementSignatures.length > 0
    for (let i = 0; i < 100 && !(await ownSignature()); i++)
      await new Promise((r) => setTimeout(r, 50))
    // A second key signs the report before the escrow knows it; the node looks it up then.
    const extra = privateKeyToAccount(generatePrivateKey())
    const { settlement } = await t.node.audits.state(audit)
    const signature = await extra.signTypedData(
      settlementTypedData({
        chainId: info.chainId,
        escrow: info.escrow,
        auditId: auditIdOf(audit),
        payees: settlement!.payees,
        amounts: settlement!.amounts,
      }),
    )
    await t.node.actions.signSettlement(t.node.accounts.get(OPERATOR)!, id, {
      chainId: info.chainId,
      escrow: info.escrow,
      signature,
    })
    await new Promise((r) => setTimeout(r, 500))
    // The owner (the operator's key on the devnet) adds it and needs both signatures from now.
    const operator = privateKeyToAccount(readEthKeyFile(join(t.dataDir, 'keys', 'operator.eth')))
    const owner = createWalletClient({
      account: operator,
      chain: chainFor(info.chainId, info.rpcUrl),
      transport: http(info.rpcUrl),
    })
    const client = createPublicClient({ transport: http(info.rpcUrl) })
    for (const [functionName, args] of [
      ['addSigner', [extra.address]],
      ['setThreshold', [2n]],
    ] as const) {
      const hash = await owner.writeContract({
        address: info.escrow,
        abi: auditEscrowAbi,
        functionName,
        args,
      } as never)
      expect((await client.waitForTransactionReceipt({ hash })).status).toBe('success')
    }
    await fundAudit({
      info,
      account: operator,
      auditId: auditIdOf(audit),
      token: NATIVE,
      amount: 900n,
    })
    // Polled every 2 s: well within 10 s it sees the new signer and settles with both.
    for (let i = 0; i < 100 && (await t.node.audits.stateName(audit)) !== 'COMPLETE'; i++)
      await new Promise((r) => setTimeout(r, 100))
    expect(await t.node.audits.stateName(audit)).toBe('COMPLETE')
  }, 60_000)

  test('a restarted node keeps its devnet contracts (anvil state in the data dir)', async () => {
    node = await TestNode.startDevnet()
    const before = (await node.call('GET', '/chain')).json
    await node.node.stop()
    node.node = TestNode.create(node.dataDir, { mode: 'devnet' })
    await node.node.start()
    const after = (await node.call('GET', '/chain')).json
    expect(after.escrow).toBe(before.escrow)
    expect(after.token).toBe(before.token)
    expect(after.mpe).toBe(before.mpe)
  }, 60_000)

  test('the devnet has a MultiPartyEscrow over its test token, recorded and kept across restarts', async () => {
    node = await TestNode.startDevnet()
    const before = (await node.call('GET', '/chain')).json
    expect(before.mpe).toMatch(/^0x[0-9a-fA-F]{40}$/)
    expect([before.escrow, before.token]).not.toContain(before.mpe)
    const client = createPublicClient({ transport: http(before.rpcUrl) })
    expect(await readMpeToken(client as PublicClient, before.mpe)).toBe(before.token)
    const recorded = JSON.parse(readFileSync(join(node.dataDir, 'chain.json'), 'utf8'))
    expect(recorded.devnet).toMatchObject({ token: before.token, mpe: before.mpe })
    expect((await node.call('GET', '/status')).json.chain.mpe).toBe(before.mpe)

    // A data dir of a node from before the MPE: the escrow and token stay, one MPE is added.
    await node.node.stop()
    const { mpe: _, ...older } = recorded.devnet
    writeFileSync(join(node.dataDir, 'chain.json'), JSON.stringify({ devnet: older }))
    node.node = TestNode.create(node.dataDir, { mode: 'devnet' })
    await node.node.start()
    const after = (await node.call('GET', '/chain')).json
    expect(after).toMatchObject({ escrow: before.escrow, token: before.token })
    expect(after.mpe).not.toBe(before.mpe)
    // The restarted anvil listens on another port.
    const restarted = createPublicClient({ transport: http(after.rpcUrl) }) as PublicClient
    expect(await readMpeToken(restarted, after.mpe)).toBe(before.token)
    await node.node.stop()
    node.node = TestNode.create(node.dataDir, { mode: 'devnet' })
    await node.node.start()
    expect((await node.call('GET', '/chain')).json.mpe).toBe(after.mpe)
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

  test('names the MPE of [chain] mpe, has none without it, and refuses an address that is no MPE', async () => {
    const chain = await startMpeChain()
    const rpcUrl = chain.devnet.rpcUrl
    try {
      node = await TestNode.start()
      await node.node.stop()
      const operator = privateKeyToAccount(
        readEthKeyFile(join(node.dataDir, 'keys', 'operator.eth')),
      )
      await chain.client.request({
        method: 'anvil_setBalance' as never,
        params: [operator.address, '0x56BC75E2D63100000'] as never,
      })
      node.node = TestNode.create(node.dataDir, { mode: 'rpc', rpcUrl })
      await node.node.start()
      expect((await node.call('GET', '/chain')).json.mpe).toBeUndefined()
      await node.node.stop()

      node.node = TestNode.create(node.dataDir, { mode: 'rpc', rpcUrl, mpe: chain.escrow })
      await node.node.start()
      expect((await node.call('GET', '/chain')).json).toMatchObject({
        mpe: chain.escrow,
        devnet: false,
      })
      await node.node.stop()

      node.node = TestNode.create(node.dataDir, { mode: 'rpc', rpcUrl, mpe: chain.token })
      await expect(node.node.start()).rejects.toMatchObject({
        name: 'ChainError',
        message: expect.stringContaining('check [chain] mpe'),
      })
    } finally {
      await chain.devnet.stop()
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
