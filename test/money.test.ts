import { join } from 'node:path'
import { createPublicClient, http, type PublicClient } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { testTokenAbi } from '../src/chain/artifacts.ts'
import { freePort } from '../src/chain/devnet.ts'
import { readTokenUnit } from '../src/chain/token-units.ts'
import { unknownUnit } from '../src/core/amount.ts'
import {
  auditMoneySchema,
  fundAnswerSchema,
  owedAnswerSchema,
} from '../src/domains/audit/money-schemas.ts'
import { readEthKeyFile } from '../src/store/key-file.ts'
import { TestNode } from './node-fixture.ts'

// Amounts with units, `--token`, funding and what the escrow owes, on a devnet node, driven as a
// user would: the `rwa` binary and the HTTP API.

let node: TestNode
/** The devnet's test ERC-20 (symbol RWAT, 18 decimals). */
let token: `0x${string}`
let escrow: `0x${string}`
/** Bearer tokens of three local accounts that audit. */
const auditors: string[] = []

/** Runs the real `rwa` binary against the test node. */
const rwa = (...args: string[]) => node.rwa(...args)

/** Runs an audit of one item that three local accounts answer yes, up to WAITING_FOR_CONTRACT. */
async function runToStop(id: string): Promise<void> {
  const admin = node.operatorToken
  await node.call('POST', `/audits/${id}/items`, { token: admin, body: { description: 'A' } })
  await node.call('POST', `/audits/${id}/open`, { token: admin })
  for (const t of auditors) await node.call('POST', `/audits/${id}/register`, { token: t })
  await node.call('POST', `/audits/${id}/close`, { token: admin })
  await node.call('POST', `/audits/${id}/start`, { token: admin })
  for (const t of auditors)
    await node.call('POST', `/audits/${id}/answer`, { token: t, body: { answer: 'yes' } })
  const stopped = await node.call('POST', `/audits/${id}/stop`, { token: admin })
  expect(stopped.json.state).toBe('WAITING_FOR_CONTRACT')
}

/** Waits for the node's settler to settle the audit (it polls the escrow). */
async function completed(id: string): Promise<string> {
  let state = ''
  for (let i = 0; i < 600 && state !== 'COMPLETE'; i++) {
    state = (await node.call('GET', `/audits/${id}`)).json.state
    if (state !== 'COMPLETE') await new Promise((r) => setTimeout(r, 100))
  }
  return state
}

const ethKeyOf = (account: string) => join(node.dataDir, 'keys', `${account}.eth`)
const addressOf = (account: string) =>
  privateKeyToAccount(readEthKeyFile(ethKeyOf(account))).address

beforeAll(async () => {
  const t = await TestNode.startDevnet()
  node = t
  const info = (await node.call('GET', '/chain')).json
  token = info.token
  escrow = info.escrow
  for (const name of ['a1', 'a2', 'a3'])
    auditors.push(
      (await node.call('POST', '/accounts', { token: node.operatorToken, body: { name } })).json
        .token,
    )
}, 120_000)
afterAll(async () => {
  await node?.stop()
})

describe('amounts with units on the devnet', () => {
  test('an ERC-20 audit made with rwa audit create --token is funded in the token, settled, and every amount shows RWAT', async () => {
    const created = await rwa(
      'audit',
      'create',
      'Token audit',
      '--token',
      token,
      '--bond',
      '0.0009 RWAT',
      '--json',
    )
    expect(created.stderr).toBe('')
    const id = JSON.parse(created.stdout).op as string
    const view = (await node.call('GET', `/audits/${id}`)).json
    expect(view.params).toMatchObject({ token, bond: '900000000000000' })
    expect(view.token).toEqual({ address: token, symbol: 'RWAT', decimals: 18 })
    await runToStop(id)

    // Not funded: the state says so, with what it takes, and how to fund it.
    const waiting = await rwa('audit', 'state', 'Token audit')
    expect(waiting.stdout).toContain('bond: 0.0009 RWAT')
    expect(waiting.stdout).toContain('funded: 0 RWAT of 0.0009 RWAT needed (0.0009 RWAT to go)')
    expect(waiting.stdout).toContain(
      'waiting for funding: rwa audit fund "Token audit" "0.0009 RWAT"',
    )
    const json = JSON.parse((await rwa('audit', 'state', 'Token audit', '--json')).stdout)
    expect(json.funding).toMatchObject({ funded: '0', needed: '900000000000000' })

    // Funding in another token than the audit's is refused before anything is sent.
    const wrong = await rwa('audit', 'fund', 'Token audit', '0.0009 ETH')
    expect([wrong.code, wrong.stderr]).toEqual([
      1,
      'error: "0.0009 ETH" is in "ETH", but the amount is paid in RWAT; give it in RWAT (e.g. "1.5 RWAT") or in base units.\n',
    ])
    const other = await rwa('audit', 'fund', 'Token audit', '900', '--token', 'native')
    expect(other.stderr).toMatch(
      /^error: Audit "Token audit" pays in RWAT \(0x[0-9a-fA-F]{40}\), not in native/,
    )

    const client = createPublicClient({
      transport: http((await node.call('GET', '/chain')).json.rpcUrl),
    })
    const escrowBefore = await client.readContract({
      address: token,
      abi: testTokenAbi,
      functionName: 'balanceOf',
      args: [escrow],
    })
    const funded = await rwa('audit', 'fund', 'Token audit', '0.0009 RWAT', '--token', token)
    expect(funded.stdout).toMatch(/^Funded "Token audit" with 0\.0009 RWAT; tx 0x[0-9a-f]{64}\.$/m)
    expect(
      (await client.readContract({
        address: token,
        abi: testTokenAbi,
        functionName: 'balanceOf',
        args: [escrow],
      })) - escrowBefore,
    ).toBe(900_000_000_000_000n)
    expect(await completed(id)).toBe('COMPLETE')

    const results = await rwa('audit', 'results', 'Token audit')
    expect(results.stdout).toMatch(/: aligned 1, misaligned 0, missing 0, paid 0\.0003 RWAT$/m)
    expect(results.stdout).toContain('remainder of the bond, back to the sponsor: 0 RWAT')
    const settlement = await rwa('audit', 'settlement', 'Token audit')
    expect(settlement.stdout).toMatch(/^0x[0-9a-fA-F]{40} {2}0\.0003 RWAT$/m)
    expect(settlement.stdout).toContain('total 0.0009 RWAT, remainder 0 RWAT')
    const settlementJson = JSON.parse(
      (await rwa('audit', 'settlement', 'Token audit', '--json')).stdout,
    )
    expect(settlementJson.token).toEqual({ address: token, symbol: 'RWAT', decimals: 18 })
    expect(settlementJson.settlement.amounts).toEqual([
      '300000000000000',
      '300000000000000',
      '300000000000000',
    ])

    // What a1 is owed, before it withdraws: by the CLI and over HTTP.
    const owed = await rwa('payout', 'owed', '--eth-key', ethKeyOf('a1'))
    expect(owed.stdout).toBe(
      `The escrow owes ${addressOf('a1')}:\n  0.0003 RWAT\nWithdraw it with "rwa payout withdraw" (with the --eth-key of that address).\n`,
    )
    const owedHttp = (await node.call('GET', `/payouts/${addressOf('a1')}?token=${token}`)).json
    expect(owedHttp.owed).toEqual([
      { token: { address: token, symbol: 'RWAT', decimals: 18 }, amount: '300000000000000' },
    ])
    const withdrawn = await rwa('payout', 'withdraw', '--token', token, '--eth-key', ethKeyOf('a1'))
    expect(withdrawn.stdout).toMatch(/^Withdrew 0\.0003 RWAT; tx 0x[0-9a-f]{64}\.$/m)
    expect(
      await client.readContract({
        address: token,
        abi: testTokenAbi,
        functionName: 'balanceOf',
        args: [addressOf('a1')],
      }),
    ).toBe(300_000_000_000_000n)
    expect((await rwa('payout', 'owed', addressOf('a1'))).stdout).toBe(
      `Nothing is owed to ${addressOf('a1')} by the escrow (in any token it knows).\n`,
    )
  }, 300_000)

  test('POST /audits/:audit/fund funds a native audit from the account key; the audit JSON shows funded against needed', async () => {
    const admin = node.operatorToken
    const id = (
      await node.call('POST', '/audits', {
        token: admin,
        body: { name: 'HTTP funded', bond: '0.0009 ETH' },
      })
    ).json.audit as string
    const wrongUnit = await node.call('POST', '/audits', {
      token: admin,
      body: { name: 'Wrong unit', bond: '1 RWAT' },
    })
    expect([wrongUnit.status, wrongUnit.json.error]).toEqual([422, 'InvalidAmountError'])
    await runToStop(id)
    const before = (await node.call('GET', `/audits/${id}`)).json
    expect(before.token).toEqual({ address: 'native', symbol: 'ETH', decimals: 18 })
    expect(before.params.bond).toBe('900000000000000')
    expect(before.funding).toMatchObject({ funded: '0', needed: '900000000000000', settled: false })
    expect(auditMoneySchema.safeParse(before).error).toBeUndefined()

    const anonymous = await node.call('POST', `/audits/${id}/fund`, { body: { amount: '1' } })
    expect(anonymous.status).toBe(401)
    const badUnit = await node.call('POST', `/audits/${id}/fund`, {
      token: admin,
      body: { amount: '0.0009 RWAT' },
    })
    expect([badUnit.status, badUnit.json.error]).toEqual([422, 'InvalidAmountError'])
    expect(badUnit.json.message).toContain('paid in ETH')
    const numeric = await node.call('POST', `/audits/${id}/fund`, {
      token: admin,
      body: { amount: 900 },
    })
    expect([numeric.status, numeric.json.error]).toEqual([400, 'ValidationError'])

    const funded = await node.call('POST', `/audits/${id}/fund`, {
      token: admin,
      body: { amount: '0.0009 ETH' },
    })
    expect(funded.status).toBe(200)
    expect(funded.json).toMatchObject({
      audit: id,
      amount: '900000000000000',
      token: { symbol: 'ETH', decimals: 18 },
      funding: { funded: '900000000000000', needed: '900000000000000' },
    })
    expect(funded.json.tx).toMatch(/^0x[0-9a-f]{64}$/)
    expect(fundAnswerSchema.safeParse(funded.json).error).toBeUndefined()
    expect(await completed(id)).toBe('COMPLETE')
    const answer = (await node.call('GET', `/payouts/${addressOf('a2')}`)).json
    expect(owedAnswerSchema.safeParse(answer).error).toBeUndefined()
    expect(answer.owed).toContainEqual({
      token: { address: 'native', symbol: 'ETH', decimals: 18 },
      amount: '300000000000000',
    })
  }, 300_000)

  test('rwa demo takes --bond with the unit and shows every amount in the devnet token', async () => {
    const demo = await rwa('demo', '--items', '1', '--auditors', '3', '--bond', '0.0009 RWAT')
    expect(demo.code).toBe(0)
    expect(demo.stdout).toMatch(/^0x[0-9a-fA-F]{40} +0\.0003 RWAT$/m)
    expect(demo.stdout).toContain('0 RWAT  (bond 0.0009 RWAT)')
    expect(demo.stdout).toMatch(
      /^0x[0-9a-fA-F]{40} +0\.0003 RWAT {2}\(balance now 0\.0003 RWAT\)$/m,
    )
    const wrong = await rwa('demo', '--items', '1', '--auditors', '3', '--bond', '1.5 ETH')
    expect(wrong.stderr).toBe(
      'error: --bond "1.5 ETH" is in "ETH", but the amount is paid in RWAT; give it in RWAT (e.g. "1.5 RWAT") or in base units.\n',
    )
  }, 300_000)

  test('a token that does not answer symbol() and decimals() is shown in base units with its address', async () => {
    // The escrow is a contract with no symbol(): the call reverts. An address with no code answers nothing.
    const stranger = '0x000000000000000000000000000000000000dEaD'
    for (const address of [escrow, stranger]) {
      const unit = await node.call('GET', `/payouts/tokens/${address}`)
      expect(unit.json).toEqual({ address, symbol: null, decimals: null })
    }
    expect((await node.call('GET', `/payouts/tokens/${token}`)).json).toEqual({
      address: token,
      symbol: 'RWAT',
      decimals: 18,
    })
    expect((await node.call('GET', '/payouts/tokens/RWAT')).json.error).toBe('ValidationError')
    // A chain that does not answer is not a token that refuses: that is not taken as its unit.
    const nobody = createPublicClient({ transport: http(`http://127.0.0.1:${await freePort()}`) })
    await expect(readTokenUnit(nobody as PublicClient, token)).rejects.toThrow(
      /HTTP request failed/,
    )
    const rpc = createPublicClient({
      transport: http((await node.call('GET', '/chain')).json.rpcUrl),
    })
    expect(await readTokenUnit(rpc as PublicClient, stranger)).toEqual(unknownUnit(stranger))
    const created = await rwa(
      'audit',
      'create',
      'Odd token',
      '--token',
      stranger,
      '--bond',
      '1.5 X',
    )
    expect(created.stderr).toBe(
      `error: The token ${stranger} did not tell its symbol and decimals, so "1.5 X" cannot be read; give whole base units.\n`,
    )
    expect(
      (await rwa('audit', 'create', 'Odd token', '--token', stranger, '--bond', '700')).code,
    ).toBe(0)
    const state = await rwa('audit', 'state', 'Odd token')
    expect(state.stdout).toContain(`bond: 700 base units of token ${stranger}`)
  }, 120_000)
})

describe('when the chain stops', () => {
  test('an audit still answers, with its funding unknown (null), and its page says the escrow does not answer', async () => {
    const admin = node.operatorToken
    const id = (
      await node.call('POST', '/audits', {
        token: admin,
        body: { name: 'Chain gone', bond: '900', token },
      })
    ).json.audit as string
    expect((await node.call('GET', `/audits/${id}`)).json.funding).toMatchObject({ funded: '0' })
    await node.node.chain!.stop()
    const view = await node.call('GET', `/audits/${id}`)
    expect(view.status).toBe(200)
    expect(view.json.funding).toBeNull()
    // Its unit was read before the chain stopped, and it does not change.
    expect(view.json.token).toEqual({ address: token, symbol: 'RWAT', decimals: 18 })
    const page = await fetch(`${node.url}/ui/audits/${id}`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('does not answer; its funding shows again when it does')
  }, 120_000)

  test('what the escrow owes, on a chain that takes connections and never answers, is a 503 that says so', async () => {
    await node.withSilentChain(async () => {
      const answer = await node.call('GET', `/payouts/${addressOf('a1')}?token=${token}`)
      expect(answer.status).toBe(503)
      expect(answer.json.message).toContain('the chain did not answer within 10 s')
    })
  }, 120_000)
})
