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
    let servedOps = 0
    for (const server of [a, b]) {
      // Both sides count the same answers at the server's prices.
      await until(
        'both sides to agree on the balance',
        () => balance(server, c) === -balance(c, server),
      )
      const view = keeper(server).view(peerOf(c.node))!
      servedOps += view.served.ops
      // Never enforced: no cheques, and c is served whatever it owes.
      expect(view.lastReceived).toBeNull()
      expect(keeper(server).admit(peerOf(c.node))).toBeUndefined()
    }
    // c pulled every op it holds from a or b, and owes it.
    expect(servedOps).toBeGreaterThanOrEqual(300)
    const [main] = [a, b].sort((x, y) => Number(balance(y, c) - balance(x, c)))
    const view = keeper(main!).view(peerOf(c.node))!
    expect(view.balance).toBeGreaterThan(keeper(main!).disconnectThreshold)
    expect(view.standing).toBe('cut-off')
    const lines = logged(
      main!.logs,
      'peer owes past the disconnect threshold (soft mode: still served)',
    )
    expect(lines.filter((l) => l.peer === peerOf(c.node))).toHaveLength(1)
    // c owes: it sees itself in debt past the server's payment threshold.
    expect(keeper(c).view(peerOf(main!.node))!.standing).toBe('in-debt')
    expect(
      logged(c.logs, "this node owes the peer past the peer's payment threshold").length,
    ).toBeGreaterThan(0)
    // /status and /metrics show it.
    const status = (await (await fetch(`${main!.node.url}/status`)).json()) as {
      domains: {
        swap: { mode: string; peers: { peer: string; balance: string; standing: string }[] }
      }
    }
    expect(status.domains.swap.mode).toBe('soft')
    const row = status.domains.swap.peers.find((p) => p.peer === peerOf(c.node))!
    expect(BigInt(row.balance)).toBe(balance(main!, c))
    const metrics = await (await fetch(`${main!.node.url}/metrics`)).text()
    expect(metrics).toMatch(new RegExp(`rwa_swap_peer_balance\\{peer="${peerOf(c.node)}"\\} \\d+`))
    expect(metrics).toMatch(/rwa_swap_peers\{standing="cut-off"\} [12]/)
  }, 180_000)
})

describe('mock mode', () => {
  test('the puller pays with cheques taken at face value, and the balances settle', async () => {
    const mock = { ...base, mode: 'mock', payment_threshold: 1_000_000, early_payment_percent: 90 }
    const { a, b, c } = await threeNodes(mock, 300)
    // c pulled 600 ops from a and b (each document from whichever answered first): it owes
    // past the early-payment line (100,000) at least one of them, and pays it.
    await until('c to have paid', () =>
      [a, b].some((s) => keeper(s).lastCheque('in', peerOf(c.node)) !== undefined),
    )
    let paid = 0
    for (const server of [a, b]) {
      // Whatever it was served, c's debt ends under the line: paid, or never past it.
      await until('c’s debt to the server under the line', () => balance(server, c) < 100_000n)
      const cheque = keeper(server).lastCheque('in', peerOf(c.node))
      if (!cheque) continue
      paid++
      // Drawn on c's mock chequebook, made out to the server, acknowledged by it.
      expect(cheque.chequebook.toLowerCase()).toBe(c.node.swap.book!.chequebook.toLowerCase())
      expect(cheque.beneficiary.toLowerCase()).toBe(
        server.node.swap.book!.beneficiary.toLowerCase(),
      )
      await until(
        'c to see the acknowledgement',
        () => keeper(c).acknowledgedCumulative(peerOf(server.node)) === cheque.cumulativePayout,
      )
      expect(keeper(server).view(peerOf(c.node))!.served.amount).toBeGreaterThanOrEqual(100_000n)
      expect(logged(server.logs, 'cheque received').length).toBeGreaterThan(0)
      expect(
        logged(c.logs, 'cheque sent and acknowledged').some((l) => l.peer === peerOf(server.node)),
      ).toBe(true)
    }
    expect(paid).toBeGreaterThanOrEqual(1)
    // Each node published its chequebook binding on the ledger, and the others replicated it.
    await until('the three bindings on every node', () =>
      [a, b, c].every((n) => n.node.indexes.get('swap')!.list().length === 3),
    )
    const bindings = a.node.indexes.get('swap')!.list()
    const ofC = bindings.find((l) => l.peerId === peerOf(c.node))!
    expect(ofC).toMatchObject({ state: 'open', mode: 'mock' })
    const state = (await a.node.indexes.get('swap')!.state(ofC.id)) as { chequebook: string }
    expect(state.chequebook).toBe(c.node.swap.book!.chequebook.toLowerCase())
    // Nothing to cash in mock mode.
    await expect(a.node.swap.service.cash(peerOf(c.node))).rejects.toThrow(/mock mode/)
  }, 180_000)

  test('balances and cheques survive a restart', async () => {
    const mock = { ...base, mode: 'mock', payment_threshold: 1_000_000, early_payment_percent: 90 }
    cluster = swapCluster()
    const a = await cluster.start('a', mock)
    await writeOps(a.node, 'from a', 300)
    const c = await cluster.start('c', mock, { peers: [addressOf(a.node)] })
    await until('c to have paid a', () => keeper(a).lastCheque('in', peerOf(c.node)) !== undefined)
    await cluster.stop(c.node)
    await new Promise((r) => setTimeout(r, 200))
    const before = keeper(a).view(peerOf(c.node))!
    expect(before.lastReceived).not.toBeNull()
    expect(before.served.amount).toBeGreaterThan(0n)
    await cluster.stop(a.node)
    const again = await cluster.start('a', mock)
    const after = keeper(again).view(peerOf(c.node))!
    expect(after.balance).toBe(before.balance)
    expect(after.served).toEqual(before.served)
    expect(after.lastReceived).toEqual(before.lastReceived)
    expect(after.terms).toEqual(before.terms)
    // The binding is not published twice.
    expect(
      again.node.indexes
        .get('swap')!
        .list()
        .filter((l) => l.peerId === peerOf(a.node)),
    ).toHaveLength(1)
  }, 180_000)
})

describe('mixed with a node without SWAP', () => {
  test('a puller with SWAP owes nothing to a server without it, and pulls from it as before', async () => {
    cluster = swapCluster()
    const a = await cluster.start('a', { mode: 'off' })
    await writeOps(a.node, 'from a', 100)
    const c = await cluster.start('c', { ...base, mode: 'mock' }, { peers: [addressOf(a.node)] })
    await until('c to hold every op', () => opsOf(c.node) === 100)
    expect(a.node.swap.mode).toBe('off')
    // c counts nothing it took from a (a announced no terms); what a pulled from c, a owes.
    const view = keeper(c).view(peerOf(a.node))!
    expect(view.terms).toBeNull()
    expect(view.received.amount).toBe(0n)
    expect(view.balance).toBeGreaterThanOrEqual(0n)
    expect(keeper(c).lastCheque('out', peerOf(a.node))).toBeUndefined()
    // A later pull goes on without the handshake that failed (and still costs nothing).
    await c.node.replicator!.hangUp(peerOf(a.node))
    await appendOps(a.node, a.node.indexes.get('audit')!.list()[0]!.id, 1)
    await c.node.replicator!.connect(addressOf(a.node))
    await until('c to hold the new op', () => opsOf(c.node) === 101)
    expect(keeper(c).view(peerOf(a.node))!.received.amount).toBe(0n)
  }, 180_000)
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
  }, 180_000)
})
