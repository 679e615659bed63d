import { afterEach, describe, expect, test } from 'vitest'
import {
  addressOf,
  appendOps,
  logged,
  opsOf,
  peerOf,
  type SwapTestNode,
  swapCluster,
  until,
  writeOps,
} from './fixtures/swap-nodes.ts'

// SWAP accounting between three replicating nodes on loopback, without a chain (soft and mock
// modes): a and b write ops, c only pulls.

let cluster: ReturnType<typeof swapCluster> | undefined
afterEach(async () => {
  await cluster?.close()
  cluster = undefined
})

const base = {
  price_per_op: 1000,
  price_per_byte: 1,
  refresh_rate: 0,
  settle_interval_ms: 100,
}

const keeper = (n: SwapTestNode) => n.node.swap.bookkeeper!
const balance = (n: SwapTestNode, peer: SwapTestNode) => keeper(n).balance(peerOf(peer.node))

/** a and b (connected) with `count` ops each, and c pulling from both. */
async function threeNodes(
  settings: Record<string, unknown>,
  count = 150,
  pullerSettings = settings,
) {
  cluster = swapCluster()
  const a = await cluster.start('a', settings)
  const b = await cluster.start('b', settings, { peers: [addressOf(a.node)] })
  await writeOps(a.node, 'from a', count)
  await writeOps(b.node, 'from b', count)
  await until(
    'a and b to hold each other’s ops',
    () => opsOf(a.node) === 2 * count && opsOf(b.node) === 2 * count,
  )
  const c = await cluster.start('c', pullerSettings, {
    peers: [addressOf(a.node), addressOf(b.node)],
  })
  await until('c to hold every op', () => opsOf(c.node) === 2 * count)
  return { a, b, c }
}

describe('soft mode', () => {
  test('the puller’s debt grows past the thresholds, is logged and shown, and it keeps being served', async () => {
    const soft = { ...base, mode: 'soft', payment_threshold: 50_000 }
    const { a, b, c } = await threeNodes(soft)
    for (const server of [a, b]) {
      // Both sides count the same answers at the server's prices.
      await until(
        'both sides to agree on the balance',
        () => balance(server, c) === -balance(c, server),
      )
      const view = keeper(server).view(peerOf(c.node))!
      expect(view.served.ops).toBeGreaterThanOrEqual(150)
      expect(view.balance).toBeGreaterThan(keeper(server).disconnectThreshold)
      expect(view.standing).toBe('cut-off')
      const lines = logged(
        server.logs,
        'peer owes past the disconnect threshold (soft mode: still served)',
      )
      expect(lines.filter((l) => l.peer === peerOf(c.node))).toHaveLength(1)
      // Never enforced: no cheques, and c was served everything.
      expect(view.lastReceived).toBeNull()
      expect(keeper(server).admit(peerOf(c.node))).toBeUndefined()
    }
    // c owes: it sees itself in debt past a's payment threshold.
    expect(keeper(c).view(peerOf(a.node))!.standing).toBe('in-debt')
    expect(
      logged(c.logs, "this node owes the peer past the peer's payment threshold").length,
    ).toBeGreaterThan(0)
    // /status and /metrics show it.
    const status = (await (await fetch(`${a.node.url}/status`)).json()) as {
      domains: {
        swap: { mode: string; peers: { peer: string; balance: string; standing: string }[] }
      }
    }
    expect(status.domains.swap.mode).toBe('soft')
    const row = status.domains.swap.peers.find((p) => p.peer === peerOf(c.node))!
    expect(BigInt(row.balance)).toBe(balance(a, c))
    const metrics = await (await fetch(`${a.node.url}/metrics`)).text()
    expect(metrics).toMatch(new RegExp(`rwa_swap_peer_balance\\{peer="${peerOf(c.node)}"\\} \\d+`))
    expect(metrics).toMatch(/rwa_swap_peers\{standing="cut-off"\} 1/)
  })
})

describe('mock mode', () => {
  test('the puller pays with cheques taken at face value, and the balances settle', async () => {
    const mock = { ...base, mode: 'mock', payment_threshold: 1_000_000, early_payment_percent: 90 }
    const { a, b, c } = await threeNodes(mock, 300)
    for (const server of [a, b]) {
      await until(
        'c to have paid the server',
        () => keeper(server).lastCheque('in', peerOf(c.node)) !== undefined,
      )
      const cheque = keeper(server).lastCheque('in', peerOf(c.node))!
      // Drawn on c's mock chequebook, made out to the server, acknowledged by it.
      expect(cheque.chequebook.toLowerCase()).toBe(c.node.swap.book!.chequebook.toLowerCase())
      expect(cheque.beneficiary.toLowerCase()).toBe(
        server.node.swap.book!.beneficiary.toLowerCase(),
      )
      await until(
        'c to see the acknowledgement',
        () => keeper(c).acknowledgedCumulative(peerOf(server.node)) === cheque.cumulativePayout,
      )
      // Paid what it owed: the server's view is back under the early-payment line.
      expect(balance(server, c)).toBeLessThan(100_000n)
      expect(keeper(server).view(peerOf(c.node))!.served.amount).toBeGreaterThan(100_000n)
      expect(logged(server.logs, 'cheque received').length).toBeGreaterThan(0)
    }
    expect(logged(c.logs, 'cheque sent and acknowledged').length).toBeGreaterThanOrEqual(2)
    // Nothing to cash in mock mode.
    await expect(a.node.swap.service.cash(peerOf(c.node))).rejects.toThrow(/mock mode/)
  })

  test('balances and cheques survive a restart', async () => {
    const mock = { ...base, mode: 'mock', payment_threshold: 1_000_000, early_payment_percent: 90 }
    const { a, c } = await threeNodes(mock, 200)
    await until('c to have paid a', () => keeper(a).lastCheque('in', peerOf(c.node)) !== undefined)
    await cluster!.stop(c.node)
    await new Promise((r) => setTimeout(r, 200))
    const before = keeper(a).view(peerOf(c.node))!
    await cluster!.stop(a.node)
    const again = await cluster!.start('a', mock)
    const after = keeper(again).view(peerOf(c.node))!
    expect(after.balance).toBe(before.balance)
    expect(after.served).toEqual(before.served)
    expect(after.lastReceived).toEqual(before.lastReceived)
    expect(after.terms).toEqual(before.terms)
  })
})

describe('refresh rate', () => {
  test('forgiveness lets a light peer sync slowly for free, past the disconnect threshold in all', async () => {
    cluster = swapCluster()
    const server = { ...base, mode: 'mock', payment_threshold: 100_000, refresh_rate: 200_000 }
    const a = await cluster.start('a', server)
    // The light peer keeps accounts only: it never pays, and needs no chain.
    const c = await cluster.start('c', { ...base, mode: 'soft', refresh_rate: 200_000 })
    const audit = await writeOps(a.node, 'slow', 40)
    for (let round = 0; round < 5; round++) {
      if (round > 0) await appendOps(a.node, audit, 40)
      const want = opsOf(a.node)
      await c.node.replicator!.connect(addressOf(a.node))
      await until('c to catch up', () => opsOf(c.node) === want)
      await c.node.replicator!.hangUp(peerOf(a.node))
      await until('a to see c gone', () => !keeper(a).view(peerOf(c.node))!.connected)
      // A second of forgiveness between visits.
      await new Promise((r) => setTimeout(r, 1000))
    }
    const view = keeper(a).view(peerOf(c.node))!
    expect(view.served.amount).toBeGreaterThan(keeper(a).disconnectThreshold)
    expect(view.forgiven).toBeGreaterThan(0n)
    expect(view.lastReceived).toBeNull()
    expect(
      logged(a.logs, 'not served until it pays').filter((l) => l.peer === peerOf(c.node)),
    ).toHaveLength(0)
    expect(opsOf(c.node)).toBe(opsOf(a.node))
  })
})
