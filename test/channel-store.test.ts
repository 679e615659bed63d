import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { Address, Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import { signClaim } from '../src/core/channel/claim.ts'
import {
  type AcceptedPayment,
  type ChannelPayment,
  type ChannelView,
  checkPayment,
  type PaymentContext,
} from '../src/core/channel/payment.ts'
import {
  WrongChannelNonceError,
  WrongPaymentAmountError,
} from '../src/core/channel/payment-errors.ts'
import {
  createChannelMutex,
  PaymentPendingError,
  type PaymentStore,
  PaymentStoreCorruptError,
  PaymentStoreOpenError,
  type StoredChannel,
  sqlitePaymentStore,
  UnknownPaymentCallError,
} from '../src/domains/channel/payment-store.ts'
import { errorResponse } from '../src/http/errors.ts'

// Well-known public development keys (anvil #0, #2, #3); never real keys.
const sender = privateKeyToAccount(
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
)
const service = privateKeyToAccount(
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
)
const stranger = privateKeyToAccount(
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
)
// The escrow and channel of the fixture child (test/fixtures/channel-store-child.ts).
const ESCROW: Address = '0x5e592F9b1d303183d963635f895f0f0C48284f4e'
const OTHER_ESCROW: Address = '0x1111111111111111111111111111111111111111'
const PRICE = 10n
const CTX: PaymentContext = {
  escrow: ESCROW,
  recipient: service.address,
  currentBlock: 1_000n,
  expirationThreshold: 100n,
  price: PRICE,
}
const CHAIN: ChannelView = {
  channelId: 42n,
  nonce: 0n,
  sender: sender.address,
  signer: sender.address,
  recipient: service.address,
  groupId: `0x${'07'.padStart(64, '0')}`,
  value: 10_000n,
  expiration: 2_000n,
  authorised: 0n,
}
const child = join(import.meta.dirname, 'fixtures', 'channel-store-child.ts')

/** The gateway's view of a channel: the chain's fields with the store's nonce and amount. */
function viewOf(stored: StoredChannel | undefined, channelId = 42n): ChannelView {
  return {
    ...CHAIN,
    channelId,
    nonce: stored?.nonce ?? 0n,
    authorised: stored?.authorised ?? 0n,
    ...(stored?.signature && { signature: stored.signature }),
  }
}

async function pay(amount: bigint, { channelId = 42n, nonce = 0n } = {}): Promise<ChannelPayment> {
  const signature = await signClaim(sender, ESCROW, channelId, nonce, amount)
  return { channelId, nonce, amount, signature }
}

/** Checks the next payment (price over what the store authorised) against the store's state. */
async function accept(store: PaymentStore, channelId = 42n): Promise<AcceptedPayment> {
  const view = viewOf(await store.get(channelId), channelId)
  const payment = await pay(view.authorised + PRICE, { channelId, nonce: view.nonce })
  return checkPayment(payment, view, CTX)
}

/** Runs `fn` and returns what it threw; fails the test when it throws nothing. */
async function refusal(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a refusal, got none')
}

type ChildPayment = { mode: string; callId: string; nonce: string; amount: string; signature: Hex }

/** Runs the fixture child until it prints its payment, then SIGKILLs it. */
function runAndKill(path: string, mode: 'pending' | 'committed'): Promise<ChildPayment> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, path, mode], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    let printed: ChildPayment | undefined
    const guard = setTimeout(() => proc.kill('SIGKILL'), 60_000)
    proc.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const line = stdout.split('\n')[0]
      if (printed || !stdout.includes('\n') || line === undefined) return
      printed = JSON.parse(line) as ChildPayment
      proc.kill('SIGKILL')
    })
    proc.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    proc.on('exit', (code, signal) => {
      clearTimeout(guard)
      if (signal === 'SIGKILL' && printed) resolve(printed)
      else reject(new Error(`child ended with ${code ?? signal} before it was killed: ${stderr}`))
    })
  })
}

let dir: string
let path: string
const opened: PaymentStore[] = []
function open(): PaymentStore {
  const store = sqlitePaymentStore({ path, escrow: ESCROW })
  opened.push(store)
  return store
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'rwa-channel-store-'))
  path = join(dir, 'channels.sqlite')
})
afterEach(async () => {
  for (const store of opened.splice(0)) await store.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('sqlitePaymentStore: begin, commit, abort', () => {
  test('a committed payment is the authorised amount and signature, durably', async () => {
    const store = open()
    const accepted = await accept(store)
    const pending = await store.begin(42n, accepted)
    expect((await store.get(42n))?.pending).toEqual(pending)
    expect((await store.get(42n))?.authorised).toBe(0n)
    const after = await store.commit(42n, pending.callId)
    expect(after).toMatchObject({ nonce: 0n, authorised: PRICE, signature: accepted.signature })
    expect(after.pending).toBeUndefined()
    await store.close()
    const again = open()
    expect(await again.get(42n)).toEqual(after)
    expect((await accept(again)).authorised).toBe(2n * PRICE)
  })

  test('an aborted call charges nothing: the next call pays the same amount', async () => {
    const store = open()
    await store.commit(42n, (await store.begin(42n, await accept(store))).callId)
    const failed = await accept(store)
    const pending = await store.begin(42n, failed)
    const after = await store.abort(42n, pending.callId)
    expect(after?.authorised).toBe(PRICE)
    expect(after?.pending).toBeUndefined()
    expect((await accept(store)).authorised).toBe(failed.authorised)
  })

  test('a second call on a pending channel is refused with 409, other channels are not', async () => {
    const store = open()
    const first = await accept(store)
    const second = await accept(store)
    const pending = await store.begin(42n, first)
    const error = await refusal(() => store.begin(42n, second))
    expect(error).toBeInstanceOf(PaymentPendingError)
    expect(errorResponse(error).status).toBe(409)
    await store.begin(7n, await accept(store, 7n))
    expect((await store.get(7n))?.pending?.amount).toBe(PRICE)
    await store.commit(42n, pending.callId)
    // The second was checked against the old state: once the first is committed it adds nothing.
    expect(await refusal(() => store.begin(42n, second))).toBeInstanceOf(WrongPaymentAmountError)
  })

  test('commit and abort of a call that did not begin are refused and change nothing', async () => {
    const store = open()
    const pending = await store.begin(42n, await accept(store))
    expect(await refusal(() => store.commit(42n, 'not-the-call'))).toBeInstanceOf(
      UnknownPaymentCallError,
    )
    expect(await refusal(() => store.abort(9n, pending.callId))).toBeInstanceOf(
      UnknownPaymentCallError,
    )
    expect((await store.get(42n))?.pending).toEqual(pending)
  })

  test('a payment for another nonce or channel than stored is refused', async () => {
    const store = open()
    await store.commit(42n, (await store.begin(42n, await accept(store))).callId)
    const accepted = await accept(store)
    const wrongNonce = { ...accepted, nonce: 1n }
    expect(await refusal(() => store.begin(42n, wrongNonce))).toBeInstanceOf(WrongChannelNonceError)
    expect(await refusal(() => store.begin(43n, accepted))).toBeInstanceOf(WrongChannelNonceError)
  })
})

describe('createChannelMutex', () => {
  test('concurrent paid calls on one channel queue and each pays exactly the price', async () => {
    const store = open()
    const mutex = createChannelMutex()
    const order: number[] = []
    const call = (i: number) =>
      mutex.run(42n, async () => {
        const pending = await store.begin(42n, await accept(store))
        await new Promise((resolve) => setTimeout(resolve, 5))
        order.push(i)
        return store.commit(42n, pending.callId)
      })
    const results = await Promise.all([0, 1, 2, 3, 4].map(call))
    expect(order).toEqual([0, 1, 2, 3, 4])
    expect(results.map((r) => r.authorised)).toEqual([10n, 20n, 30n, 40n, 50n])
    expect(mutex.queued(42n)).toBe(0)
  })

  test('without it the same concurrent calls are refused, not double-counted', async () => {
    const store = open()
    const accepted = await Promise.all([0, 1, 2].map(() => accept(store)))
    const outcomes = await Promise.allSettled(accepted.map((a) => store.begin(42n, a)))
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
    for (const o of outcomes.filter((o) => o.status === 'rejected'))
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(PaymentPendingError)
  })

  test('a failed call frees the channel for the next, and a full queue is refused', async () => {
    const mutex = createChannelMutex({ maxQueue: 2 })
    let release!: () => void
    const blocked = mutex.run(1n, () => new Promise<void>((r) => (release = r)))
    const failing = mutex.run(1n, async () => {
      throw new Error('upstream failed')
    })
    expect(await refusal(() => mutex.run(1n, async () => 'third'))).toBeInstanceOf(
      PaymentPendingError,
    )
    expect(await mutex.run(2n, async () => 'other channel')).toBe('other channel')
    release()
    await blocked
    expect((await refusal(() => failing)).message).toBe('upstream failed')
    expect(await mutex.run(1n, async () => 'after')).toBe('after')
  })
})

describe('replays and claims', () => {
  test('a committed payment is served once more for free until its answer is delivered', async () => {
    const store = open()
    const accepted = await accept(store)
    const payment = { ...accepted, amount: accepted.authorised }
    const pending = await store.begin(42n, accepted)
    expect(await store.isReplay(42n, payment)).toBe(false) // pending: not committed yet
    await store.commit(42n, pending.callId)
    expect(await store.isReplay(42n, payment)).toBe(true)
    expect(await store.isReplay(42n, { ...payment, amount: PRICE + 1n })).toBe(false)
    await store.delivered(42n, pending.callId)
    expect(await store.takeReplay(42n, payment)).toBe(false)
    expect(await refusal(() => store.delivered(42n, 'other'))).toBeInstanceOf(
      UnknownPaymentCallError,
    )
  })

  test('a new call withdraws the free retry of the one before', async () => {
    const store = open()
    const first = await accept(store)
    await store.commit(42n, (await store.begin(42n, first)).callId)
    await store.begin(42n, await accept(store))
    expect(await store.isReplay(42n, { ...first, amount: first.authorised })).toBe(false)
  })

  test('a claim moves the nonce, resets the amount and keeps the old payment', async () => {
    const store = open()
    const accepted = await accept(store)
    await store.commit(42n, (await store.begin(42n, accepted)).callId)
    const pending = await store.begin(42n, await accept(store))
    expect(await refusal(() => store.claimed(42n, 1n, 9_980n))).toBeInstanceOf(PaymentPendingError)
    const committed = await store.commit(42n, pending.callId)
    const previous = await store.claimed(42n, 1n, 10_000n - committed.authorised)
    expect(previous).toEqual({ nonce: 0n, amount: 20n, signature: committed.signature })
    const after = await store.get(42n)
    expect(after).toMatchObject({ nonce: 1n, authorised: 0n, value: 9_980n, replays: 0, previous })
    expect(after?.signature).toBeUndefined()
    const next = await accept(store)
    expect([next.nonce, next.authorised]).toEqual([1n, PRICE])
    await store.begin(42n, next)
    expect(await refusal(() => store.claimed(42n, 1n, 0n))).toBeInstanceOf(PaymentPendingError)
    expect(await refusal(() => store.claimed(8n, -1n, 0n))).toBeInstanceOf(WrongChannelNonceError)
  })
})

describe('crash recovery (SIGKILL of a child process)', () => {
  test('killed before the commit: recovered, one free retry, then the price over it', async () => {
    const first = await runAndKill(path, 'committed')
    const killed = await runAndKill(path, 'pending')
    expect(killed.amount).toBe(`${2n * PRICE}`)
    const store = open()
    const left = await store.get(42n)
    expect(left?.authorised).toBe(PRICE)
    expect(left?.pending).toMatchObject({ callId: killed.callId, amount: 2n * PRICE })
    const report = await store.recover()
    expect(report.refused).toEqual([])
    expect(report.committed.map((p) => [p.callId, p.amount])).toEqual([[killed.callId, 20n]])
    const recovered = await store.get(42n)
    expect(recovered).toMatchObject({ authorised: 20n, signature: killed.signature, replays: 1 })
    expect(recovered?.pending).toBeUndefined()
    expect(first.callId).not.toBe(killed.callId)

    const retry: ChannelPayment = {
      channelId: 42n,
      nonce: 0n,
      amount: 2n * PRICE,
      signature: killed.signature,
    }
    expect(await store.takeReplay(42n, retry)).toBe(true)
    expect(await store.takeReplay(42n, retry)).toBe(false)
    // Past its free retry the same payment is what checkPayment refuses: it adds nothing.
    const view = viewOf(await store.get(42n))
    expect(await refusal(() => checkPayment(retry, view, CTX))).toBeInstanceOf(
      WrongPaymentAmountError,
    )
    expect(await refusal(async () => checkPayment(await pay(40n), view, CTX))).toBeInstanceOf(
      WrongPaymentAmountError,
    )
    const next = await checkPayment(await pay(30n), view, CTX)
    expect(next.authorised).toBe(30n)
    expect((await store.recover()).committed).toEqual([])
  }, 120_000)

  test('killed after the commit: nothing lost, nothing pending', async () => {
    const killed = await runAndKill(path, 'committed')
    const store = open()
    expect(await store.recover()).toEqual({ committed: [], refused: [] })
    const stored = await store.get(42n)
    expect(stored).toMatchObject({ nonce: 0n, authorised: PRICE, signature: killed.signature })
    expect(stored?.pending).toBeUndefined()
    // Its answer may not have reached the client: the same payment is served once more.
    const retry = await pay(PRICE)
    expect(retry.signature).toBe(killed.signature)
    expect(await store.takeReplay(42n, retry)).toBe(true)
    expect((await accept(store)).authorised).toBe(2n * PRICE)
  }, 120_000)
})

describe('corrupt and foreign rows', () => {
  /** Runs SQL on the store's file behind its back, as a disk fault or a stray tool would. */
  function tamper(sql: string, ...params: unknown[]): void {
    const db = new Database(path)
    db.prepare(sql).run(...params)
    db.close()
  }

  async function seeded(): Promise<PaymentStore> {
    const store = open()
    await store.commit(42n, (await store.begin(42n, await accept(store))).callId)
    await store.begin(7n, await accept(store, 7n))
    return store
  }

  test('a row that does not read is refused with a clear error, other channels still serve', async () => {
    const store = await seeded()
    tamper("UPDATE channels SET authorised = 'ten' WHERE id = '42'")
    const error = await refusal(() => store.get(42n))
    expect(error).toBeInstanceOf(PaymentStoreCorruptError)
    expect((error as PaymentStoreCorruptError).shortMessage).toBe(
      'The stored state of channel "42" has "ten" as authorised, not a uint256; restore it from a backup or the chain before serving it.',
    )
    const next = { ...(await accept(store, 9n)), channelId: 42n }
    expect(await refusal(() => store.begin(42n, next))).toBeInstanceOf(PaymentStoreCorruptError)
    expect(await refusal(() => store.list())).toBeInstanceOf(PaymentStoreCorruptError)
    const report = await store.recover()
    expect(report.refused.map((e) => e.row)).toEqual(['42'])
    expect(report.committed.map((p) => p.channelId)).toEqual([7n])
  })

  test('a row of another escrow is refused as foreign', async () => {
    const store = await seeded()
    tamper("UPDATE channels SET escrow = ? WHERE id = '7'", OTHER_ESCROW)
    const error = await refusal(() => store.get(7n))
    expect(error).toBeInstanceOf(PaymentStoreCorruptError)
    expect(error.message).toContain(`belongs to escrow "${OTHER_ESCROW}"`)
    const report = await store.recover()
    expect(report.refused.map((e) => e.row)).toEqual(['7'])
    expect(report.committed).toEqual([])
  })

  test('a pending payment whose signature is not by its recorded signer is not committed', async () => {
    const store = await seeded()
    tamper("UPDATE channels SET pending_signed_by = ? WHERE id = '7'", stranger.address)
    const report = await store.recover()
    expect(report.committed).toEqual([])
    expect(report.refused[0]?.message).toContain(`not by "${stranger.address}" as recorded`)
    // Left as it was, for an operator: neither committed nor dropped.
    expect((await store.get(7n))?.pending?.signedBy).toBe(stranger.address)
    expect((await store.get(7n))?.authorised).toBe(0n)
  })

  test('an oversized or non-text value is refused, not parsed', async () => {
    const store = await seeded()
    tamper("UPDATE channels SET nonce = ? WHERE id = '42'", '9'.repeat(100_000))
    tamper("UPDATE channels SET replays = 'x' WHERE id = '7'")
    expect((await refusal(() => store.get(42n))).message).toContain('as nonce, not a uint256')
    expect((await refusal(() => store.get(7n))).message).toContain('free retries, not 0 or 1')
  })

  test('a store of another schema version is not opened', async () => {
    await (await seeded()).close()
    tamper("UPDATE meta SET value = '99' WHERE key = 'schema'")
    const error = await refusal(async () => open())
    expect(error).toBeInstanceOf(PaymentStoreOpenError)
    expect(error.message).toContain('schema version "99" is not "1"')
  })
})
