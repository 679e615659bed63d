import '../src/net/polyfill.ts'
import { readFileSync } from 'node:fs'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { signCheque } from '../src/core/swap/cheque.ts'
import { decodeSwapAnswer, encodeSwap, SWAP_PROTOCOL } from '../src/core/swap/protocol.ts'
import { MOCK_CHAIN_ID } from '../src/domains/swap/book.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { addressOf, peerOf, type SwapTestNode, swapCluster } from './fixtures/swap-nodes.ts'

// A stranger speaking `/rwa/swap/1` and calling the `/swap` routes with junk: the node neither
// crashes nor stores anything, answers clearly, and keeps serving honest peers.

let cluster: ReturnType<typeof swapCluster>
let node: SwapTestNode
let mallory: Libp2p

beforeAll(async () => {
  cluster = swapCluster()
  node = await cluster.start('victim', { mode: 'mock', payment_threshold: 1000, refresh_rate: 0 })
  mallory = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
  })
  await mallory.dial(multiaddr(addressOf(node.node)))
}, 60_000)
afterAll(async () => {
  await mallory?.stop()
  await cluster?.close()
})

/** Sends raw bytes (length-prefixed) on a new swap stream; the answer's bytes, or the error. */
async function raw(bytes: Uint8Array, maxDataLength = 1 << 20): Promise<Uint8Array | Error> {
  const stream = await mallory.dialProtocol(node.node.replicator!.node.peerId, SWAP_PROTOCOL)
  const lp = lpStream(stream, { maxDataLength })
  try {
    await lp.write(bytes)
    return (await lp.read({ signal: AbortSignal.timeout(15_000) })).subarray()
  } catch (error) {
    return error as Error
  } finally {
    stream.abort(new Error('done'))
  }
}

const json = (value: unknown) =>
  new TextEncoder().encode(
    JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  )

describe('hostile peers on /rwa/swap/1', () => {
  test('junk, oversized and malformed messages get no answer and store nothing', async () => {
    for (const junk of [
      new Uint8Array([1, 2, 3]),
      new Uint8Array(8192).fill(0x7b),
      json({ t: 'hello', terms: { mode: 'hard' } }),
      json({ t: 'cheque', cheque: { chequebook: '0x12' } }),
      json({ t: 'steal' }),
    ]) {
      const answer = await raw(junk)
      expect(answer).toBeInstanceOf(Error)
    }
    expect(node.node.swap.bookkeeper!.cheques('in')).toHaveLength(0)
  })

  test('a forged cheque is refused by its check and not stored', async () => {
    const keeper = node.node.swap.bookkeeper!
    const stranger = privateKeyToAccount(generatePrivateKey())
    const fields = {
      chequebook: '0x1111111111111111111111111111111111111111' as const,
      beneficiary: node.node.swap.book!.beneficiary,
      cumulativePayout: 1000n,
    }
    const signature = await signCheque(stranger, fields, MOCK_CHAIN_ID)
    // It claims to be someone else's chequebook: the signer is not the issuer it announced.
    const hello = await raw(
      encodeSwap({
        t: 'hello',
        terms: {
          mode: 'mock',
          chainId: MOCK_CHAIN_ID,
          chequebook: fields.chequebook,
          beneficiary: stranger.address,
          pricePerOp: 0n,
          pricePerByte: 0n,
          paymentThreshold: 1n,
          refreshRate: 0n,
          issuer: '0x4444444444444444444444444444444444444444',
        },
      }),
    )
    expect(hello).toBeInstanceOf(Uint8Array)
    const answer = decodeSwapAnswer(
      (await raw(encodeSwap({ t: 'cheque', cheque: { ...fields, signature } }))) as Uint8Array,
    )
    expect(answer).toMatchObject({ t: 'refused', check: 'signer' })
    expect(keeper.cheques('in')).toHaveLength(0)
    // A peer cannot make the node owe it by announcing prices: it served nothing.
    expect(keeper.balance(mallory.peerId.toString())).toBe(0n)
  })

  test('a flood of streams is cut off past the per-peer bound and the node keeps answering', async () => {
    const hello = json({
      t: 'hello',
      terms: {
        mode: 'soft',
        chainId: 1,
        chequebook: '0x1111111111111111111111111111111111111111',
        beneficiary: '0x1111111111111111111111111111111111111111',
        pricePerOp: '0',
        pricePerByte: '0',
        paymentThreshold: '1',
        refreshRate: '0',
      },
    })
    // Streams that never send hold the node's per-peer bound: past it, streams are cut at once.
    const stalled = await Promise.all(
      Array.from({ length: 6 }, () =>
        mallory
          .dialProtocol(node.node.replicator!.node.peerId, SWAP_PROTOCOL)
          .catch((e: Error) => e),
      ),
    )
    await new Promise((r) => setTimeout(r, 200))
    expect(await raw(hello)).toBeInstanceOf(Error)
    for (const s of stalled) if (!(s instanceof Error)) s.abort(new Error('done'))
    await new Promise((r) => setTimeout(r, 200))
    // Once they are gone, the same peer is answered again.
    expect(decodeSwapAnswer((await raw(hello)) as Uint8Array).t).toBe('hello')
    const status = await fetch(`${node.node.url}/status`)
    expect(status.status).toBe(200)
    expect(node.node.replicator!.peerId).toBe(peerOf(node.node))
  })
})

describe('hostile requests to the /swap routes', () => {
  const token = () => readFileSync(node.node.accounts.tokenPath(OPERATOR), 'utf8').trim()
  const post = (path: string, body: unknown, bearer: string | null = token()) =>
    fetch(`${node.node.url}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })

  test('junk bodies get 400 naming the field; no token 401; nothing to cash (404); a mock node has nothing to deposit (409)', async () => {
    const cases: [string, unknown, number, RegExp][] = [
      ['/swap/cash', {}, 400, /peer/],
      ['/swap/cash', { peer: 'x'.repeat(5000) }, 400, /peer/],
      ['/swap/cash', { peer: '12D3KooW', extra: 1 }, 400, /./],
      ['/swap/cash', '{not json', 400, /JSON/i],
      ['/swap/deposit', { amount: '-1' }, 400, /amount/],
      ['/swap/deposit', { amount: '0' }, 400, /amount/],
      ['/swap/deposit', { amount: '9'.repeat(100) }, 400, /amount/],
      ['/swap/deposit', { amount: 12 }, 400, /amount/],
      ['/swap/withdraw', { amount: '1.5' }, 400, /amount/],
    ]
    for (const [path, body, status, message] of cases) {
      const response = await post(path, body)
      const text = await response.text()
      expect(response.status, `${path} ${JSON.stringify(body).slice(0, 60)}: ${text}`).toBe(status)
      expect(text).toMatch(message)
    }
    expect((await post('/swap/deposit', { amount: '10' }, null)).status).toBe(401)
    const mock = await post('/swap/deposit', { amount: '10' })
    expect(mock.status).toBe(409)
    expect(await mock.text()).toMatch(/mock mode/)
    const nothing = await post('/swap/cash', { peer: mallory.peerId.toString() })
    expect(nothing.status).toBe(404)
    expect(await nothing.text()).toMatch(/Nothing of peer .* left to cash/)
    // Reads are open, bounded, and carry no secrets.
    const peers = await (await fetch(`${node.node.url}/swap/peers`)).json()
    expect(JSON.stringify(peers)).not.toMatch(/private|secret/i)
  })
})
