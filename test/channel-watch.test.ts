import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest'
import { readMpeBalance } from '../src/chain/mpe.ts'
import type { TokenUnit } from '../src/core/amount.ts'
import { type PaymentStore, sqlitePaymentStore } from '../src/domains/channel/payment-store.ts'
import { createTreasurer } from '../src/domains/channel/treasurer.ts'
import type { Treasurer } from '../src/domains/channel/types.ts'
import { createChannelWatch } from '../src/domains/channel/watch.ts'
import { createNodeMetrics, type NodeMetrics } from '../src/node/metrics.ts'
import {
  capturedLogger,
  openTo,
  PRICE,
  paymentsOn,
  recipient,
  senders,
  unitOf,
} from './fixtures/channel-treasury.ts'
import { hasAnvil } from './fixtures/escrow-chain.ts'
import { type MpeChain, startMpeChain } from './fixtures/mpe-chain.ts'

// The channel watch on anvil: a channel with money unclaimed is warned of once per nonce when it
// comes within the warning distance of its expiry, and claimed within the claim distance.

const [alice, bob] = senders
const describeChain = hasAnvil() ? describe : describe.skip

let chain: MpeChain
let unit: TokenUnit
const stores: PaymentStore[] = []

function setUp({ autoClaim = true } = {}) {
  const store = sqlitePaymentStore({ path: ':memory:', escrow: chain.escrow })
  stores.push(store)
  const log = capturedLogger()
  const treasurer = createTreasurer({
    store,
    client: chain.client,
    wallet: chain.walletOf(recipient),
    escrow: chain.escrow,
    token: unit,
    logger: log.logger,
  })
  const metrics = createNodeMetrics({
    ledger: () => undefined,
    indexes: () => new Map(),
    replicator: () => undefined,
    chain: () => undefined,
  })
  const watchOf = (t: Treasurer = treasurer) =>
    createChannelWatch({
      treasurer: t,
      logger: log.logger,
      intervalMs: 60_000,
      warnBlocks: 200n,
      claimBlocks: 50n,
      autoClaim,
      metrics: metrics.forDomain('channel'),
    })
  return { store, pay: paymentsOn(chain, store), treasurer, watchOf, metrics, log }
}

/** A metric's value in the node's Prometheus text, or undefined when it has no such line. */
async function metric(metrics: NodeMetrics, line: string): Promise<number | undefined> {
  const { text } = await metrics.render()
  const found = text.split('\n').find((l) => l.startsWith(`${line} `))
  return found === undefined ? undefined : Number(found.slice(line.length + 1))
}

/** Mines until the channel is `left` blocks from its expiry. */
async function mineTo(treasurer: Treasurer, channelId: bigint, left: bigint): Promise<void> {
  const row = (await treasurer.list()).channels.find((r) => r.channelId === channelId)
  if (!row || row.blocksLeft < left) throw new Error(`channel ${channelId} is past ${left}`)
  if (row.blocksLeft > left) await chain.mine(Number(row.blocksLeft - left))
}

const balance = () => readMpeBalance(chain.client, chain.escrow, recipient.address)

describeChain('channel watch', () => {
  beforeAll(async () => {
    chain = await startMpeChain({ payers: senders.map((s) => s.address) })
    unit = await unitOf(chain)
  }, 60_000)
  afterEach(async () => {
    for (const store of stores.splice(0)) await store.close()
  })
  afterAll(async () => {
    await chain?.devnet.stop()
  })

  test('warns once per channel and nonce within warn_blocks, and claims within claim_blocks', async () => {
    const { pay, treasurer, watchOf, metrics, log } = setUp()
    const id = await openTo(chain, alice, { blocks: 400n })
    const far = await openTo(chain, bob, { blocks: 5_000n })
    await pay.pay(alice, id, 3)
    await pay.pay(bob, far, 1)
    const watch = watchOf()

    const quiet = await watch.check()
    expect(quiet).toEqual({ warned: [], claimed: undefined })
    expect(log.warnings()).toEqual([])
    expect(await metric(metrics, 'rwa_channel_unclaimed')).toBe(4 * Number(PRICE))
    expect(await metric(metrics, 'rwa_channel_expiring_channels')).toBe(0)

    await mineTo(treasurer, id, 150n)
    const warned = await watch.check()
    expect(warned.warned.map((r) => [r.channelId, r.blocksLeft, r.unclaimed])).toEqual([
      [id, 150n, 3n * PRICE],
    ])
    expect(warned.claimed).toBeUndefined()
    expect(log.warnings()).toHaveLength(1)
    expect(log.warnings()[0]).toMatchObject({ channel: `${id}`, unclaimed: `${3n * PRICE}` })
    expect(await metric(metrics, 'rwa_channel_expiring_channels')).toBe(1)
    // The next look still lists it, and does not log it again.
    expect((await watch.check()).warned.map((r) => r.channelId)).toEqual([id])
    expect(log.warnings()).toHaveLength(1)

    await mineTo(treasurer, id, 40n)
    const before = await balance()
    const claimed = await watch.check()
    expect(claimed.claimed?.claimed).toEqual([{ channelId: id, nonce: 0n, amount: 3n * PRICE }])
    expect(await balance()).toBe(before + 3n * PRICE)
    expect(await metric(metrics, 'rwa_channel_auto_claims_total{outcome="claimed"}')).toBe(1)
    expect(log.warnings()).toHaveLength(1)

    // Claimed: nothing to warn of, until a new payment at the next nonce.
    expect(await watch.check()).toEqual({ warned: [], claimed: undefined })
    expect(await metric(metrics, 'rwa_channel_expiring_channels')).toBe(0)
    expect(await metric(metrics, 'rwa_channel_unclaimed')).toBe(Number(PRICE))
    await pay.pay(alice, id, 1)
    const again = await watch.check()
    expect(log.warnings()).toHaveLength(2)
    expect(again.claimed?.claimed).toEqual([{ channelId: id, nonce: 1n, amount: PRICE }])
    expect(await metric(metrics, 'rwa_channel_auto_claims_total{outcome="claimed"}')).toBe(2)
  })

  test('with auto_claim off it only warns, even close to expiry', async () => {
    const { pay, treasurer, watchOf, log } = setUp({ autoClaim: false })
    const id = await openTo(chain, alice, { blocks: 300n })
    await pay.pay(alice, id, 2)
    await mineTo(treasurer, id, 10n)
    const report = await watchOf().check()
    expect(report.warned.map((r) => r.channelId)).toEqual([id])
    expect(report.claimed).toBeUndefined()
    expect(log.warnings()).toHaveLength(1)
    expect((await treasurer.list()).channels[0]).toMatchObject({ chainNonce: 0n, unclaimed: 20n })
  })

  test('a channel with a call in progress near expiry is skipped and counted', async () => {
    const { pay, treasurer, watchOf, metrics } = setUp()
    const id = await openTo(chain, alice, { blocks: 300n })
    await pay.pay(alice, id, 2)
    await pay.begin(alice, id)
    await mineTo(treasurer, id, 30n)
    const report = await watchOf().check()
    expect(report.claimed?.claimed).toEqual([])
    expect(report.claimed?.skipped.map((s) => s.channelId)).toEqual([id])
    expect(await metric(metrics, 'rwa_channel_auto_claims_total{outcome="skipped"}')).toBe(1)
  })

  test('start looks at once and every interval; after stop it looks no more', async () => {
    const { pay, treasurer, metrics, log } = setUp()
    const id = await openTo(chain, alice, { blocks: 300n })
    await pay.pay(alice, id, 1)
    await mineTo(treasurer, id, 100n)
    let looks = 0
    const counting: Treasurer = {
      ...treasurer,
      list: () => {
        looks += 1
        return treasurer.list()
      },
    }
    const watch = createChannelWatch({
      treasurer: counting,
      logger: log.logger,
      intervalMs: 200,
      warnBlocks: 200n,
      claimBlocks: 50n,
      autoClaim: true,
      metrics: metrics.forDomain('channel'),
    })
    expect(watch.name).toBe('channel.watch')
    await watch.start({ signal: new AbortController().signal })
    await vi.waitFor(() => expect(looks).toBeGreaterThanOrEqual(2), { timeout: 20_000 })
    await watch.stop({ signal: AbortSignal.timeout(10_000) })
    const stopped = looks
    expect(log.warnings().filter((w) => w.channel === `${id}`)).toHaveLength(1)
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(looks).toBe(stopped)
  })

  test('refuses options it cannot use', () => {
    const { treasurer, metrics, log } = setUp()
    const base = {
      treasurer,
      logger: log.logger,
      warnBlocks: 200n,
      claimBlocks: 50n,
      autoClaim: true,
      metrics: metrics.forDomain('channel'),
    }
    expect(() => createChannelWatch({ ...base, intervalMs: 0 })).toThrow(/watch_interval_ms/)
    expect(() => createChannelWatch({ ...base, intervalMs: 1000, warnBlocks: -1n })).toThrow(
      /warn_blocks/,
    )
  })
})
