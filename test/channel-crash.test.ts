import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { type Address, createWalletClient, type Hex, http } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Wallet } from '../src/chain/escrow.ts'
import { chainFor } from '../src/chain/escrow.ts'
import { channelClaim, depositAndOpenChannel, readMpeBalance } from '../src/chain/mpe.ts'
import { signClaim } from '../src/core/channel/claim.ts'
import {
  channelStateRequestMessage,
  formatPaymentHeaders,
  verifyChannelStateReply,
} from '../src/core/channel/payment.ts'
import { initNode } from '../src/node/init.ts'
import { dev, hasAnvil } from './fixtures/escrow-chain.ts'
import { type MpeChain, startMpeChain } from './fixtures/mpe-chain.ts'
import { RWA_BIN } from './node-fixture.ts'

// Issue 21: "A gateway killed (SIGKILL) between the upstream answer and the commit loses nothing
// and double-charges nothing." The node runs as a child process (the real `rwa start`) against
// an anvil the test owns, so the chain outlives the node. The upstream service kills the node
// itself, from inside the paid call, before it answers: the kill lands after the payment was
// written ahead and before its commit, every time, with no timing guess.

const PRICE = 10n
/** An answer far larger than loopback sockets buffer (Linux caps both ends at tens of MiB). */
const BIG_ANSWER = 96 * 1024 * 1024

let chain: MpeChain
let root: string
let dataDir: string
let upstream: Server
/** What the upstream does with its next call; every call is counted by path. */
let onCall: (req: IncomingMessage) => Promise<void> = async () => undefined
const upstreamCalls: string[] = []
let node: { child: ChildProcess; url: string; exited: Promise<unknown> } | undefined
let recipient: Address
let operatorKey: Hex
let terms: { groupId: Hex; escrow: Address; recipient: Address }

/** Starts `rwa start` on the data dir and waits (bounded) until it serves HTTP. */
async function startNode(): Promise<NonNullable<typeof node>> {
  const child = spawn(
    process.execPath,
    [RWA_BIN, 'start', 'n1', '--data-dir', dataDir, '--port', '0', '--no-net'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString()
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const deadline = Date.now() + 120_000
  for (;;) {
    const url = /running at (http:\S+)/.exec(stderr)?.[1]
    if (url !== undefined) return { child, url, exited }
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`the node did not start: ${stderr}`)
    }
    await sleep(100)
  }
}

/** SIGKILLs the node child and waits for its exit. */
async function killNode(): Promise<void> {
  const current = node
  if (current === undefined) return
  node = undefined
  current.child.kill('SIGKILL')
  await current.exited
}

async function startUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    upstreamCalls.push(req.url ?? '')
    // Writing to a node that was killed meanwhile fails: nobody is there to read it.
    res.on('error', () => undefined)
    req.resume()
    req.on('end', async () => {
      await onCall(req)
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream' })
        return res.end(Buffer.alloc(BIG_ANSWER, 7))
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ served: req.url }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}

const describeChain = hasAnvil() ? describe : describe.skip

describeChain('a gateway killed with SIGKILL in the middle of a paid call', () => {
  beforeAll(async () => {
    chain = await startMpeChain({ payers: [dev(1).address, dev(2).address] })
    upstream = await startUpstream()
    root = mkdtempSync(join(tmpdir(), 'rwa-channel-crash-'))
    dataDir = join(root, 'n1')
    operatorKey = generatePrivateKey()
    recipient = privateKeyToAccount(operatorKey).address
    initNode({ name: 'n1', dataDir, ethKey: operatorKey })
    // The operator deploys the node's AuditEscrow on first start: it needs ETH for gas.
    await chain.client.request({
      method: 'anvil_setBalance' as never,
      params: [recipient, '0x56bc75e2d63100000'] as never,
    })
    const config = join(dataDir, 'config.toml')
    const text = readFileSync(config, 'utf8').replace(
      /^mode = "devnet"$/m,
      ['mode = "rpc"', `rpc_url = "${chain.devnet.rpcUrl}"`, `mpe = "${chain.escrow}"`].join('\n'),
    )
    const port = (upstream.address() as AddressInfo).port
    writeFileSync(
      config,
      [
        text,
        '[domains.channel]',
        'expiration_threshold = 5',
        'block_ttl_ms = 0',
        `max_answer_bytes = ${2 * BIG_ANSWER}`,
        `upstreams = [{ name = "svc", url = "http://127.0.0.1:${port}", price = "${PRICE}" }]`,
        '',
      ].join('\n'),
    )
    expect(text).toContain('mode = "rpc"')
    node = await startNode()
    const res = await fetch(`${node.url}/channel`)
    expect(res.status).toBe(200)
    terms = (await res.json()) as typeof terms
    expect(terms).toMatchObject({ escrow: chain.escrow, recipient })
  }, 240_000)

  afterAll(async () => {
    await killNode()
    upstream?.closeAllConnections()
    upstream?.close()
    await chain?.devnet.stop()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  async function open(i: number) {
    const account = dev(i)
    const block = await chain.client.getBlockNumber({ cacheTime: 0 })
    const { channelId } = await depositAndOpenChannel(
      chain.walletOf(account),
      chain.client,
      chain.escrow,
      {
        signer: account.address,
        recipient,
        groupId: terms.groupId,
        value: 1000n,
        expiration: block + 10_000n,
      },
    )
    return { account, channelId }
  }

  async function headers(account: ReturnType<typeof dev>, channelId: bigint, amount: bigint) {
    const signature = await signClaim(account, chain.escrow, channelId, 0n, amount)
    return formatPaymentHeaders({ channelId, nonce: 0n, amount, signature })
  }

  /** A paid call; answers the status, the error name and the amount the answer says is authorised. */
  async function call(path: string, paid: Record<string, string>) {
    const res = await fetch(`${node!.url}/channel/call/svc${path}`, { headers: paid })
    const body = (await res.json()) as { error?: string; served?: string }
    return {
      status: res.status,
      error: body.error,
      served: body.served,
      amount: res.headers.get('snet-payment-channel-amount'),
    }
  }

  /** GetChannelState as a stateless client asks it: the amount it signed, checked by its signature. */
  async function authorised(account: ReturnType<typeof dev>, channelId: bigint) {
    const block = await chain.client.getBlockNumber({ cacheTime: 0 })
    const signature = await account.signMessage({
      message: { raw: channelStateRequestMessage(chain.escrow, channelId, block) },
    })
    const res = await fetch(`${node!.url}/channel/state`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        channelId: String(channelId),
        currentBlock: String(block),
        signature,
      }),
    })
    expect(res.status).toBe(200)
    const reply = (await res.json()) as Record<string, string | undefined>
    expect(reply.currentNonce).toBe('0')
    const amount = await verifyChannelStateReply(
      {
        currentNonce: 0n,
        ...(reply.currentSignedAmount === undefined
          ? {}
          : {
              currentSignedAmount: BigInt(reply.currentSignedAmount),
              currentSignature: reply.currentSignature as Hex,
            }),
      },
      { channelId, signer: account.address, sender: account.address },
      chain.escrow,
    )
    return { amount, signature: reply.currentSignature as Hex | undefined }
  }

  test('killed after the upstream ran and before the commit: the payment is committed on restart, its retry is served once free, and the next call pays exactly the price', async () => {
    const { account, channelId } = await open(1)
    // One paid call before the crash, so the crashed payment is not the channel's first.
    expect(await call('/before', await headers(account, channelId, PRICE))).toMatchObject({
      status: 200,
      amount: String(PRICE),
    })
    // The upstream runs the crashing call, then kills the node before answering.
    onCall = async (req) => {
      if (req.url !== '/crash') return
      onCall = async () => undefined
      await killNode()
    }
    const crashed = await headers(account, channelId, 2n * PRICE)
    await expect(call('/crash', crashed)).rejects.toThrow()
    expect(node).toBeUndefined()
    expect(upstreamCalls.filter((u) => u === '/crash')).toHaveLength(1)

    node = await startNode()
    // (a) Nothing lost: the crashed payment is committed, and the client's own signature of it
    // is there for the service to claim.
    expect((await authorised(account, channelId)).amount).toBe(2n * PRICE)
    // (e) Paying one step ahead (a second price for the crashed call) is refused: it would
    // charge the crashed call twice.
    expect(await call('/ahead', await headers(account, channelId, 4n * PRICE))).toMatchObject({
      status: 402,
      error: 'WrongPaymentAmountError',
    })
    expect((await authorised(account, channelId)).amount).toBe(2n * PRICE)
    // (b) The very same signed payment again: served, not charged again.
    expect(await call('/crash', crashed)).toEqual({
      status: 200,
      error: undefined,
      served: '/crash',
      amount: String(2n * PRICE),
    })
    expect((await authorised(account, channelId)).amount).toBe(2n * PRICE)
    // (c) Only once.
    expect(await call('/crash', crashed)).toMatchObject({
      status: 402,
      error: 'WrongPaymentAmountError',
    })
    expect(upstreamCalls.filter((u) => u === '/crash')).toHaveLength(2)
    // (d) The next call pays exactly the price over the committed amount.
    expect(await call('/after', await headers(account, channelId, 3n * PRICE))).toMatchObject({
      status: 200,
      amount: String(3n * PRICE),
    })
    // (e) again, past the next call: a skipped step is refused and charges nothing.
    expect(await call('/ahead', await headers(account, channelId, 5n * PRICE))).toMatchObject({
      status: 402,
      error: 'WrongPaymentAmountError',
    })
    const final = await authorised(account, channelId)
    expect(final.amount).toBe(3n * PRICE)
    expect(upstreamCalls.filter((u) => u === '/ahead')).toHaveLength(0)

    // The service really holds that money: its recipient claims exactly it on chain.
    const wallet = createWalletClient({
      account: privateKeyToAccount(operatorKey),
      chain: chainFor(chain.devnet.chainId, chain.devnet.rpcUrl),
      transport: http(chain.devnet.rpcUrl),
    }) as Wallet
    const before = await readMpeBalance(chain.client, chain.escrow, recipient)
    await channelClaim(wallet, chain.client, chain.escrow, {
      channelId,
      plannedAmount: final.amount,
      signature: final.signature!,
    })
    expect((await readMpeBalance(chain.client, chain.escrow, recipient)) - before).toBe(3n * PRICE)
  }, 240_000)

  test('killed after the commit while the answer is in flight: the retry is served once free, never charged twice', async () => {
    const { account, channelId } = await open(2)
    const paid = await headers(account, channelId, PRICE)
    // Headers arrive only once the payment is committed (the gateway holds the answer until
    // then); the client then stops reading, so the answer, far larger than what the sockets
    // between them buffer, cannot have been handed over when the node is killed.
    const url = new URL(`${node!.url}/channel/call/svc/big`)
    const answer = await new Promise<{ status: number; amount: unknown }>((resolve, reject) => {
      const req = request(
        { hostname: url.hostname, port: url.port, path: url.pathname, headers: paid },
        (res) => {
          res.pause()
          res.on('error', () => undefined)
          resolve({
            status: res.statusCode ?? 0,
            amount: res.headers['snet-payment-channel-amount'],
          })
        },
      )
      req.on('error', reject)
      req.end()
    })
    expect(answer).toEqual({ status: 200, amount: String(PRICE) })
    await killNode()

    node = await startNode()
    expect((await authorised(account, channelId)).amount).toBe(PRICE)
    // The client never got the whole answer: the same payment fetches it, free, once.
    const res = await fetch(`${node.url}/channel/call/svc/big`, { headers: paid })
    expect(res.status).toBe(200)
    expect(res.headers.get('snet-payment-channel-amount')).toBe(String(PRICE))
    expect((await res.arrayBuffer()).byteLength).toBe(BIG_ANSWER)
    expect(await call('/big-again', paid)).toMatchObject({
      status: 402,
      error: 'WrongPaymentAmountError',
    })
    expect((await authorised(account, channelId)).amount).toBe(PRICE)
    expect(await call('/next', await headers(account, channelId, 2n * PRICE))).toMatchObject({
      status: 200,
      amount: String(2n * PRICE),
    })
    expect(upstreamCalls.filter((u) => u === '/big')).toHaveLength(2)
  }, 240_000)
})
