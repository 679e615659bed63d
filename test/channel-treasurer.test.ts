import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve } from '@hono/node-server'
import { Command } from 'commander'
import { Hono } from 'hono'
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import { channelClaimTimeout, readChannel, readMpeBalance } from '../src/chain/mpe.ts'
import { formatAmount, type TokenUnit } from '../src/core/amount.ts'
import { signClaim } from '../src/core/channel/claim.ts'
import {
  addTreasurerCommands,
  formatClaimResult,
  formatOverview,
} from '../src/domains/channel/cli/treasurer-commands.ts'
import { claimResultFromWire, overviewFromWire } from '../src/domains/channel/cli/treasurer-wire.ts'
import { type PaymentStore, sqlitePaymentStore } from '../src/domains/channel/payment-store.ts'
import { createTreasurer, type TreasurerOptions } from '../src/domains/channel/treasurer.ts'
import { addTreasurerRoutes } from '../src/domains/channel/treasurer-routes.ts'
import type { ChannelRow } from '../src/domains/channel/types.ts'
import { errorResponse } from '../src/http/errors.ts'
import { createRouteGroup } from '../src/http/route-group.ts'
import { openAccounts } from '../src/node/accounts.ts'
import {
  blockOf,
  capturedLogger,
  openTo,
  PRICE,
  paymentsOn,
  recipient,
  senders,
  unitOf,
} from './fixtures/channel-treasury.ts'
import { dev, hasAnvil } from './fixtures/escrow-chain.ts'
import { type MpeChain, startMpeChain } from './fixtures/mpe-chain.ts'

// The treasurer on anvil with a real SQLite channel store filled as the gateway fills it: it
// lists the service's channels, claims them nearest expiry first in multiChannelClaim batches,
// skips what it must not claim, and reconciles its store with the chain after a stop or a
// timeout refund.

const [alice, bob, carol] = senders
const describeChain = hasAnvil() ? describe : describe.skip

let chain: MpeChain
let unit: TokenUnit
let dir: string
const stores: PaymentStore[] = []
let storeCount = 0

/** A fresh store of the service (one per test: each sees only its own channels). */
function newStore(): PaymentStore {
  const store = sqlitePaymentStore({
    path: join(dir, `channels-${storeCount++}.sqlite`),
    escrow: chain.escrow,
  })
  stores.push(store)
  return store
}

function treasurerOf(store: PaymentStore, options: Partial<TreasurerOptions> = {}) {
  const changes: bigint[][] = []
  const log = capturedLogger()
  const treasurer = createTreasurer({
    store,
    client: chain.client,
    wallet: chain.walletOf(recipient),
    escrow: chain.escrow,
    token: unit,
    logger: log.logger,
    onChange: (ids) => changes.push([...ids]),
    ...options,
  })
  return { treasurer, changes, log }
}

const balance = () => readMpeBalance(chain.client, chain.escrow, recipient.address)
const onChain = async (id: bigint) => {
  const channel = await readChannel(chain.client, chain.escrow, id)
  if (!channel) throw new Error(`no channel ${id}`)
  return channel
}
const rowOf = (rows: readonly ChannelRow[], id: bigint) => {
  const row = rows.find((r) => r.channelId === id)
  if (!row) throw new Error(`channel ${id} not listed`)
  return row
}

describeChain('treasurer', () => {
  beforeAll(async () => {
    chain = await startMpeChain({ payers: senders.map((s) => s.address) })
    unit = await unitOf(chain)
    dir = mkdtempSync(join(tmpdir(), 'rwa-treasurer-'))
  }, 60_000)
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close()
  })
  afterAll(async () => {
    await chain?.devnet.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('list: each channel with its value, authorised and unclaimed amounts and blocks left, nearest expiry first', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const far = await openTo(chain, alice, { value: 1_000n, blocks: 3_000n })
    const near = await openTo(chain, bob, { value: 500n, blocks: 1_000n })
    await pay.pay(alice, far, 3)
    await pay.pay(bob, near, 5)
    const before = await balance()
    const { treasurer } = treasurerOf(store)

    const overview = await treasurer.list()
    const block = await blockOf(chain)
    expect(overview.currentBlock).toBe(block)
    expect(overview.balance).toBe(before)
    expect(overview.recipient).toBe(recipient.address)
    expect(overview.token).toEqual(unit)
    expect(overview.channels.map((r) => r.channelId)).toEqual([near, far])
    const [n, f] = overview.channels
    const nearChain = await onChain(near)
    expect(n).toMatchObject({
      sender: bob.address,
      signer: bob.address,
      recipient: recipient.address,
      chainNonce: 0n,
      nonce: 0n,
      value: 500n,
      authorised: 5n * PRICE,
      unclaimed: 5n * PRICE,
      busy: false,
      expiration: nearChain.expiration,
      blocksLeft: nearChain.expiration - block,
    })
    expect(n?.claiming).toBeUndefined()
    expect(f).toMatchObject({ value: 1_000n, authorised: 3n * PRICE, unclaimed: 3n * PRICE })
    expect(f?.blocksLeft).toBeGreaterThan(n?.blocksLeft ?? 0n)
  })

  test('claim one channel: the escrow pays the recipient, chain and store move to the next nonce', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const id = await openTo(chain, alice)
    const other = await openTo(chain, bob)
    await pay.pay(alice, id, 3)
    await pay.pay(bob, other, 2)
    const before = await balance()
    const { treasurer, changes } = treasurerOf(store)

    const result = await treasurer.claim([id])
    expect(result.claimed).toEqual([{ channelId: id, nonce: 0n, amount: 3n * PRICE }])
    expect(result.transactions).toHaveLength(1)
    expect(result.transactions[0]?.gasUsed).toBeGreaterThan(0n)
    expect(result.skipped).toEqual([])
    expect(await balance()).toBe(before + 3n * PRICE)
    expect(await onChain(id)).toMatchObject({ nonce: 1n, value: 1_000n - 3n * PRICE })
    expect(await store.get(id)).toMatchObject({ nonce: 1n, authorised: 0n })
    expect(changes.flat()).toContain(id)
    const rows = (await treasurer.list()).channels
    expect(rowOf(rows, id)).toMatchObject({ nonce: 1n, chainNonce: 1n, unclaimed: 0n })
    expect(rowOf(rows, id).claiming).toBeUndefined()
    // The other channel is untouched.
    expect(rowOf(rows, other)).toMatchObject({ nonce: 0n, unclaimed: 2n * PRICE })
    expect((await onChain(other)).nonce).toBe(0n)
  })

  test('claim-all: several channels in one multiChannelClaim, nearest expiry first; the balance grows by the sum', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const late = await openTo(chain, alice, { blocks: 3_000n })
    const soon = await openTo(chain, bob, { blocks: 1_000n })
    const middle = await openTo(chain, carol, { blocks: 2_000n })
    const idle = await openTo(chain, alice, { blocks: 500n })
    await pay.pay(alice, late, 1)
    await pay.pay(bob, soon, 4)
    await pay.pay(carol, middle, 2)
    const before = await balance()
    const { treasurer } = treasurerOf(store)

    const result = await treasurer.claimAll()
    expect(result.claimed).toEqual([
      { channelId: soon, nonce: 0n, amount: 4n * PRICE },
      { channelId: middle, nonce: 0n, amount: 2n * PRICE },
      { channelId: late, nonce: 0n, amount: 1n * PRICE },
    ])
    expect(result.transactions).toHaveLength(1)
    expect(result.skipped).toEqual([])
    expect(await balance()).toBe(before + 7n * PRICE)
    for (const id of [late, soon, middle]) expect((await onChain(id)).nonce).toBe(1n)
    // A channel without calls was not in the store, and is not claimed.
    expect((await onChain(idle)).nonce).toBe(0n)
    expect(await treasurer.claimAll()).toEqual({ claimed: [], transactions: [], skipped: [] })
  })

  test('batches hold at most batchSize claims, still nearest expiry first', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const ids: bigint[] = []
    for (const [i, sender] of [alice, bob, carol, alice, bob].entries()) {
      const id = await openTo(chain, sender, { blocks: 5_000n - BigInt(i) * 100n })
      await pay.pay(sender, id, i + 1)
      ids.push(id)
    }
    const before = await balance()
    const { treasurer } = treasurerOf(store, { batchSize: 2 })
    const result = await treasurer.claimAll()
    expect(result.transactions).toHaveLength(3)
    expect(result.claimed.map((c) => c.channelId)).toEqual([...ids].reverse())
    expect(await balance()).toBe(before + (1n + 2n + 3n + 4n + 5n) * PRICE)
  })

  test('claim-expiring takes only the channels within the distance', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const soon = await openTo(chain, alice, { blocks: 100n })
    const late = await openTo(chain, bob, { blocks: 2_000n })
    await pay.pay(alice, soon, 2)
    await pay.pay(bob, late, 2)
    const { treasurer } = treasurerOf(store)
    const result = await treasurer.claimExpiring(500n)
    expect(result.claimed.map((c) => c.channelId)).toEqual([soon])
    expect((await onChain(late)).nonce).toBe(0n)
  })

  test('a channel with a call in progress is skipped, the others are claimed', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const busy = await openTo(chain, alice)
    const free = await openTo(chain, bob)
    await pay.pay(alice, busy, 2)
    await pay.pay(bob, free, 2)
    const pending = await pay.begin(alice, busy)
    const { treasurer } = treasurerOf(store)

    const listed = rowOf((await treasurer.list()).channels, busy)
    expect(listed).toMatchObject({ busy: true, unclaimed: 2n * PRICE })
    const result = await treasurer.claimAll()
    expect(result.claimed.map((c) => c.channelId)).toEqual([free])
    expect(result.skipped).toEqual([
      { channelId: busy, reason: expect.stringMatching(/in progress/) },
    ])
    expect((await onChain(busy)).nonce).toBe(0n)
    expect(await store.get(busy)).toMatchObject({ nonce: 0n, authorised: 2n * PRICE })

    // Once answered, the call's payment is claimed with the rest.
    await store.commit(busy, pending.callId)
    const later = await treasurer.claim([busy])
    expect(later.claimed).toEqual([{ channelId: busy, nonce: 0n, amount: 3n * PRICE }])
  })

  test('asked for channels it cannot claim, it says why', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const empty = await openTo(chain, alice)
    const foreign = await openTo(chain, bob, { to: dev(7).address })
    const unknown = 1_000_000n
    const paid = await openTo(chain, carol)
    await pay.pay(carol, paid, 1)
    const { treasurer } = treasurerOf(store)
    const result = await treasurer.claim([empty, foreign, unknown, paid, paid])
    expect(result.claimed).toEqual([{ channelId: paid, nonce: 0n, amount: PRICE }])
    expect(result.skipped).toEqual([
      { channelId: empty, reason: 'nothing unclaimed' },
      { channelId: foreign, reason: expect.stringContaining(dev(7).address) },
      { channelId: unknown, reason: 'no such channel on chain' },
    ])
  })

  test('after a claim the next nonce pays at once, and is claimed later', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const id = await openTo(chain, alice)
    await pay.pay(alice, id, 3)
    const { treasurer } = treasurerOf(store)
    await treasurer.claim([id])

    const next = await pay.accept(alice, id)
    expect([next.nonce, next.authorised]).toEqual([1n, PRICE])
    await store.commit(id, (await store.begin(id, next)).callId)
    await pay.pay(alice, id, 1)
    const before = await balance()
    const result = await treasurer.claimAll()
    expect(result.claimed).toEqual([{ channelId: id, nonce: 1n, amount: 2n * PRICE }])
    expect(await balance()).toBe(before + 2n * PRICE)
    expect(await onChain(id)).toMatchObject({ nonce: 2n, value: 1_000n - 5n * PRICE })
  })

  test('reconcile finishes a claim the store started and the chain never saw', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const id = await openTo(chain, alice)
    const untouched = await openTo(chain, bob)
    await pay.pay(alice, id, 3)
    await pay.pay(bob, untouched, 1)
    // What a stop between the two steps of a claim leaves: the store at the next nonce.
    const started = await store.claimed(id, 1n, 1_000n - 3n * PRICE)
    expect(started?.amount).toBe(3n * PRICE)
    // Calls go on at the new nonce before the claim is final.
    const next = await pay.accept(alice, id)
    expect([next.nonce, next.authorised]).toEqual([1n, PRICE])
    await store.commit(id, (await store.begin(id, next)).callId)

    const { treasurer, changes } = treasurerOf(store)
    const row = rowOf((await treasurer.list()).channels, id)
    expect(row).toMatchObject({ chainNonce: 0n, nonce: 1n, authorised: PRICE })
    expect(row.claiming).toEqual({ nonce: 0n, amount: 3n * PRICE })
    expect(row.unclaimed).toBe(4n * PRICE)

    const before = await balance()
    const report = await treasurer.reconcile()
    expect(report).toEqual({
      finished: [{ channelId: id, nonce: 0n, amount: 3n * PRICE }],
      advanced: [],
    })
    expect(changes.flat()).toEqual([id])
    expect(await balance()).toBe(before + 3n * PRICE)
    expect((await onChain(id)).nonce).toBe(1n)
    expect((await onChain(untouched)).nonce).toBe(0n)
    const after = rowOf((await treasurer.list()).channels, id)
    expect(after).toMatchObject({ chainNonce: 1n, nonce: 1n, unclaimed: PRICE })
    expect(after.claiming).toBeUndefined()
    // Nothing left to reconcile; the nonce-1 payment is claimed as usual.
    expect(await treasurer.reconcile()).toEqual({ finished: [], advanced: [] })
    const result = await treasurer.claim([id])
    expect(result.claimed).toEqual([{ channelId: id, nonce: 1n, amount: PRICE }])
  })

  test('a claim started and not sent is finished by the next claim too', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const id = await openTo(chain, alice)
    await pay.pay(alice, id, 2)
    await store.claimed(id, 1n, 1_000n - 2n * PRICE)
    const { treasurer } = treasurerOf(store)
    const result = await treasurer.claimAll()
    expect(result.claimed).toEqual([{ channelId: id, nonce: 0n, amount: 2n * PRICE }])
    expect((await onChain(id)).nonce).toBe(1n)
  })

  test('reconcile follows the chain after the sender took an expired channel back', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const id = await openTo(chain, alice, { blocks: 20n })
    await pay.pay(alice, id, 2)
    await chain.mine(25)
    await channelClaimTimeout(chain.walletOf(alice), chain.client, chain.escrow, id)
    const { treasurer, changes } = treasurerOf(store)
    expect(rowOf((await treasurer.list()).channels, id)).toMatchObject({
      chainNonce: 1n,
      nonce: 0n,
      unclaimed: 0n,
    })
    // Its signed payment is spent: a claim refuses to start.
    const refused = await treasurer.claim([id])
    expect(refused.claimed).toEqual([])
    expect(refused.skipped[0]?.reason).toMatch(/reconcile/)

    const report = await treasurer.reconcile()
    expect(report).toEqual({ finished: [], advanced: [id] })
    expect(changes.flat()).toEqual([id])
    expect(await store.get(id)).toMatchObject({ nonce: 1n, authorised: 0n, value: 0n })
    expect(rowOf((await treasurer.list()).channels, id)).toMatchObject({
      chainNonce: 1n,
      nonce: 1n,
      value: 0n,
      unclaimed: 0n,
    })
    expect(await treasurer.reconcile()).toEqual({ finished: [], advanced: [] })
  })

  test('an expired channel the sender has not taken back is still claimed', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const id = await openTo(chain, alice, { blocks: 20n })
    await pay.pay(alice, id, 2)
    await chain.mine(25)
    const { treasurer } = treasurerOf(store)
    const row = rowOf((await treasurer.list()).channels, id)
    expect(row.blocksLeft).toBeLessThan(0n)
    const result = await treasurer.claimExpiring(0n)
    expect(result.claimed).toEqual([{ channelId: id, nonce: 0n, amount: 2n * PRICE }])
  })

  test('one refused claim does not sink the batch: it is skipped with the contract reason', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const good = await openTo(chain, alice, { blocks: 2_000n })
    const bad = await openTo(chain, bob, { blocks: 1_000n })
    await pay.pay(alice, good, 2)
    // A payment the escrow will refuse: signed by a key that is neither the signer nor the sender.
    const stranger = dev(9)
    const signature = await signClaim(stranger, chain.escrow, bad, 0n, PRICE)
    const forged = { channelId: bad, nonce: 0n, authorised: PRICE, signature, income: PRICE }
    await store.commit(
      bad,
      (await store.begin(bad, { ...forged, signedBy: stranger.address })).callId,
    )
    const before = await balance()
    const { treasurer } = treasurerOf(store)

    const result = await treasurer.claimAll()
    expect(result.claimed).toEqual([{ channelId: good, nonce: 0n, amount: 2n * PRICE }])
    expect(result.transactions).toHaveLength(1)
    expect(result.skipped).toEqual([
      { channelId: bad, reason: expect.stringContaining('InvalidSignature') },
    ])
    expect(await balance()).toBe(before + 2n * PRICE)
    expect((await onChain(bad)).nonce).toBe(0n)
  })
})

describeChain('treasurer routes and CLI output', () => {
  let accounts: ReturnType<typeof openAccounts>
  let operatorToken: string
  let otherToken: string

  beforeAll(async () => {
    chain = await startMpeChain({ payers: senders.map((s) => s.address) })
    unit = await unitOf(chain)
    dir = mkdtempSync(join(tmpdir(), 'rwa-treasurer-routes-'))
    accounts = openAccounts(join(dir, 'node'))
    operatorToken = accounts.create({ name: 'operator' }).token
    otherToken = accounts.create({ name: 'bob' }).token
  }, 60_000)
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close()
  })
  afterAll(async () => {
    await chain?.devnet.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  function appOf(store: PaymentStore) {
    const { treasurer } = treasurerOf(store)
    const group = createRouteGroup({ prefix: '/channel', accounts, bodyLimit: 64 * 1024 })
    addTreasurerRoutes(group, treasurer)
    const app = new Hono()
    app.onError((error, c) => {
      const { status, body } = errorResponse(error)
      return c.json(body, status as 400)
    })
    app.route(group.prefix, group.app)
    const call = (
      path: string,
      { token = operatorToken, body }: { token?: string; body?: unknown } = {},
    ) =>
      app.request(path, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          'content-type': 'application/json',
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      })
    return { treasurer, group, call, app }
  }

  test('GET /channel/channels: the operator gets the overview; others 401 or 403', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const id = await openTo(chain, alice)
    await pay.pay(alice, id, 3)
    const { treasurer, group, call } = appOf(store)

    expect((await call('/channel/channels', { token: '' })).status).toBe(401)
    const forbidden = await call('/channel/channels', { token: otherToken })
    expect(forbidden.status).toBe(403)
    expect(await forbidden.json()).toMatchObject({ error: 'ForbiddenError' })

    const response = await call('/channel/channels')
    expect(response.status).toBe(200)
    const json = (await response.json()) as { channels: { unclaimed: string }[] }
    expect(json.channels[0]?.unclaimed).toBe(`${3n * PRICE}`)
    expect(overviewFromWire(json)).toEqual(await treasurer.list())
    expect(group.docs.map((d) => `${d.method} ${d.path} ${d.tag} ${d.auth}`)).toEqual([
      'get /channel/channels channel true',
      'post /channel/claim channel true',
    ])
  })

  test('POST /channel/claim takes exactly one of channels, all, expiringWithin', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const a = await openTo(chain, alice, { blocks: 100n })
    const b = await openTo(chain, bob, { blocks: 3_000n })
    await pay.pay(alice, a, 2)
    await pay.pay(bob, b, 1)
    const { call } = appOf(store)

    for (const body of [
      {},
      { all: true, channels: [`${a}`] },
      { channels: ['12x'] },
      { channels: [] },
      { expiringWithin: -1 },
      { all: true, extra: 1 },
    ]) {
      const response = await call('/channel/claim', { body })
      expect(response.status, JSON.stringify(body)).toBe(400)
    }
    expect((await call('/channel/claim', { token: otherToken, body: { all: true } })).status).toBe(
      403,
    )

    const expiring = await call('/channel/claim', { body: { expiringWithin: 500 } })
    expect(expiring.status).toBe(200)
    const first = claimResultFromWire(await expiring.json())
    expect(first.claimed).toEqual([{ channelId: a, nonce: 0n, amount: 2n * PRICE }])

    const named = claimResultFromWire(
      await (await call('/channel/claim', { body: { channels: [`${b}`, `${a}`] } })).json(),
    )
    expect(named.claimed).toEqual([{ channelId: b, nonce: 0n, amount: PRICE }])
    expect(named.skipped).toEqual([{ channelId: a, reason: 'nothing unclaimed' }])
  })

  test('the CLI prints amounts in the token unit, countdowns and what a claim did', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const id = await openTo(chain, alice, { value: 2_000n, blocks: 300n })
    await pay.pay(alice, id, 4)
    const { treasurer } = treasurerOf(store)
    const overview = await treasurer.list()
    const row = rowOf(overview.channels, id)
    const text = formatOverview(overview)
    expect(text).toContain(`block ${overview.currentBlock}`)
    expect(text).toContain(`Unclaimed: ${formatAmount(4n * PRICE, unit)} in 1 channel.`)
    expect(text).toContain(`in ${row.blocksLeft} blocks`)
    expect(text).toContain(formatAmount(2_000n, unit))
    expect(formatOverview({ ...overview, channels: [] })).toContain(
      'No channels pay this service yet.',
    )
    const expired = formatOverview({ ...overview, channels: [{ ...row, blocksLeft: -3n }] })
    expect(expired).toContain(`block ${row.expiration}, expired`)

    const result = await treasurer.claimAll()
    const printed = formatClaimResult(
      { ...result, skipped: [{ channelId: 99n, reason: 'nothing unclaimed' }] },
      unit,
    )
    expect(printed).toContain(
      `Claimed ${formatAmount(4n * PRICE, unit)} from 1 channel in 1 transaction:`,
    )
    expect(printed).toContain(`tx ${result.transactions[0]?.tx}`)
    expect(printed).toContain(`channel ${id} at nonce 0: ${formatAmount(4n * PRICE, unit)}`)
    expect(printed).toContain('channel 99: nothing unclaimed')
    expect(formatClaimResult({ claimed: [], transactions: [], skipped: [] }, unit)).toBe(
      'Nothing claimed.',
    )
  })

  test('rwa treasurer list and claim-expiring talk to the node over HTTP with the operator token', async () => {
    const store = newStore()
    const pay = paymentsOn(chain, store)
    const id = await openTo(chain, alice, { blocks: 100n })
    await pay.pay(alice, id, 2)
    // The node's app: the treasurer routes, and the service's terms the CLI reads the unit from.
    const { app } = appOf(store)
    app.get('/channel', (c) => c.json({ token: unit }))
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const tokenFile = join(dir, 'operator.token')
    writeFileSync(tokenFile, `${operatorToken}\n`)
    const rwa = async (...args: string[]) => {
      const program = new Command('rwa').exitOverride().configureOutput({
        writeOut: () => {},
        writeErr: () => {},
      })
      addTreasurerCommands(program)
      const printed: string[] = []
      const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
        printed.push(parts.map(String).join(' '))
      })
      try {
        await program.parseAsync(['treasurer', ...args, '--node', url, '--token', tokenFile], {
          from: 'user',
        })
      } finally {
        log.mockRestore()
      }
      return printed.join('\n')
    }
    try {
      const listed = await rwa('list')
      expect(listed).toContain(`Unclaimed: ${formatAmount(2n * PRICE, unit)} in 1 channel.`)
      const json = JSON.parse(await rwa('list', '--json')) as { channels: { channelId: string }[] }
      expect(json.channels.map((c) => c.channelId)).toEqual([`${id}`])
      const claimed = await rwa('claim-expiring', '--within', '500')
      expect(claimed).toContain(`channel ${id} at nonce 0: ${formatAmount(2n * PRICE, unit)}`)
      expect(await rwa('claim-all')).toBe('Nothing claimed.')
      await expect(rwa('claim', 'x1')).rejects.toThrow(/not a channel id/)
      await expect(rwa('claim-expiring', '--within', '-5')).rejects.toThrow(
        /not a number of blocks/,
      )
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
