import { appendFileSync, mkdtempSync, rmSync } from 'node:fs'
import { Agent, createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import type { Address, Hex } from 'viem'
import { mnemonicToAccount } from 'viem/accounts'
import { testTokenAbi } from '../src/chain/artifacts.ts'
import { chainFor } from '../src/chain/escrow.ts'
import { depositAndOpenChannel } from '../src/chain/mpe.ts'
import { signClaim } from '../src/core/channel/claim.ts'
import { formatPaymentHeaders } from '../src/core/channel/payment.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode } from '../src/node/node.ts'
import { type Figure, progress, report, round } from './report.ts'

// Paid calls per second through the gateway, next to the very same route unpaid, on one node in
// one run: an upstream echo service behind the node's reverse proxy twice, once priced ("paid")
// and once free ("free"). Several clients, each on its own channel, call as fast as they can;
// payments are signed before the clock starts (signing is the client's work, not the gateway's).
// The runs alternate over a few rounds and the figure is the median ratio.

const MNEMONIC = 'test test test test test test test test test test test junk'
const CLIENTS = 8
const SECONDS = Number(process.env.RWA_BENCH_CHANNEL_SECONDS ?? 3)
const ROUNDS = 3
/** Payments signed per client and round: more than a client makes in SECONDS. */
const PER_CLIENT = Number(process.env.RWA_BENCH_CHANNEL_CALLS ?? 700)
const PRICE = 1n

type Load = { rate: number; ok: number; failed: number }

async function paidCall(): Promise<Figure> {
  const root = mkdtempSync(join(tmpdir(), 'rwa-bench-channel-'))
  const upstream = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"echo":true}')
    })
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  const port = (upstream.address() as AddressInfo).port
  const dataDir = join(root, 'node')
  initNode({ name: 'bench', dataDir })
  appendFileSync(
    join(dataDir, 'config.toml'),
    [
      '',
      '[domains.channel]',
      `durability = "${process.env.RWA_BENCH_CHANNEL_DURABILITY ?? 'full'}"`,
      `upstreams = [{ name = "paid", url = "http://127.0.0.1:${port}", price = ${PRICE} }, { name = "free", url = "http://127.0.0.1:${port}", price = 0 }]`,
      '',
    ].join('\n'),
  )
  const node = createNode(loadConfig(dataDir), {
    port: 0,
    logger: pino({ level: 'silent' }),
    chain: { mode: 'devnet' },
    net: { enabled: false },
  })
  await node.start()
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS })
  try {
    const chain = node.chain!
    const mpe = chain.info.mpe!
    const { createPublicClient, createWalletClient, http } = await import('viem')
    const viemChain = chainFor(chain.info.chainId, chain.info.rpcUrl)
    const client = createPublicClient({ chain: viemChain, transport: http(chain.info.rpcUrl) })
    const terms = (await (await fetch(`${node.url}/channel`)).json()) as {
      recipient: Address
      groupId: Hex
    }
    progress(`opening ${CLIENTS} channels`)
    const clients = []
    for (let i = 0; i < CLIENTS; i++) {
      const account = mnemonicToAccount(MNEMONIC, { addressIndex: 20 + i })
      const value = 10n ** 9n
      const hash = await chain.wallet.writeContract({
        address: chain.info.token!,
        abi: testTokenAbi,
        functionName: 'mint',
        args: [account.address, value],
      })
      await client.waitForTransactionReceipt({ hash })
      await client.request({
        method: 'anvil_setBalance' as never,
        params: [account.address, '0x56bc75e2d63100000'] as never,
      })
      const wallet = createWalletClient({
        account,
        chain: viemChain,
        transport: http(chain.info.rpcUrl),
      })
      const { channelId } = await depositAndOpenChannel(wallet, client as never, mpe, {
        signer: account.address,
        recipient: terms.recipient,
        groupId: terms.groupId,
        value,
        expiration: (await client.getBlockNumber()) + 1_000_000n,
      })
      clients.push({ account, channelId, authorised: 0n })
    }
    const call = (path: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${node.url}${path}`, { agent, headers }, (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        })
        req.on('error', reject)
        req.end()
      })
    const measure = async (paths: string, payments: Record<string, string>[][]): Promise<Load> => {
      let ok = 0
      let failed = 0
      const deadline = performance.now() + SECONDS * 1000
      const start = performance.now()
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, i) => {
          const mine = payments[i] ?? []
          for (
            let k = 0;
            performance.now() < deadline && (payments.length === 0 || k < mine.length);
            k++
          ) {
            const status = await call(paths, mine[k] ?? {})
            if (status === 200) ok++
            else failed++
          }
        }),
      )
      const elapsed = (performance.now() - start) / 1000
      return { rate: ok / elapsed, ok, failed }
    }
    const rounds: { paid: Load; free: Load }[] = []
    for (let r = 1; r <= ROUNDS; r++) {
      progress(`round ${r}/${ROUNDS}: signing ${CLIENTS} × ${PER_CLIENT} payments`)
      const payments: Record<string, string>[][] = []
      for (const c of clients) {
        const mine: Record<string, string>[] = []
        for (let k = 1n; k <= BigInt(PER_CLIENT); k++) {
          const amount = c.authorised + k * PRICE
          const signature = await signClaim(c.account, mpe, c.channelId, 0n, amount)
          mine.push(formatPaymentHeaders({ channelId: c.channelId, nonce: 0n, amount, signature }))
        }
        payments.push(mine)
      }
      progress(`round ${r}/${ROUNDS}: paid calls, then the same route free, ${SECONDS} s each`)
      const paid = await measure('/channel/call/paid/x', payments)
      // Each client's next payments start over what the gateway committed for it.
      for (const c of clients)
        c.authorised = (await node.channelGateway!.stored(c.channelId))?.authorised ?? 0n
      const free = await measure('/channel/call/free/x', [])
      rounds.push({ paid, free })
    }
    const ratios = rounds.map((r) => r.paid.rate / r.free.rate).sort((a, b) => a - b)
    const ratio = ratios[Math.floor(ratios.length / 2)]!
    const mid = rounds.find((r) => r.paid.rate / r.free.rate === ratio)!
    return report({
      bench: 'channel.paid_call',
      value: round(ratio, 3),
      unit: 'paid/unpaid calls per second',
      limit: 0.5,
      limitIs: 'the same proxied route unpaid, same node and run (target: at least half its rate)',
      paidPerSecond: round(mid.paid.rate),
      unpaidPerSecond: round(mid.free.rate),
      clients: CLIENTS,
      failed: rounds.reduce((n, r) => n + r.paid.failed + r.free.failed, 0),
      durability: 'full',
      pass: ratio >= 0.5,
    })
  } finally {
    agent.destroy()
    await node.stop()
    upstream.close()
    rmSync(root, { recursive: true, force: true })
  }
}

export function channelCallBenches(): Record<string, () => Promise<Figure>> {
  return { 'channel.paid_call': paidCall }
}
