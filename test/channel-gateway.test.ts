import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Hono } from 'hono'
import pino from 'pino'
import type { Address, Hex, PublicClient } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { testTokenAbi } from '../src/chain/artifacts.ts'
import type { Devnet } from '../src/chain/devnet.ts'
import type { Wallet } from '../src/chain/escrow.ts'
import {
  channelAddFunds,
  channelExtend,
  depositAndOpenChannel,
  mpeDeposit,
  readChannel,
} from '../src/chain/mpe.ts'
import { signClaim } from '../src/core/channel/claim.ts'
import {
  channelStateRequestMessage,
  formatPaymentHeaders,
  serviceStateMessage,
  verifyChannelStateReply,
} from '../src/core/channel/payment.ts'
import { createGateway } from '../src/domains/channel/gateway.ts'
import { sqlitePaymentStore } from '../src/domains/channel/payment-store.ts'
import { dev, devnetClients, hasAnvil } from './fixtures/escrow-chain.ts'
import { TestNode } from './node-fixture.ts'

// The paid-call gateway on a node with the devnet: a client opens a channel to the node's
// recipient and pays per call for a route of the node itself and for an upstream service behind
// the reverse proxy; every check of the spec refuses its case with a clear 4xx.

const PRICE = 10n
const OWN_PRICE = 3n

let node: TestNode
let upstream: Server
let upstreamCalls: { method: string; url: string; headers: Record<string, unknown>; body: string }[]
let terms: Record<string, unknown>

async function startUpstream(): Promise<Server> {
  upstreamCalls = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      upstreamCalls.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
      })
      if (req.url?.startsWith('/fail')) {
        res.writeHead(500, { 'content-type': 'text/plain' })
        return res.end('upstream broke')
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': 'echo' })
      res.end(JSON.stringify({ echo: body, path: req.url }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

const describeChain = hasAnvil() ? describe : describe.skip

describeChain('the paid-call gateway on a node', () => {
  beforeAll(async () => {
    upstream = await startUpstream()
    const port = (upstream.address() as AddressInfo).port
    node = await TestNode.startDevnet({
      extraConfig: [
        '[domains.channel]',
        'expiration_threshold = 5',
        // Every call reads the latest block: the test mines many blocks at once.
        'block_ttl_ms = 0',
        `prices = [{ route = "GET /status", price = ${OWN_PRICE} }]`,
        `upstreams = [{ name = "echo", url = "http://127.0.0.1:${port}", price = "${PRICE}" }]`,
      ].join('\n'),
    })
    const res = await fetch(`${node.url}/channel`)
    expect(res.status).toBe(200)
    terms = (await res.json()) as Record<string, unknown>
  }, 120_000)

  afterAll(async () => {
    await node?.stop()
    upstream?.close()
  })

  const clients = () => {
    const info = node.node.chain!.info
    return devnetClients({ chainId: info.chainId, rpcUrl: info.rpcUrl } as Devnet)
  }

  /** Mints test tokens to `account` and opens a channel from it to the node. */
  async function openFrom(
    i: number,
    {
      value = 10_000n,
      blocks = 1000n,
      recipient,
    }: { value?: bigint; blocks?: bigint; recipient?: Address } = {},
  ) {
    const chain = node.node.chain!
    const { client, walletOf } = clients()
    const account = dev(i)
    const mint = await chain.wallet.writeContract({
      address: chain.info.token!,
      abi: testTokenAbi,
      functionName: 'mint',
      args: [account.address, value],
    })
    await client.waitForTransactionReceipt({ hash: mint })
    await client.request({
      method: 'anvil_setBalance' as never,
      params: [account.address, '0x56bc75e2d63100000'] as never,
    })
    const block = await client.getBlockNumber({ cacheTime: 0 })
    const { channelId } = await depositAndOpenChannel(walletOf(account), client, chain.info.mpe!, {
      signer: account.address,
      recipient: recipient ?? (terms.recipient as Address),
      groupId: terms.groupId as Hex,
      value,
      expiration: block + blocks,
    })
    return { account, channelId, wallet: walletOf(account), client }
  }

  async function pay(
    account: ReturnType<typeof dev>,
    channelId: bigint,
    nonce: bigint,
    amount: bigint,
  ): Promise<Record<string, string>> {
    const signature = await signClaim(account, node.node.chain!.info.mpe!, channelId, nonce, amount)
    return formatPaymentHeaders({ channelId, nonce, amount, signature })
  }

  test('terms tell a client where and how to pay', () => {
    const info = node.node.chain!.info
    expect(terms).toMatchObject({
      escrow: info.mpe,
      recipient: info.signer,
      chainId: info.chainId,
      expirationThreshold: '5',
      prices: [{ route: 'GET /status', price: '3' }],
      upstreams: [{ name: 'echo', path: '/channel/call/echo', price: '10' }],
    })
    expect(terms.groupId).toMatch(/^0x[0-9a-f]{64}$/)
  })

  test('an unpaid call gets 402 with the price; free routes stay free', async () => {
    const res = await fetch(`${node.url}/channel/call/echo/hello`)
    expect(res.status).toBe(402)
    expect(res.headers.get('snet-payment-price')).toBe('10')
    const body = (await res.json()) as Record<string, string>
    expect(body).toMatchObject({ error: 'PaymentRequiredError', price: '10', terms: '/channel' })
    expect(body.message).toContain('snet-payment-channel-id')
    expect(upstreamCalls).toHaveLength(0)
    const own = await fetch(`${node.url}/status`)
    expect(own.status).toBe(402)
    expect(own.headers.get('snet-payment-price')).toBe('3')
    expect((await fetch(`${node.url}/ready`)).status).toBe(200)
  })

  test('100 paid calls through the proxy, then paid calls of an own route on the same channel', async () => {
    const { account, channelId } = await openFrom(1)
    for (let k = 1n; k <= 100n; k++) {
      const res = await fetch(`${node.url}/channel/call/echo/item/${k}?q=1`, {
        method: 'POST',
        headers: {
          ...(await pay(account, channelId, 0n, k * PRICE)),
          authorization: 'Bearer secret',
        },
        body: `call ${k}`,
      })
      expect(res.status).toBe(200)
      expect(res.headers.get('snet-payment-channel-amount')).toBe(String(k * PRICE))
      expect(res.headers.get('x-upstream')).toBe('echo')
      expect(await res.json()).toEqual({ echo: `call ${k}`, path: `/item/${k}?q=1` })
    }
    expect(upstreamCalls).toHaveLength(100)
    // Neither the node's credentials nor the payment travel upstream.
    for (const call of upstreamCalls) {
      expect(call.headers.authorization).toBeUndefined()
      expect(call.headers['snet-payment-channel-signature-bin']).toBeUndefined()
    }
    const own = await fetch(`${node.url}/status`, {
      headers: await pay(account, channelId, 0n, 100n * PRICE + OWN_PRICE),
    })
    expect(own.status).toBe(200)
    expect(((await own.json()) as { name: string }).name).toBe('n1')
    const stored = await node.node.channelGateway!.stored(channelId)
    expect(stored?.authorised).toBe(100n * PRICE + OWN_PRICE)
  })

  test('a failed upstream call is not charged', async () => {
    const { account, channelId } = await openFrom(2)
    const failed = await fetch(`${node.url}/channel/call/echo/fail`, {
      headers: await pay(account, channelId, 0n, PRICE),
    })
    expect(failed.status).toBe(500)
    // The same amount pays the next call: nothing was authorised by the failed one.
    const ok = await fetch(`${node.url}/channel/call/echo/ok`, {
      headers: await pay(account, channelId, 0n, PRICE),
    })
    expect(ok.status).toBe(200)
    expect((await node.node.channelGateway!.stored(channelId))?.authorised).toBe(PRICE)
  })

  test('each check of the spec refuses its case with a clear 4xx', async () => {
    const { account, channelId, wallet, client } = await openFrom(3, { value: 100n, blocks: 40n })
    const mpe = node.node.chain!.info.mpe!
    const call = async (headers: Record<string, string>) => {
      const res = await fetch(`${node.url}/channel/call/echo/x`, { headers })
      return { status: res.status, body: (await res.json()) as { error: string; message: string } }
    }
    // Unknown channel.
    let r = await call(await pay(account, 999_999n, 0n, PRICE))
    expect([r.status, r.body.error]).toEqual([404, 'UnknownChannelError'])
    // A channel to another recipient.
    const foreign = await openFrom(4, { recipient: dev(9).address })
    r = await call(await pay(foreign.account, foreign.channelId, 0n, PRICE))
    expect([r.status, r.body.error]).toEqual([403, 'ForeignChannelError'])
    // Wrong nonce.
    r = await call(await pay(account, channelId, 1n, PRICE))
    expect([r.status, r.body.error]).toEqual([409, 'WrongChannelNonceError'])
    expect(r.body.message).toContain('nonce "0"')
    // Signed by neither the signer nor the sender.
    const stranger = dev(8)
    const forged = await signClaim(stranger, mpe, channelId, 0n, PRICE)
    r = await call(formatPaymentHeaders({ channelId, nonce: 0n, amount: PRICE, signature: forged }))
    expect([r.status, r.body.error]).toEqual([401, 'PaymentSignerError'])
    // Over the channel's value.
    r = await call(await pay(account, channelId, 0n, 110n))
    expect([r.status, r.body.error]).toEqual([402, 'ChannelValueExceededError'])
    // An increment other than the price.
    r = await call(await pay(account, channelId, 0n, PRICE + 1n))
    expect([r.status, r.body.error]).toEqual([402, 'WrongPaymentAmountError'])
    expect(r.body.message).toContain('sign amount "10"')
    // Malformed headers.
    r = await call({
      ...(await pay(account, channelId, 0n, PRICE)),
      'snet-payment-channel-amount': '1e3',
    })
    expect([r.status, r.body.error]).toEqual([400, 'InvalidPaymentError'])
    // Adding funds lifts the value refusal at once (the gateway reads the chain again).
    const chain = node.node.chain!
    const mint = await chain.wallet.writeContract({
      address: chain.info.token!,
      abi: testTokenAbi,
      functionName: 'mint',
      args: [account.address, 50n],
    })
    await client.waitForTransactionReceipt({ hash: mint })
    await depositFor(wallet, client, mpe, 50n)
    await channelAddFunds(wallet, client, mpe, channelId, 50n)
    r = await call(await pay(account, channelId, 0n, 110n))
    expect([r.status, r.body.error]).toEqual([402, 'WrongPaymentAmountError'])
    // Too close to expiry: mine up to within the threshold.
    const opened = (await readChannel(client, mpe, channelId))!
    const left = opened.expiration - (await client.getBlockNumber({ cacheTime: 0 }))
    await client.request({
      method: 'anvil_mine' as never,
      params: [`0x${(left - 3n).toString(16)}`] as never,
    })
    r = await call(await pay(account, channelId, 0n, PRICE))
    expect([r.status, r.body.error]).toEqual([409, 'ChannelExpiringError'])
    expect(r.body.message).toContain('extend it past block')
    // Extending the channel lifts it.
    await channelExtend(wallet, client, mpe, channelId, opened.expiration + 1000n)
    r = await call(await pay(account, channelId, 0n, PRICE))
    expect(r.status).toBe(200)
  })

  test('concurrent paid calls: one channel serialises, many channels run side by side', async () => {
    // Opened one after another: the operator's wallet mints for each.
    const opened = []
    for (const i of [5, 6, 7]) opened.push(await openFrom(i))
    // Ten calls per channel, each channel's in order, the channels concurrently.
    await Promise.all(
      opened.map(async ({ account, channelId }) => {
        for (let k = 1n; k <= 10n; k++) {
          const res = await fetch(`${node.url}/channel/call/echo/c`, {
            headers: await pay(account, channelId, 0n, k * PRICE),
          })
          expect(res.status).toBe(200)
          await res.arrayBuffer()
        }
      }),
    )
    for (const { channelId } of opened)
      expect((await node.node.channelGateway!.stored(channelId))?.authorised).toBe(10n * PRICE)
    // The same payment sent five times at once on one channel is paid once: the others are
    // refused (the amount no longer adds the price) or wait for the answer being handed over.
    const { account, channelId } = opened[0]!
    const headers = await pay(account, channelId, 0n, 11n * PRICE)
    const answers = await Promise.all(
      Array.from({ length: 5 }, () => fetch(`${node.url}/channel/call/echo/dup`, { headers })),
    )
    const statuses = answers.map((a) => a.status).sort()
    expect(statuses.filter((s) => s === 200)).toHaveLength(1)
    expect(statuses.filter((s) => s === 402 || s === 409)).toHaveLength(4)
    expect((await node.node.channelGateway!.stored(channelId))?.authorised).toBe(11n * PRICE)
  })

  test('end to end: paidCall pays, the treasurer claims, calls go on at the next nonce, claim-all, the client recovers its state', async () => {
    const { account, channelId, client } = await openFrom(12)
    const { paidCall } = await import('../src/domains/channel/cli/paid-call.ts')
    const { memoryClientState } = await import('../src/domains/channel/cli/client-state.ts')
    const state = memoryClientState()
    const call = (path: string, s = state) =>
      paidCall({ url: `${node.url}${path}`, channelId, account, state: s })
    for (let k = 1n; k <= 5n; k++) {
      const r = await call('/channel/call/echo/e2e')
      expect(r.status).toBe(200)
      expect(r.paid?.amount).toBe(k * PRICE)
    }
    // The own route is priced too.
    expect((await call('/status')).paid?.amount).toBe(5n * PRICE + OWN_PRICE)
    const admin = node.operatorToken
    const claim = async (body: unknown) => {
      const res = await fetch(`${node.url}/channel/claim`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${admin}` },
        body: JSON.stringify(body),
      })
      expect(res.status).toBe(200)
      return (await res.json()) as {
        claimed: { channelId: string; nonce: string; amount: string }[]
      }
    }
    const mpe = node.node.chain!.info.mpe!
    const { readMpeBalance } = await import('../src/chain/mpe.ts')
    const before = await readMpeBalance(client, mpe, terms.recipient as Address)
    const first = await claim({ channels: [String(channelId)] })
    expect(first.claimed).toEqual([
      { channelId: String(channelId), nonce: '0', amount: String(5n * PRICE + OWN_PRICE) },
    ])
    expect(await readMpeBalance(client, mpe, terms.recipient as Address)).toBe(
      before + 5n * PRICE + OWN_PRICE,
    )
    // The client's next call is refused at nonce 0, recovers the state and pays at nonce 1.
    const next = await call('/channel/call/echo/after-claim')
    expect(next.status).toBe(200)
    expect(next.paid).toMatchObject({ nonce: 1n, amount: PRICE })
    expect((await readChannel(client, mpe, channelId))?.nonce).toBe(1n)
    // A client that lost everything recovers from the service and goes on.
    const fresh = await call('/channel/call/echo/stateless', memoryClientState())
    expect(fresh.paid).toMatchObject({ nonce: 1n, amount: 2n * PRICE })
    const all = await claim({ all: true })
    expect(all.claimed.find((c) => c.channelId === String(channelId))).toEqual({
      channelId: String(channelId),
      nonce: '1',
      amount: String(2n * PRICE),
    })
    expect((await readChannel(client, mpe, channelId))?.nonce).toBe(2n)
    // The treasurer's list: nothing left unclaimed on this channel.
    const listed = await fetch(`${node.url}/channel/channels`, {
      headers: { authorization: `Bearer ${admin}` },
    })
    const overview = (await listed.json()) as {
      channels: { channelId: string; unclaimed: string }[]
    }
    expect(overview.channels.find((c) => c.channelId === String(channelId))?.unclaimed).toBe('0')
  })

  test('a flood of unknown channel ids costs one chain read per block TTL, not reads per id', async () => {
    const chain = node.node.chain!
    const mpe = chain.info.mpe!
    let reads = 0
    const counting = new Proxy(chain.client, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver)
        if (typeof value !== 'function') return value
        if (key === 'readContract')
          return (...args: unknown[]) => {
            reads += 1
            return (value as (...a: unknown[]) => unknown).apply(target, args)
          }
        return value.bind(target)
      },
    })
    const store = sqlitePaymentStore({ path: ':memory:', escrow: mpe })
    const gateway = createGateway({
      store,
      client: counting,
      escrow: mpe,
      recipient: chain.info.signer,
      expirationThreshold: 5n,
      routes: [{ method: '*', path: '/x', price: PRICE }],
      logger: pino({ level: 'silent' }),
      blockTtlMs: 60_000,
    })
    const app = new Hono()
    app.use('*', gateway.middleware)
    app.get('/x', (c) => c.text('served'))
    const signature = await signClaim(dev(1), mpe, 1n, 0n, PRICE)
    for (let i = 0n; i < 200n; i++) {
      const res = await app.request('/x', {
        headers: formatPaymentHeaders({
          channelId: 1_000_000n + i,
          nonce: 0n,
          amount: PRICE,
          signature,
        }),
      })
      expect(res.status).toBe(404)
    }
    expect(reads).toBe(1)
    await store.close()
  })

  test('GetChannelState: a stateless client recovers what it signed, with the service signature', async () => {
    const { account, channelId, client } = await openFrom(10)
    for (let k = 1n; k <= 3n; k++)
      expect(
        (
          await fetch(`${node.url}/channel/call/echo/s`, {
            headers: await pay(account, channelId, 0n, k * PRICE),
          })
        ).status,
      ).toBe(200)
    const mpe = node.node.chain!.info.mpe!
    const block = await client.getBlockNumber({ cacheTime: 0 })
    const signature = await account.signMessage({
      message: { raw: channelStateRequestMessage(mpe, channelId, block) },
    })
    const res = await fetch(`${node.url}/channel/state`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        channelId: String(channelId),
        currentBlock: String(block),
        signature,
      }),
    })
    expect(res.status).toBe(200)
    const reply = (await res.json()) as Record<string, string>
    expect(reply).toMatchObject({ currentNonce: '0', currentSignedAmount: '30' })
    const authorised = await verifyChannelStateReply(
      {
        currentNonce: BigInt(reply.currentNonce!),
        currentSignedAmount: BigInt(reply.currentSignedAmount!),
        currentSignature: reply.currentSignature as Hex,
      },
      { channelId, signer: account.address, sender: account.address },
      mpe,
    )
    expect(authorised).toBe(30n)
    const { recoverMessageAddress } = await import('viem')
    const by = await recoverMessageAddress({
      message: { raw: serviceStateMessage(mpe, channelId, 0n, 30n) },
      signature: reply.serviceSignature as Hex,
    })
    expect(by).toBe(terms.recipient)
    // A stranger may not read it.
    const other = await dev(11).signMessage({
      message: { raw: channelStateRequestMessage(mpe, channelId, block) },
    })
    const refused = await fetch(`${node.url}/channel/state`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        channelId: String(channelId),
        currentBlock: String(block),
        signature: other,
      }),
    })
    expect(refused.status).toBe(401)
  })
})

/** Approves and deposits `amount` into the escrow for the wallet's account. */
async function depositFor(wallet: Wallet, client: PublicClient, mpe: Address, amount: bigint) {
  await mpeDeposit(wallet, client, mpe, amount)
}
