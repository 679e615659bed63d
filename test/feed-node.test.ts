import { afterEach, describe, expect, test } from 'vitest'
import { deployFeedAggregator, readLatestRound } from '../src/chain/feeds.ts'
import { NodeClient } from '../src/cli/client.ts'
import { FEED_OP } from '../src/core/feed/ops.ts'
import { attestBody, FEED_ROLES, keyOf, usd } from './feed-fixture.ts'
import { CheckedApi, type Json, until } from './impact-api.ts'
import { TestNode } from './node-fixture.ts'

// A feed on a node with the devnet: oracles attest through POST /ops with their own keys, the
// node aggregates, signs each closed window's report as the feed's one signer and posts it to a
// FeedAggregator on the devnet; every /feed route's answers match their schemas.

let node: TestNode | undefined
afterEach(async () => {
  await node?.stop()
  node = undefined
})

const F = '/feed/feeds/{feed}'

describe('feeds on a node with the devnet', () => {
  test('attestations aggregate, the node signs and posts reports, and every route answers to its schema', async () => {
    node = await TestNode.startDevnet({
      extraConfig: '[domains.feed]\ninterval_ms = 200\ngrace_ms = 500',
    })
    const t = node
    const chain = t.node.chain!
    const api = await CheckedApi.open(t.url)
    const admin = t.operatorToken
    const signer = await api.expect(200, 'get', '/feed/signer')
    expect(signer.address).toBe(chain.info.signer)
    const aggregator = await deployFeedAggregator(chain.wallet, chain.client, {
      decimals: 8,
      description: 'ETH / USD',
      signers: [signer.address],
      threshold: 1,
      maxReportAge: 3600,
    })
    const oracles = [0, 1, 2, 3, 4].map((i) => FEED_ROLES.oracle(i))
    const genesis = {
      pair: 'ETH/USD',
      decimals: 8,
      window: 1,
      heartbeat: 3600,
      deviation: 5000,
      minSources: 1,
      maxAge: 300,
      oracles: oracles.slice(0, 4).map(keyOf),
      signers: [{ key: signer.key, address: signer.address }],
      threshold: 1,
      chain: { chainId: chain.info.chainId, aggregator },
    }
    // Refusals first: no token, a bad body, a threshold that does not fit.
    await api.expect(401, 'post', '/feed/feeds', { body: genesis })
    await api.expect(400, 'post', '/feed/feeds', {
      token: admin,
      body: { ...genesis, decimals: 40 },
    })
    const { feed } = await api.expect(200, 'post', '/feed/feeds', { token: admin, body: genesis })
    const params = { feed }
    await api.expect(404, 'get', F, { params: { feed: 'NOPE/USD' } })
    await api.expect(404, 'get', `${F}/latest`, { params })
    // The owner registers the fifth oracle over HTTP; a wrong key is refused with the rule.
    await api.expect(200, 'post', `${F}/oracles`, {
      params,
      token: admin,
      body: { oracle: keyOf(oracles[4]!) },
    })
    await api.expect(409, 'post', `${F}/oracles`, {
      params,
      token: admin,
      body: { oracle: keyOf(oracles[4]!) },
    })
    await api.expect(200, 'post', `${F}/params`, { params, token: admin, body: { heartbeat: 1 } })
    await api.expect(422, 'post', `${F}/signers`, {
      params,
      token: admin,
      body: { signers: genesis.signers, threshold: 2 },
    })
    await api.expect(200, 'post', `${F}/signers`, {
      params,
      token: admin,
      body: { signers: genesis.signers, threshold: 1 },
    })
    await api.expect(200, 'post', `${F}/chain`, {
      params,
      token: admin,
      body: { chainId: chain.info.chainId, aggregator },
    })

    // Oracles sign with their own keys and submit through POST /ops: three rounds.
    const client = new NodeClient(t.url)
    const stranger = await client
      .submit(FEED_ROLES.stranger, {
        doc: feed,
        type: FEED_OP.attest,
        body: attestBody(usd(9999), Date.now()),
      })
      .catch((error: Error) => error)
    expect(String(stranger)).toMatch(/not an oracle/)
    for (let round = 0; round < 3; round++) {
      const now = Date.now()
      for (const [i, oracle] of oracles.entries())
        await client.submit(oracle, {
          doc: feed,
          type: FEED_OP.attest,
          body: attestBody(usd(2500 + i + round), now),
        })
      await new Promise((r) => setTimeout(r, 1100))
    }
    await until('a report posted on chain', async () => {
      const latest = await client.get<Json>(`/feed/feeds/${feed}/latest`)
      return latest.onChain !== null
    })
    const latest = await api.expect(200, 'get', `${F}/latest`, { params })
    expect(latest.observations).toBe(5)
    expect(latest.answerText).toMatch(/^250\d(\.\d+)? USD$/)
    const onChain = await readLatestRound(chain.client, aggregator)
    expect(onChain?.roundId).toBeGreaterThanOrEqual(1n)
    expect(onChain?.answer.toString()).toBe(latest.onChain.answer)
    expect(Number(onChain?.window)).toBe(latest.onChain.window)

    const reports = await api.expect(200, 'get', `${F}/reports`, { params })
    expect(reports.reports[0].complete).toBe(true)
    expect(reports.reports.some((r: Json) => r.posted !== null)).toBe(true)
    const listed = await api.expect(200, 'get', '/feed/feeds')
    expect(listed.feeds[0].pair).toBe('ETH/USD')
    const shown = await api.expect(200, 'get', F, { params: { feed: 'ETH/USD' } })
    expect(shown.oracles).toHaveLength(5)
    const aggregates = await api.expect(200, 'get', `${F}/aggregates`, {
      params,
      query: '?limit=2',
    })
    expect(aggregates.aggregates.length).toBeGreaterThan(0)
    await api.expect(400, 'get', `${F}/aggregates`, { params, query: '?limit=0' })
    const o = await api.expect(200, 'get', `${F}/oracles`, { params })
    expect(o.oracles.map((x: Json) => x.attestations)).toEqual(
      [3, 3, 3, 3, 3].slice(0, o.oracles.length),
    )
    const att = await api.expect(200, 'get', `${F}/attestations`, { params })
    expect(att.attestations).toHaveLength(5)
    const series = await api.expect(200, 'get', `${F}/series`, { params, query: '?last=10' })
    expect(series.points.length).toBe(15)
    // Every feed route answered with real data.
    const ok = new Set(
      [...api.seen].filter((s) => s.endsWith(' 200')).map((s) => s.replace(/ 200$/, '')),
    )
    expect(api.operationsUnder('/feed').filter((op) => !ok.has(op))).toEqual([])
  })
})
