import '../src/net/polyfill.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, StrictNoSign } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { pino } from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import { compareOpIds } from '../src/ledger/op-id.ts'
import { encodeGossip } from '../src/net/gossip-codec.ts'
import { BAN_MS, isForgettable, OPS_TOPIC } from '../src/net/replicator.ts'
import { encodeSync, FINGERPRINT_BYTES, SYNC_PROTOCOL } from '../src/net/sync-messages.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { makeAuditGenesis, makeGenesis, makeMerge, makeOp, testSigner } from './helpers.ts'

const roots: string[] = []
const running: RwaNode[] = []

afterEach(async () => {
  for (const node of running.splice(0)) await node.stop().catch(() => undefined)
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

/** A node with replication on loopback, no chain; `peers` to dial. */
function makeNode(dataDir: string, peers: string[] = []): RwaNode {
  const node = createNode(loadConfig(dataDir), {
    port: 0,
    logger: pino({ level: 'silent' }),
    verifyPool: false,
    chain: { mode: 'none' },
    net: { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], peers },
  })
  running.push(node)
  return node
}

/** One started node, with no peers to dial. */
async function startOne(): Promise<RwaNode> {
  const [dir] = dataDirs(1)
  const node = makeNode(dir!)
  await node.start()
  return node
}

/** Two started nodes, the second dialling the first. */
async function startPair(): Promise<[RwaNode, RwaNode]> {
  const [d1, d2] = dataDirs(2)
  const n1 = makeNode(d1!)
  await n1.start()
  const n2 = makeNode(d2!, [address(n1)])
  await n2.start()
  return [n1, n2]
}

function dataDirs(n: number): string[] {
  const root = mkdtempSync(join(tmpdir(), 'rwa-net-test-'))
  roots.push(root)
  return Array.from({ length: n }, (_, i) => {
    const dir = join(root, `n${i + 1}`)
    initNode({ name: `n${i + 1}`, dataDir: dir })
    return dir
  })
}

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 20_000,
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const address = (node: RwaNode) => node.replicator!.multiaddrs()[0]!

/** Creates an audit on `node` and appends item adds until it holds `ops` ops. */
async function auditWithItems(node: RwaNode, name: string, ops: number) {
  const admin = node.accounts.get(OPERATOR)!
  const audit = (await node.actions.create(admin, { name, bond: '1000' })).id
  const pending: Promise<unknown>[] = []
  for (let i = 1; i < ops; i++) {
    const draft = {
      doc: audit,
      type: 'audit.item.add',
      body: { description: `item ${i}` },
      time: i,
    }
    pending.push(node.ledger.append(admin.signer, draft))
    if (pending.length === 500) await Promise.all(pending.splice(0))
  }
  await Promise.all(pending)
  return audit
}

/** A bare libp2p peer on loopback with gossipsub (a test harness speaking the protocols). */
function rawPeer() {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        globalSignaturePolicy: StrictNoSign,
        emitSelf: false,
      }),
    },
  })
}

/** Subscribes a bare peer to the ops topic and waits until it is in `node`'s gossip mesh. */
async function joinGossip(peer: Awaited<ReturnType<typeof rawPeer>>, node: RwaNode) {
  peer.services.pubsub.subscribe(OPS_TOPIC)
  await peer.dial(multiaddr(address(node)))
  await until(
    'the peer to join the topic mesh',
    () => peer.services.pubsub.getSubscribers(OPS_TOPIC).length > 0,
  )
}

describe('replication over libp2p on loopback', () => {
  test('three nodes run one audit together and reach the same state hash and settlement', async () => {
    const [d1, d2, d3] = dataDirs(3)
    const n1 = makeNode(d1!)
    await n1.start()
    const n2 = makeNode(d2!, [address(n1)])
    const n3 = makeNode(d3!, [address(n1)])
    await Promise.all([n2.start(), n3.start()])
    const admin = n1.accounts.get(OPERATOR)!
    const audit = (await n1.actions.create(admin, { name: 'Replicated', bond: '900' })).id
    await n1.actions.addItem(admin, audit, 'light 1 works')
    await n1.actions.addItem(admin, audit, 'light 2 works')
    await n1.actions.control(admin, audit, 'open')
    // Auditors are accounts of nodes 2 and 3, acting through their own nodes.
    const a = n2.accounts.create({ name: 'alice' }).account
    const b = n2.accounts.create({ name: 'bob' }).account
    const c = n3.accounts.create({ name: 'carol' }).account
    await until('the audit to reach nodes 2 and 3', async () =>
      [n2, n3].every((n) =>
        n.audits.list().some((x) => x.id === audit && x.state === 'AUDITOR_REGISTRATION'),
      ),
    )
    await n2.actions.register(a, audit)
    await n2.actions.register(b, audit)
    await n3.actions.register(c, audit)
    await until(
      'node 1 to see three registrations',
      async () => (await n1.audits.state(audit)).auditors.length === 3,
    )
    await n1.actions.control(admin, audit, 'close')
    await n1.actions.control(admin, audit, 'start')
    await until('the start to reach everyone', async () =>
      (await Promise.all([n2, n3].map((n) => n.audits.stateName(audit)))).every(
        (s) => s === 'AUDITING',
      ),
    )
    for (const [node, account, answer] of [
      [n2, a, true],
      [n2, b, true],
      [n3, c, false],
    ] as const)
      for (let i = 0; i < 2; i++) await node.actions.answer(account, audit, answer)
    await until('node 1 to see every answer', async () =>
      (await n1.audits.state(audit)).inspections.every((i) => i.status === 'answered'),
    )
    await n1.actions.control(admin, audit, 'stop')
    await until('every node to compute the same state', async () => {
      const hashes = await Promise.all([n1, n2, n3].map((n) => n.audits.stateHash(audit)))
      return hashes[0] === hashes[1] && hashes[1] === hashes[2]
    })
    const states = await Promise.all([n1, n2, n3].map((n) => n.audits.state(audit)))
    for (const state of states) {
      expect(state.state).toBe('WAITING_FOR_CONTRACT')
      expect(state.settlement?.encoded).toBe(states[0]!.settlement!.encoded)
      expect(state.rejected).toEqual([])
    }
    expect(states[0]!.settlement!.amounts).toEqual([300n, 300n])
  }, 60_000)

  test('a node that was offline while 10,000 ops happened catches up by sync', async () => {
    const [d1, d2] = dataDirs(2)
    const n1 = makeNode(d1!)
    await n1.start()
    // Node 2 first meets node 1 only after 10,000 ops exist.
    const audit = await auditWithItems(n1, 'Big', 10_000)
    expect(n1.ledger.log.size(audit)).toBe(10_000)
    const n2 = makeNode(d2!, [address(n1)])
    await n2.start()
    await until('node 2 to hold all 10,000 ops', () => n2.ledger.log.size(audit) === 10_000, 60_000)
    expect(n2.ledger.log.heads(audit)).toEqual(n1.ledger.log.heads(audit))
    expect(await n2.audits.stateHash(audit)).toBe(await n1.audits.stateHash(audit))
    // Restarted, it keeps what it synced (nothing lost) and has nothing left to fetch.
    await n2.stop()
    const again = makeNode(d2!, [address(n1)])
    await again.start()
    expect(again.ledger.log.size(audit)).toBe(10_000)
  }, 120_000)

  test('a node catches up on a very wide DAG, more sibling heads than a pull can name', async () => {
    const [d1, d2] = dataDirs(2)
    const n1 = makeNode(d1!)
    await n1.start()
    // 2,500 ops that all cite only the genesis (a Byzantine author's doing: honest ops cite the
    // heads they saw): a pull names at most 256 heads, so answers start with ops already held.
    const authors = [testSigner(31), testSigner(32), testSigner(33), testSigner(34), testSigner(35)]
    const g = makeAuditGenesis(authors[0]!)
    const ops = [g.bytes]
    for (let i = 0; i < 2500; i++) {
      const seq = Math.floor(i / 5) + (i % 5 === 0 ? 2 : 1)
      ops.push(makeMerge(authors[i % 5]!, { doc: g.id, seq, deps: [g.id] }).bytes)
    }
    expect((await n1.ledger.ingest(ops)).every((r) => r.ok)).toBe(true)
    expect(n1.ledger.log.heads(g.id)).toHaveLength(2500)
    const n2 = makeNode(d2!, [address(n1)])
    await n2.start()
    await until('node 2 to hold every op', () => n2.ledger.log.size(g.id) === ops.length, 60_000)
    expect(n2.ledger.log.heads(g.id)).toEqual(n1.ledger.log.heads(g.id))
  }, 90_000)

  test('an honest peer gossiping faster than a node can check is not struck: the node drops the excess, stays connected and catches up by sync', async () => {
    const [n1, n2] = await startPair()
    await until('the gossip mesh to form', () =>
      [n1, n2].every(
        (n) => n.replicator!.node.services.pubsub.getSubscribers(OPS_TOPIC).length > 0,
      ),
    )
    // One write of 10,241 ops: node 1 gossips them as 41 messages at once, more than node 2
    // checks at a time from one peer.
    const authors = [testSigner(21), testSigner(22), testSigner(23), testSigner(24)]
    const g = makeAuditGenesis(authors[0]!)
    const ops = [g.bytes]
    // A chain, as honest ops are (each cites the heads it saw), four authors taking turns.
    for (let i = 0, previous = g.id; i < 10_240; i++) {
      const seq = Math.floor(i / 4) + (i % 4 === 0 ? 2 : 1)
      const op = makeMerge(authors[i % 4]!, { doc: g.id, seq, deps: [previous] })
      ops.push(op.bytes)
      previous = op.id
    }
    expect((await n1.ledger.ingest(ops)).every((r) => r.ok)).toBe(true)
    await until('node 2 to drop gossip', () => n2.replicator!.gossipDropped() > 0)
    await until('node 2 to hold every op', () => n2.ledger.log.size(g.id) === ops.length, 60_000)
    expect(n2.ledger.log.heads(g.id)).toEqual(n1.ledger.log.heads(g.id))
    expect(n2.replicator!.strikes(n1.replicator!.peerId)).toBe(0)
    expect(n2.replicator!.peerCount()).toBe(1)
  }, 90_000)

  test('a peer gossiping garbage and forged ops is struck, banned and disconnected; honest state is untouched', async () => {
    const n1 = await startOne()
    const admin = n1.accounts.get(OPERATOR)!
    const audit = (await n1.actions.create(admin, { name: 'Guarded', bond: '10' })).id
    const before = n1.ledger.log.stats().accepted
    const mallory = await rawPeer()
    try {
      await joinGossip(mallory, n1)
      const victim = testSigner(9)
      const g = makeGenesis(victim)
      const forged = new Uint8Array(
        makeOp(victim, { doc: g.id, seq: 2, deps: [g.id], body: { n: 1 } }).bytes,
      )
      forged[forged.length - 40]! ^= 1
      for (let i = 0; i < 8; i++) {
        const junk =
          i % 2 === 0
            ? new TextEncoder().encode(`garbage ${i}`)
            : encodeGossip([forged.map((b, k) => (k === 60 ? b ^ i : b))])
        await mallory.services.pubsub.publish(OPS_TOPIC, junk).catch(() => undefined)
      }
      const id = mallory.peerId.toString()
      await until('node 1 to ban mallory', () => n1.replicator!.isBanned(id))
      await until('mallory to be disconnected', () => mallory.getPeers().length === 0)
      // Dialling again gets nowhere: the node's connection gater refuses the banned peer.
      await mallory
        .dial(multiaddr(address(n1)), { signal: AbortSignal.timeout(3000) })
        .catch(() => undefined)
      await new Promise((r) => setTimeout(r, 500))
      expect(n1.replicator!.node.getPeers().map(String)).not.toContain(id)
      expect(n1.ledger.log.stats().accepted).toBe(before)
      expect(await n1.audits.stateName(audit)).toBe('INITIALIZATION')
      // /metrics counts the strikes and the ban.
      const { text } = await n1.metrics.render()
      expect(Number(/^rwa_peer_strikes_total (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(5)
      expect(text).toMatch(/^rwa_peer_bans_total\{kind="peer"\} 1$/m)
    } finally {
      await mallory.stop()
    }
  }, 60_000)

  test('a partition heals: work on both sides converges, and close freezes the roster to what it saw', async () => {
    const [d1, d2, d3] = dataDirs(3)
    const n1 = makeNode(d1!)
    await n1.start()
    const n2 = makeNode(d2!, [address(n1)])
    const n3 = makeNode(d3!)
    await Promise.all([n2.start(), n3.start()])
    await n3.replicator!.connect(address(n1))
    const admin = n1.accounts.get(OPERATOR)!
    const audit = (await n1.actions.create(admin, { name: 'Split', bond: '900' })).id
    await n1.actions.addItem(admin, audit, 'bench 1')
    await n1.actions.control(admin, audit, 'open')
    await until('the audit to reach nodes 2 and 3', async () =>
      [n2, n3].every((n) =>
        n.audits.list().some((x) => x.id === audit && x.state === 'AUDITOR_REGISTRATION'),
      ),
    )
    // Cut node 3 off: hang up and keep it from dialling back.
    for (const peer of n3.replicator!.node.getPeers()) await n3.replicator!.node.hangUp(peer)
    await until(
      'node 3 to be alone',
      () => n3.replicator!.peerCount() === 0 && n1.replicator!.peerCount() === 1,
    )
    const [a, b, c] = ['alice', 'bob', 'carol'].map((name) => n2.accounts.create({ name }).account)
    for (const account of [a!, b!, c!]) await n2.actions.register(account, audit)
    const dave = n3.accounts.create({ name: 'dave' }).account
    await n3.actions.register(dave, audit) // on the far side of the cut
    await until(
      'node 1 to see three registrations',
      async () => (await n1.audits.state(audit)).auditors.length === 3,
    )
    await n1.actions.control(admin, audit, 'close')
    // Heal.
    await n3.replicator!.connect(address(n1))
    await until('all three to agree', async () => {
      const hashes = await Promise.all([n1, n2, n3].map((n) => n.audits.stateHash(audit)))
      return new Set(hashes).size === 1
    })
    for (const node of [n1, n2, n3]) {
      const state = await node.audits.state(audit)
      expect(state.state).toBe('AUDITOR_REGISTRATION_COMPLETE')
      expect(state.auditors.map((x) => x.key).sort()).toEqual([a!.key, b!.key, c!.key].sort())
      expect(state.excluded.map((x) => x.type)).toEqual(['audit.register'])
    }
  }, 60_000)

  test('a node restarted in the middle of a sync loses nothing and completes afterwards', async () => {
    const [d1, d2] = dataDirs(2)
    const n1 = makeNode(d1!)
    await n1.start()
    const audit = await auditWithItems(n1, 'Resume', 6000)
    const n2 = makeNode(d2!, [address(n1)])
    await n2.start()
    await until('node 2 to be part-way', () => n2.ledger.log.size(audit) >= 1000, 30_000)
    const partWay = n2.ledger.log.size(audit)
    await n2.stop()
    const again = makeNode(d2!, [address(n1)])
    await again.start()
    expect(again.ledger.log.size(audit)).toBeGreaterThanOrEqual(partWay)
    await until('node 2 to finish', () => again.ledger.log.size(audit) === 6000, 60_000)
    expect(again.ledger.log.heads(audit)).toEqual(n1.ledger.log.heads(audit))
  }, 120_000)

  test('equivocation evidence gossiped by a Byzantine author is identical on every honest node', async () => {
    const [n1, n2] = await startPair()
    const admin = n1.accounts.get(OPERATOR)!
    const audit = (await n1.actions.create(admin, { name: 'Forked', bond: '10' })).id
    await until('node 2 to have the audit', () => n2.ledger.log.size(audit) === 1)
    const eve = testSigner(7)
    // Valid ops (merges), so both are admitted: an invalid fork would be refused at ingest.
    const fork1 = makeMerge(eve, { doc: audit, seq: 1, deps: [audit], time: 1 })
    const fork2 = makeMerge(eve, { doc: audit, seq: 1, deps: [audit], time: 2 })
    // Eve shows one fork to each node.
    await n1.ledger.ingest([fork1.bytes])
    await n2.ledger.ingest([fork2.bytes])
    await n1.replicator!.syncAll()
    await n2.replicator!.syncAll()
    await until('both nodes to hold both forks', () =>
      [n1, n2].every((n) => n.ledger.log.size(audit) === 3),
    )
    const evidence = [n1, n2].map((n) =>
      n.ledger.log.equivocations(audit).map((e) => ({
        author: Buffer.from(e.author).toString('hex'),
        seq: e.seq,
        ids: e.ids,
      })),
    )
    expect(evidence[0]).toHaveLength(1)
    expect(evidence[1]).toEqual(evidence[0])
    // In the log's id order (by bytes, which differs from the order of the base32 text).
    expect(evidence[0]![0]!.ids).toEqual([fork1.id, fork2.id].sort(compareOpIds))
    expect(await n1.audits.stateHash(audit)).toBe(await n2.audits.stateHash(audit))
  }, 60_000)

  test('a peer flooding sync requests (more streams at once than allowed) is banned and disconnected while the node keeps serving', async () => {
    const n1 = await startOne()
    const mallory = await rawPeer()
    const fp = new Uint8Array(FINGERPRINT_BYTES)
    try {
      await mallory.dial(multiaddr(address(n1)))
      const id = mallory.peerId.toString()
      // The flood starts on a connection both sides have set up: streams a peer opens before
      // the node has finished its side are refused by the muxer itself (more than 10 of them
      // close the connection), which under load would end the flood before it reached the node.
      await until('node 1 to see the flooder connected', () =>
        n1.replicator!.node.getPeers().some((peer) => peer.toString() === id),
      )
      let answered = 0
      // 16 requests at a time (twice the open sync streams a peer may have): 600 at most,
      // stopping once cut off.
      const everything = { t: 'recon' as const, ranges: [{ lo: '', hi: null, fp, n: 0 }] }
      let sent = 0
      const worker = async () => {
        while (sent < 600 && !n1.replicator!.isBanned(id)) {
          sent++
          try {
            const stream = await mallory.dialProtocol(n1.replicator!.node.peerId, SYNC_PROTOCOL)
            const lp = lpStream(stream)
            await lp.write(encodeSync(everything))
            await lp.read({ signal: AbortSignal.timeout(5000) })
            answered++
          } catch {
            // Refused, reset or disconnected: what a flooder should get.
          }
        }
      }
      await Promise.all(Array.from({ length: 16 }, worker))
      await until('node 1 to ban the flooder', () => n1.replicator!.isBanned(id))
      await until('the flooder to be disconnected', () => mallory.getPeers().length === 0)
      expect(answered).toBeLessThan(sent)
      // The node still serves: HTTP and its own ledger work as before.
      const admin = n1.accounts.get(OPERATOR)!
      const audit = (await n1.actions.create(admin, { name: 'Still here', bond: '5' })).id
      expect(await n1.audits.stateName(audit)).toBe('INITIALIZATION')
      const response = await fetch(`${n1.url}/status`)
      expect(response.status).toBe(200)
    } finally {
      await mallory.stop()
    }
  }, 60_000)

  test('a peer flooding gossip gets bounded work out of the node: the excess is dropped unchecked and the node keeps working', async () => {
    const n1 = await startOne()
    const mallory = await rawPeer()
    try {
      await joinGossip(mallory, n1)
      // Valid ops, but far more than a peer may have checked at once: 150 messages of 200 ops.
      const spammer = testSigner(11)
      const g = makeAuditGenesis(spammer)
      const messages: Uint8Array[] = []
      for (let m = 0; m < 150; m++) {
        const ops = Array.from(
          { length: 200 },
          (_, k) => makeMerge(spammer, { doc: g.id, seq: 2 + m * 200 + k, deps: [g.id] }).bytes,
        )
        messages.push(encodeGossip(m === 0 ? [g.bytes, ...ops.slice(1)] : ops))
      }
      const id = mallory.peerId.toString()
      await Promise.all(
        messages.map((data) =>
          mallory.services.pubsub.publish(OPS_TOPIC, data).catch(() => undefined),
        ),
      )
      await until('node 1 to drop gossip', () => n1.replicator!.gossipDropped() > 0, 60_000)
      // Nothing is left being checked once the burst is over: the work was bounded.
      const spamDoc = g.id
      let settled = -1
      let changed = Date.now()
      await until('node 1 to finish what it took in', () => {
        const now = n1.ledger.log.size(spamDoc)
        if (now !== settled) [settled, changed] = [now, Date.now()]
        return Date.now() - changed > 1500
      })
      // Dropped, not queued: the node did not take in everything that was thrown at it, and
      // what it dropped is no strike (an honest, faster node would look the same).
      expect(settled).toBeGreaterThan(0)
      expect(settled).toBeLessThan(150 * 200)
      expect(n1.replicator!.strikes(id)).toBe(0)
      const status = (await (await fetch(`${n1.url}/status`)).json()) as {
        net: { gossipDropped: number }
      }
      expect(status.net.gossipDropped).toBe(n1.replicator!.gossipDropped())
      const admin = n1.accounts.get(OPERATOR)!
      const audit = (await n1.actions.create(admin, { name: 'After the flood', bond: '5' })).id
      expect(await n1.audits.stateName(audit)).toBe('INITIALIZATION')
    } finally {
      await mallory.stop()
    }
  }, 90_000)
})

describe('strikes', () => {
  test("a node's own limits (pending buffer full, failed ledger) are not held against the peer", async () => {
    const { peersFault } = await import('../src/net/replicator.ts')
    const { InvalidSignatureError, LedgerFailedError, PendingBufferFullError } = await import(
      '../src/ledger/errors.ts'
    )
    const { BaseError } = await import('../src/errors/base.ts')
    const refused = (error: InstanceType<typeof BaseError>) => ({ ok: false, error }) as const
    expect(peersFault(refused(new InvalidSignatureError('x')))).toBe(true)
    expect(peersFault(refused(new PendingBufferFullError('x', 'this node', 1)))).toBe(false)
    expect(peersFault(refused(new LedgerFailedError(new Error('disk full'))))).toBe(false)
    expect(peersFault({ ok: true, id: 'x' as never, doc: 'x' as never, status: 'accepted' })).toBe(
      false,
    )
  })
})

describe('peer bookkeeping', () => {
  test('a gone peer is forgotten once no ban is in force and its last strike is a ban’s length old', () => {
    const now = 1_000_000_000
    const minute = 60_000
    // Never struck: nothing to keep.
    expect(isForgettable({ bannedUntil: 0, struck: 0 }, now)).toBe(true)
    // Struck a minute ago: kept, so strikes add up across reconnects.
    expect(isForgettable({ bannedUntil: 0, struck: now - minute }, now)).toBe(false)
    // Banned: kept while the ban lasts, forgotten after.
    const banned = { bannedUntil: now + BAN_MS - minute, struck: now - minute }
    expect(isForgettable(banned, now)).toBe(false)
    expect(isForgettable(banned, now + BAN_MS)).toBe(true)
    // Strikes fade: the last one a ban's length ago.
    expect(isForgettable({ bannedUntil: 0, struck: now - BAN_MS }, now)).toBe(true)
  })
})
