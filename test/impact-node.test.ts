import { type Address, createPublicClient, type Hex, http } from 'viem'
import { afterEach, describe, expect, test } from 'vitest'
import { NATIVE } from '../src/chain/escrow.ts'
import { balanceOf, withdrawAll } from '../src/chain/payments.ts'
import { depositToPool, impactPoolId, NO_MEMO, stakeMemo } from '../src/chain/pools.ts'
import { CheckedApi, type Json, until } from './impact-api.ts'
import { actionConfig, auditorConfig, requestInfo } from './impact-fixture.ts'
import { TestNode } from './node-fixture.ts'

// A community run through a node's HTTP API, on the devnet: the node's proxy service assigns,
// unassigns, decides, batches and settles on its own; auditors vote over HTTP; a payee withdraws.

let node: TestNode | undefined
const seen = new Set<string>()
let operations: string[] = []
afterEach(async () => {
  await node?.stop()
  node = undefined
})

async function open(t: TestNode): Promise<CheckedApi> {
  const api = await CheckedApi.open(t.url)
  operations = api.impactOperations()
  const add = api.seen.add.bind(api.seen)
  api.seen.add = (key: string) => {
    seen.add(key)
    return add(key)
  }
  return api
}

type Account = { name: string; key: string; address: Address; token: string }

async function account(api: CheckedApi, admin: string, name: string): Promise<Account> {
  const response = await fetch(`${api.url}/accounts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name }),
  })
  return (await response.json()) as Account
}

async function me(api: CheckedApi, token: string): Promise<Account> {
  const response = await fetch(`${api.url}/accounts/me`, {
    headers: { authorization: `Bearer ${token}` },
  })
  return { ...((await response.json()) as Account), token }
}

const C = '/impact/{community}'

describe('impact on a node with the devnet', () => {
  test('stakes and funding on chain; the proxy assigns, replaces a missed deadline, decides, batches and settles; the requester withdraws exactly its reward', async () => {
    node = await TestNode.startDevnet()
    const t = node
    const api = await open(t)
    const admin = t.operatorToken
    const operator = await me(api, admin)
    const auditors: Account[] = []
    for (let i = 0; i < 4; i++) auditors.push(await account(api, admin, `auditor${i}`))
    const requester = await account(api, admin, 'requester')

    const { community } = await api.expect(200, 'post', '/impact', {
      token: admin,
      body: { name: 'Green Barcelona', blocksPerDay: 2 },
    })
    const params = { community }
    const registry = async (path: string, body: unknown) =>
      api.expect(200, 'post', `${C}/${path}`, { params, token: admin, body })
    await registry('categories', { uid: 1, description: 'Trees planted' })
    await registry('actions', { uid: 1, configuration: actionConfig() })
    await registry('proxies', { uid: 1, account: operator.key })
    await registry('oracles', {
      uid: 1,
      configuration: JSON.stringify({ description: 'Tree check', account: operator.key }),
      payout: operator.address,
    })
    for (const a of auditors)
      await registry('auditors', {
        account: a.key,
        configuration: auditorConfig({ stakesmin: 100 }),
        payout: a.address,
      })

    // Stakes (memo: the auditor's key) and a sponsor's funding, deposited on chain.
    const chain = t.node.chain!
    const poolId = impactPoolId(community, 0)
    const deposit = (amount: bigint, memo: Hex) =>
      depositToPool(chain.wallet, chain.client, {
        escrow: chain.info.escrow,
        poolId,
        token: NATIVE,
        amount,
        memo,
      })
    for (const a of auditors) await deposit(100n, stakeMemo(a.key))
    await deposit(10_000n, NO_MEMO)
    await until('the proxy to record the deposits', async () => {
      const pool = await api.expect(200, 'get', `${C}/pools/{token}`, {
        params: { community, token: 0 },
      })
      return pool.deposited === '10400'
    })
    const staked = await api.expect(200, 'get', `${C}/auditors/{account}`, {
      params: { community, account: auditors[0]!.key },
    })
    expect(staked.stakes).toEqual({ 0: '100' })

    const { op: request } = await api.expect(200, 'post', `${C}/requests`, {
      params,
      token: requester.token,
      body: { info: requestInfo() },
    })
    await api.expect(200, 'post', `${C}/requests/{request}/attest`, {
      params: { community, request },
      token: admin,
      body: { otherinfo: 'checked on site' },
    })
    const state = () =>
      api.expect(200, 'get', `${C}/requests/{request}`, { params: { community, request } })
    await until('the proxy to assign', async () => (await state()).status === 'VOTING')
    const first = await state()
    expect(first.payout).toBe(requester.address)
    const seated = first.assignments.map((a: Json) => a.auditor as string)
    expect(new Set(seated).size).toBe(3)
    const byKey = (key: string) => auditors.find((a) => a.key === key)!
    const [yes, no, silent] = seated.map(byKey) as [Account, Account, Account]
    const vote = (who: Account, v: 'Y' | 'N') =>
      api.expect(200, 'post', `${C}/requests/{request}/vote`, {
        params: { community, request },
        token: who.token,
        body: { vote: v, otherinfo: 'bafy-photo' },
      })
    await vote(yes, 'Y')
    await vote(no, 'N')

    // The third auditor misses its deadline (maxdays 7 × 2 blocks a day): the proxy unassigns it
    // and draws the fourth, the only one left eligible.
    await chain.client.request({ method: 'anvil_mine' as never, params: ['0x20'] as never })
    await until(
      'the replacement',
      async () =>
        (await state()).assignments.some(
          (a: Json) => a.auditor === silent.key && a.unassigned?.reason === 'deadline',
        ) && (await state()).status === 'VOTING',
    )
    const replacement = byKey(
      (await state()).assignments.find((a: Json) => !seated.includes(a.auditor)).auditor,
    )
    const missed = await api.expect(200, 'get', `${C}/auditors/{account}`, {
      params: { community, account: silent.key },
    })
    expect([missed.missed, missed.queue]).toEqual([1, []])
    expect(missed.ranking).toBeLessThan(
      (await api.expect(200, 'get', `${C}/auditors`, { params })).auditors.find(
        (a: Json) => a.account === replacement.key,
      ).ranking,
    )

    await vote(replacement, 'Y')
    await until('the decision', async () => (await state()).status === 'APPROVED')
    const decided = await state()
    expect(decided.decision.payments.map((p: Json) => [p.role, p.to, p.amount])).toEqual([
      ['requester', requester.address, '1000'],
      ['oracle', operator.address, '10'],
      ['auditor', byKey(decided.decision.matched[0]).address, '25'],
      ['auditor', byKey(decided.decision.matched[1]).address, '25'],
    ])
    expect(decided.decision.slashes).toEqual([{ auditor: no.key, due: '20', taken: '20' }])

    // The proxy closes batch 0, the node signs it, the proxy pays it through the escrow.
    await until('the settlement', async () => {
      const pool = await api.expect(200, 'get', `${C}/pools/{token}`, {
        params: { community, token: 0 },
      })
      return pool.batches[0]?.settled !== undefined
    })
    const pool = await api.expect(200, 'get', `${C}/pools/{token}`, {
      params: { community, token: 0 },
    })
    expect([pool.paid, pool.batched, pool.queued, pool.batches[0].total]).toEqual([
      '1060',
      '1060',
      '0',
      '1060',
    ])
    expect(pool.batches[0].signatures.map((s: Json) => s.signer)).toEqual([chain.info.signer])

    // The requester pulls its reward: its balance grows by exactly 1000 wei, gas aside.
    const info = chain.info
    // Gas money first (withdrawAll tops a new key up on the devnet, which would count as growth).
    await chain.client.request({
      method: 'anvil_setBalance' as never,
      params: [requester.address, '0xde0b6b3a7640000'] as never,
    })
    const before = await balanceOf(info, requester.address, NATIVE)
    const local = t.node.accounts.get('requester')!
    const [paid] = await withdrawAll({ info, account: local.ethAccount, tokens: [NATIVE] })
    expect(paid!.amount).toBe(1000n)
    const client = createPublicClient({ transport: http(info.rpcUrl) })
    const receipt = await client.getTransactionReceipt({ hash: paid!.tx })
    const gas = receipt.gasUsed * receipt.effectiveGasPrice
    const after = await balanceOf(info, requester.address, NATIVE)
    expect(after - before + gas).toBe(1000n)

    // Listings and the registry.
    const listed = await api.expect(200, 'get', '/impact')
    expect(listed.communities).toEqual([
      { id: community, name: 'Green Barcelona', state: 'IDLE', requests: 1, open: 0 },
    ])
    const reg = await api.expect(200, 'get', C, { params })
    expect([reg.proxies, reg.counts]).toEqual([
      [{ uid: 1, account: operator.key }],
      { requests: 1, decided: 1, expired: 0, auditors: 4 },
    ])
    const mine = await api.expect(200, 'get', `${C}/requests`, {
      params,
      query: `?status=APPROVED&requester=${requester.key}&limit=5`,
    })
    expect(mine.requests.map((r: Json) => r.id)).toEqual([request])

    // Far from every auditor's area: the proxy records once that nobody is eligible, and says why.
    const { op: far } = await api.expect(200, 'post', `${C}/requests`, {
      params,
      token: requester.token,
      body: { info: requestInfo({ coordinates: '-33.8688,151.2093' }) },
    })
    const farState = () =>
      api.expect(200, 'get', `${C}/requests/{request}`, { params: { community, request: far } })
    await until('the note', async () => (await farState()).note.startsWith('Waiting for auditors'))
    expect([(await farState()).status, (await farState()).assignments]).toEqual([
      'WAITING_FOR_AUDITORS',
      [],
    ])
    expect((await farState()).note).toMatch(/3 seat\(s\) of 3 unfilled, none eligible now \(.*area/)
    const ticks = async () =>
      Number(
        /rwa_impact_proxy_ticks_total (\d+)/.exec(
          await (await fetch(`${t.url}/metrics`)).text(),
        )![1],
      )
    const noted = await ticks()
    await chain.client.request({ method: 'anvil_mine' as never, params: ['0x2'] as never })
    await until('two more ticks', async () => (await ticks()) >= noted + 2)
    const metrics = await (await fetch(`${t.url}/metrics`)).text()
    expect(metrics).toMatch(/rwa_impact_settlement_transactions_total\{outcome="success"\} 1/)
    // The first draw, the replacement and the one empty assignment.
    expect(metrics).toMatch(/rwa_impact_proxy_ops_total\{type="impact.assign",outcome="signed"\} 3/)
  }, 180_000)

  test('registry changes wait for the threshold of governors; a paused proxy signs assign, unassign, decide and expire by hand', async () => {
    node = await TestNode.startDevnet()
    const t = node
    const api = await open(t)
    const admin = t.operatorToken
    const operator = await me(api, admin)
    const g2 = await account(api, admin, 'governor2')
    const auditors: Account[] = []
    for (let i = 0; i < 3; i++) auditors.push(await account(api, admin, `auditor${i}`))
    const requester = await account(api, admin, 'requester')
    const { community } = await api.expect(200, 'post', '/impact', {
      token: admin,
      body: {
        name: 'Two governors',
        governors: [operator.key, g2.key],
        threshold: 2,
        blocksPerDay: 1,
      },
    })
    const params = { community }
    const registry = () => api.expect(200, 'get', C, { params })
    /** The operator proposes, the second governor approves: the change applies. */
    const change = async (method: 'post' | 'delete', path: string, body?: unknown, extra = {}) => {
      const { op } = await api.expect(200, method, `${C}/${path}`, {
        params: { community, ...extra },
        token: admin,
        ...(body === undefined ? {} : { body }),
      })
      expect((await registry()).proposals.map((p: Json) => p.id)).toContain(op)
      await api.expect(200, 'post', `${C}/proposals/{proposal}/approve`, {
        params: { community, proposal: op },
        token: g2.token,
      })
      expect((await registry()).proposals).toEqual([])
    }
    await change('post', 'categories', { uid: 1, description: 'Trees planted' })
    await change('post', 'categories', { uid: 2, description: 'Plastic recycled' })
    await change('delete', 'categories/{uid}', undefined, { uid: 2 })
    expect((await registry()).categories).toEqual([{ uid: 1, description: 'Trees planted' }])
    // A key that governs nothing may not propose; a category in use is not destroyed.
    const forbidden = await api.expect(403, 'post', `${C}/categories`, {
      params,
      token: requester.token,
      body: { uid: 3, description: 'Solar panels' },
    })
    expect(forbidden.error).toBe('ImpactForbiddenError')
    await change('post', 'tokens', { id: 1, address: t.node.chain!.info.token })
    await change('post', 'actions', { uid: 1, configuration: actionConfig() })
    await change('post', 'actions', { uid: 2, configuration: actionConfig({ rewardstoken: 1 }) })
    await change('post', 'oracles', {
      uid: 1,
      configuration: JSON.stringify({ description: 'Tree check', account: operator.key }),
    })
    await change('delete', 'oracles/{uid}', undefined, { uid: 1 })
    await change('post', 'proxies', { uid: 1, account: operator.key })
    for (const a of auditors)
      await change('post', 'auditors', {
        account: a.key,
        configuration: auditorConfig(),
        payout: a.address,
      })
    await change('post', 'governors', { governors: [operator.key], threshold: 1 })
    expect([(await registry()).governors, (await registry()).threshold]).toEqual([
      [operator.key],
      1,
    ])

    await t.node.impactProxy.pause()
    const ask = async (impactactionid: number) =>
      (
        await api.expect(200, 'post', `${C}/requests`, {
          params,
          token: requester.token,
          body: { info: requestInfo({ impactactionid }), payout: requester.address },
        })
      ).op as string
    const proxyRoute = (request: string, what: string, body: unknown = {}) =>
      api.expect(200, 'post', `${C}/requests/{request}/${what}`, {
        params: { community, request },
        token: admin,
        body,
      })
    const state = (request: string) =>
      api.expect(200, 'get', `${C}/requests/{request}`, { params: { community, request } })

    // Assigned and decided by hand.
    const decided = await ask(1)
    await proxyRoute(decided, 'assign', { maxdays: 1 })
    const seats = (await state(decided)).assignments.map((a: Json) => a.auditor)
    expect(seats.sort()).toEqual(auditors.map((a) => a.key).sort())
    for (const a of auditors.slice(0, 2))
      await api.expect(200, 'post', `${C}/requests/{request}/vote`, {
        params: { community, request: decided },
        token: a.token,
        body: { vote: 'N' },
      })
    await proxyRoute(decided, 'decide')
    expect((await state(decided)).status).toBe('REFUSED')
    // A second decision is refused in the state.
    const again = await api.expect(409, 'post', `${C}/requests/{request}/decide`, {
      params: { community, request: decided },
      token: admin,
    })
    expect(again.message).toMatch(/decided already/)

    // Unassigned by hand once its deadline (1 day = 1 block) passed.
    const late = await ask(1)
    await proxyRoute(late, 'assign', { maxdays: 1 })
    const early = await api.expect(409, 'post', `${C}/requests/{request}/unassign`, {
      params: { community, request: late },
      token: admin,
      body: { auditor: auditors[0]!.key },
    })
    expect(early.message).toMatch(/has until block \d+ to vote/)
    await t.node.chain!.client.request({ method: 'anvil_mine' as never, params: ['0x3'] as never })
    await proxyRoute(late, 'unassign', { auditor: auditors[0]!.key })
    expect(
      (await state(late)).assignments.find((a: Json) => a.auditor === auditors[0]!.key),
    ).toMatchObject({ unassigned: { reason: 'deadline' } })

    // Expired by hand once its action is destroyed.
    const orphan = await ask(2)
    await api.expect(200, 'delete', `${C}/actions/{uid}`, {
      params: { community, uid: 2 },
      token: admin,
    })
    await proxyRoute(orphan, 'expire')
    expect((await state(orphan)).status).toBe('EXPIRED')
    expect((await state(orphan)).note).toMatch(/its action was destroyed/)

    await api.expect(200, 'delete', `${C}/auditors/{account}`, {
      params: { community, account: auditors[2]!.key },
      token: admin,
    })
    const gone = await api.expect(200, 'get', `${C}/auditors/{account}`, {
      params: { community, account: auditors[2]!.key },
    })
    expect(gone.destroyed).toBe(true)
    await api.expect(200, 'delete', `${C}/proxies/{uid}`, {
      params: { community, uid: 1 },
      token: admin,
    })
    expect((await registry()).proxies).toEqual([])
    const notFound = await api.expect(404, 'get', `${C}/requests/{request}`, {
      params: { community, request: 'bafynothing' },
    })
    expect(notFound.error).toBe('ImpactNotFoundError')
    t.node.impactProxy.resume()
  }, 180_000)

  test('without a chain the proxy routes answer 503: there is no block to claim', async () => {
    node = await TestNode.start()
    const api = await open(node)
    const admin = node.operatorToken
    const { community } = await api.expect(200, 'post', '/impact', {
      token: admin,
      body: { name: 'Offline' },
    })
    const refused = await api.expect(503, 'post', `${C}/requests/{request}/decide`, {
      params: { community, request: community },
      token: admin,
    })
    expect([refused.error, refused.message]).toEqual([
      'ChainError',
      expect.stringMatching(/runs without a chain/),
    ])
  })

  test('a chain that stops answering is counted and retried each tick; the node keeps serving, and proxy routes answer 503', async () => {
    node = await TestNode.startDevnet()
    const t = node
    const api = await open(t)
    const admin = t.operatorToken
    const operator = await me(api, admin)
    const { community } = await api.expect(200, 'post', '/impact', {
      token: admin,
      body: { name: 'Flaky chain' },
    })
    await api.expect(200, 'post', `${C}/proxies`, {
      params: { community },
      token: admin,
      body: { uid: 1, account: operator.key },
    })
    const metric = async (name: string) =>
      Number(
        new RegExp(`${name} (\\d+)`).exec(await (await fetch(`${t.url}/metrics`)).text())?.[1] ?? 0,
      )
    await until('a tick', async () => (await metric('rwa_impact_proxy_ticks_total')) >= 1)
    await t.node.chain!.stop() // anvil ends: every read now fails
    await until(
      'two failed ticks',
      async () => (await metric('rwa_impact_proxy_errors_total')) >= 2,
    )
    const registry = await api.expect(200, 'get', C, { params: { community } })
    expect(registry.proxies).toEqual([{ uid: 1, account: operator.key }])
    const refused = await api.expect(503, 'post', `${C}/requests/{request}/expire`, {
      params: { community, request: community },
      token: admin,
    })
    expect([refused.error, refused.message]).toEqual([
      'ChainError',
      expect.stringMatching(/did not give its latest block/),
    ])
  }, 120_000)

  test('every impact route answered 200 in the tests above, each checked against its documented schema', () => {
    expect(operations.length).toBeGreaterThan(25)
    expect(operations.filter((op) => !seen.has(`${op} 200`)).sort()).toEqual([])
  })
})
