import { Command } from 'commander'
import type { Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, onTestFailed, test, vi } from 'vitest'
import { readChequebook, readPaidOut } from '../src/chain/chequebook.ts'
import { signCheque } from '../src/core/swap/cheque.ts'
import type { SwapAnswer } from '../src/core/swap/protocol.ts'
import { swapCli } from '../src/domains/swap/cli/commands.ts'
import type { Exchange } from '../src/domains/swap/exchange.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { hasAnvil } from './fixtures/escrow-chain.ts'
import {
  addressOf,
  appendOps,
  fund,
  logged,
  opsOf,
  peerOf,
  type SwapTestNode,
  swapCluster,
  until,
  writeOps,
} from './fixtures/swap-nodes.ts'

// SWAP in hard mode on one anvil: a runs the devnet (and owns its test token), b and c reach it
// over RPC. Each node deploys its own chequebook and funds it from its operator key. c only pulls.

const TOKENS = 10n ** 24n
const base = {
  mode: 'hard',
  price_per_op: 1000,
  price_per_byte: 1,
  refresh_rate: 0,
  settle_interval_ms: 100,
}

let cluster: ReturnType<typeof swapCluster>
let a: SwapTestNode
let b: SwapTestNode
let c: SwapTestNode

const keeper = (n: SwapTestNode) => n.node.swap.bookkeeper!
const tokenFile = (n: SwapTestNode) => n.node.accounts.tokenPath(OPERATOR)

/** Runs `rwa swap …` in this process against a node; what it printed. */
async function rwa(n: SwapTestNode, ...args: string[]): Promise<string> {
  const program = new Command('rwa').exitOverride().configureOutput({
    writeOut: () => {},
    writeErr: () => {},
  })
  swapCli.register(program)
  const printed: string[] = []
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
    printed.push(parts.map(String).join(' '))
  })
  try {
    await program.parseAsync(['swap', ...args, '--node', n.node.url, '--data-dir', n.dataDir], {
      from: 'user',
    })
  } finally {
    log.mockRestore()
  }
  return printed.join('\n')
}
const chainOf = () => a.node.chain!
const rpc = () => ({
  mode: 'rpc' as const,
  rpcUrl: chainOf().info.rpcUrl,
  escrow: chainOf().info.escrow,
})

describe.skipIf(!hasAnvil())('hard mode on anvil', () => {
  beforeAll(async () => {
    cluster = swapCluster()
    // a cashes every cheque automatically, b on demand; c serves for free and pays whatever it
    // owes each round.
    a = await cluster.start(
      'a',
      { ...base, payment_threshold: 200_000, auto_cash: 1 },
      { chain: { mode: 'devnet' } },
    )
    const token = chainOf().info.token!
    for (const name of ['b', 'c']) await fund(a.node, cluster.init(name), TOKENS)
    b = await cluster.start(
      'b',
      { ...base, payment_threshold: 200_000, token, initial_deposit: '1000000000' },
      { chain: rpc(), peers: [addressOf(a.node)] },
    )
    await writeOps(a.node, 'from a', 200)
    await writeOps(b.node, 'from b', 200)
    await until(
      'a and b to hold each other’s ops',
      () => opsOf(a.node) === 400 && opsOf(b.node) === 400,
    )
    c = await cluster.start(
      'c',
      {
        ...base,
        price_per_op: 0,
        price_per_byte: 0,
        early_payment_percent: 100,
        token,
        initial_deposit: '100000000',
      },
      { chain: rpc(), peers: [addressOf(a.node), addressOf(b.node)] },
    )
  }, 120_000)
  afterAll(() => cluster?.close())

  test('the puller’s cheques are cashed on chain: the tokens paid out equal what was served', async () => {
    await until('c to hold every op', () => opsOf(c.node) === 400)
    const client = chainOf().client
    const book = c.node.swap.book!.chequebook
    let settled = 0n
    for (const server of [a, b]) {
      const beneficiary = server.node.swap.book!.beneficiary
      await until(
        'what was served to be paid and cashed',
        async () => {
          if (server === b && keeper(b).view(peerOf(c.node))!.uncashed > 0n)
            await b.node.swap.service.cash(peerOf(c.node)).catch(() => undefined)
          const served = keeper(server).view(peerOf(c.node))!.served.amount
          const paidOut = await readPaidOut(client, book, beneficiary)
          // Read after the chain: c's payments go on (each anti-entropy round costs it a little).
          const view = keeper(server).view(peerOf(c.node))!
          const cashed =
            view.lastReceived === null ||
            view.lastReceived.cashed === view.lastReceived.cumulativePayout
          if (paidOut !== served || view.served.amount !== served || view.balance !== 0n || !cashed)
            return false
          // c serves for free: all it paid was for what it was served.
          expect(view.received.amount).toBe(0n)
          settled += served
          return true
        },
        60_000,
      )
    }
    // c pulled 400 ops, each from a or b: more than a's payment threshold in all.
    const onChain = await readChequebook(client, book)
    expect(onChain.bounced).toBe(false)
    // Paid out only grows: at least what both had been served when each was settled.
    expect(settled).toBeGreaterThan(400_000n)
    expect(onChain.totalPaidOut).toBeGreaterThanOrEqual(settled)
  }, 180_000)

  test('bad cheques are refused, each by its own check', async () => {
    const to = peerOf(a.node)
    const send = (cheque: Parameters<Exchange['sendCheque']>[1]) =>
      c.node.swap.exchange!.sendCheque(to, cheque)
    const refusedBy = (answer: SwapAnswer) => (answer.t === 'refused' ? answer.check : answer.t)
    const myBook = c.node.swap.book!
    const beneficiary = a.node.swap.book!.beneficiary
    // c's own payments go on meanwhile: the crafted cheques add amounts no payment would.
    const last = keeper(a).lastCheque('in', peerOf(c.node))?.cumulativePayout ?? 0n
    const odd = 77_777n
    const signed = async (fields: {
      chequebook: Address
      beneficiary: Address
      cumulativePayout: bigint
    }) => ({
      ...fields,
      signature: await myBook.sign(fields),
    })
    // Another chequebook (b's) than the one c's handshake bound.
    expect(
      refusedBy(
        await send(
          await signed({
            chequebook: b.node.swap.book!.chequebook,
            beneficiary,
            cumulativePayout: last + odd,
          }),
        ),
      ),
    ).toBe('chequebook')
    // Another beneficiary.
    expect(
      refusedBy(
        await send(
          await signed({
            chequebook: myBook.chequebook,
            beneficiary: b.node.swap.book!.beneficiary,
            cumulativePayout: last + odd,
          }),
        ),
      ),
    ).toBe('beneficiary')
    // A cumulative payout not above the last one.
    expect(
      refusedBy(
        await send(
          await signed({ chequebook: myBook.chequebook, beneficiary, cumulativePayout: last }),
        ),
      ),
    ).toBe('increase')
    // Signed by someone else than the chequebook's issuer.
    const stranger = privateKeyToAccount(generatePrivateKey())
    const fields = { chequebook: myBook.chequebook, beneficiary, cumulativePayout: last + odd }
    expect(
      refusedBy(
        await send({
          ...fields,
          signature: await signCheque(stranger, fields, chainOf().info.chainId),
        }),
      ),
    ).toBe('signer')
    // None of them was stored.
    expect(keeper(a).lastCheque('in', peerOf(c.node))!.cumulativePayout - last).toBeLessThan(odd)
    // An overpayment: far more than c owes.
    expect(
      refusedBy(
        await send(
          await signed({
            chequebook: myBook.chequebook,
            beneficiary,
            cumulativePayout: last + 10n ** 20n,
          }),
        ),
      ),
    ).toBe('increase')
    for (const check of ['chequebook', 'beneficiary', 'increase', 'signer'])
      expect(logged(a.logs, 'cheque refused').some((l) => l.check === check)).toBe(true)
    // The fifth check, cover, is the bounce test's.
  }, 180_000)

  test('the rwa swap commands read and move the real nodes’ accounts', async () => {
    const peers = await rwa(b, 'peers')
    expect(peers).toContain('SWAP mode hard')
    expect(peers).toMatch(/even|owes us|we owe/)
    const json = JSON.parse(await rwa(b, 'peers', '--json')) as {
      peers: { peer: string; standing: string }[]
    }
    expect(json.peers.map((p) => p.peer)).toContain(peerOf(c.node))
    expect(await rwa(b, 'cheques')).toMatch(/Received \(\d+\):/)
    const before = (await readChequebook(chainOf().client, c.node.swap.book!.chequebook)).balance
    await rwa(c, 'deposit', '1000', '--token', tokenFile(c))
    expect((await readChequebook(chainOf().client, c.node.swap.book!.chequebook)).balance).toBe(
      before + 1000n,
    )
    await rwa(c, 'withdraw', '1000', '--token', tokenFile(c))
    expect((await readChequebook(chainOf().client, c.node.swap.book!.chequebook)).balance).toBe(
      before,
    )
  }, 180_000)

  test('a bounced cheque on chain: the issuer is no longer served', async () => {
    const client = chainOf().client
    const myBook = c.node.swap.book!
    const beneficiary = b.node.swap.book!.beneficiary
    // c stops paying on its own: nothing else moves its chequebook meanwhile.
    await c.node.swap.settlement!.stop({ signal: AbortSignal.timeout(10_000) })
    const last = keeper(b).lastCheque('in', peerOf(c.node))?.cumulativePayout ?? 0n
    const paidOut = await readPaidOut(client, myBook.chequebook, beneficiary)
    const unpaid = last - paidOut
    // c leaves 50,000 base units free for b's cheques.
    const liquid = (await readChequebook(client, myBook.chequebook)).liquidBalance
    await c.node.swap.service.withdraw(liquid - (50_000n + unpaid))
    const send = async (cumulativePayout: bigint) => {
      const fields = { chequebook: myBook.chequebook, beneficiary, cumulativePayout }
      return c.node.swap.exchange!.sendCheque(peerOf(b.node), {
        ...fields,
        signature: await myBook.sign(fields),
      })
    }
    // A cheque the chequebook can pay is taken.
    expect((await send(last + 40_000n)).t).toBe('ack')
    // One it cannot is refused by the fifth check.
    const uncovered = await send(last + 60_000n)
    expect(uncovered.t === 'refused' && uncovered.check).toBe('cover')
    // Then c empties its chequebook before b cashes.
    await c.node.swap.service.withdraw(
      (await readChequebook(client, myBook.chequebook)).liquidBalance,
    )
    // b's operator cashes it: the chequebook pays what it can, and the cheque bounces.
    const result = await b.node.swap.service.cash(peerOf(c.node))
    expect(result.bounced).toBe(true)
    expect(result.paid).toBe(0n)
    expect(keeper(b).isBounced(peerOf(c.node))).toBe(true)
    expect((await readChequebook(client, myBook.chequebook)).bounced).toBe(true)
    expect(keeper(b).view(peerOf(c.node))!.standing).toBe('bounced')
    expect(keeper(b).admit(peerOf(c.node))).toBeGreaterThan(0)
    expect(logged(b.logs, 'the cheque bounced').length).toBeGreaterThan(0)
  }, 180_000)
})

describe.skipIf(!hasAnvil())('a peer that stops paying', () => {
  test('is cut off at the disconnect threshold and served again once it pays', async () => {
    const local = swapCluster()
    const nodes: SwapTestNode[] = []
    onTestFailed(() => {
      // What the nodes logged, to tell why (a failure under load is otherwise hard to read).
      for (const n of nodes) {
        const lines = n.logs.filter((l) => (l.level as number) >= 30).slice(-20)
        process.stderr.write(`${n.name}: ${JSON.stringify(lines)}\n`)
        const views = n.node.swap.bookkeeper?.views() ?? []
        process.stderr.write(
          `${n.name} views: ${JSON.stringify(
            views.map((v) => ({
              peer: v.peer.slice(-6),
              balance: v.balance,
              connected: v.connected,
              standing: v.standing,
            })),
            (_k, v) => (typeof v === 'bigint' ? v.toString() : v),
          )}\n`,
        )
      }
    })
    try {
      const a = await local.start(
        'a',
        { ...base, payment_threshold: 100_000 },
        { chain: { mode: 'devnet' } },
      )
      nodes.push(a)
      const chain = a.node.chain!
      await fund(a.node, local.init('c'), TOKENS)
      // c's chequebook starts empty: it cannot pay.
      const c = await local.start(
        'c',
        {
          ...base,
          price_per_op: 0,
          price_per_byte: 0,
          token: chain.info.token,
          initial_deposit: '0',
        },
        { chain: { mode: 'rpc', rpcUrl: chain.info.rpcUrl, escrow: chain.info.escrow } },
      )
      nodes.push(c)
      const audit = await writeOps(a.node, 'unpaid', 200)
      await c.node.replicator!.connect(addressOf(a.node))
      // a's answers shrink as c's debt nears the disconnect threshold; the one that reaches it is
      // the last.
      await until('a to cut c off', () => keeper(a).view(peerOf(c.node))?.standing === 'cut-off')
      const view = keeper(a).view(peerOf(c.node))!
      expect(view.balance).toBeLessThan(keeper(a).disconnectThreshold + 10_000n)
      const before = opsOf(c.node)
      expect(before).toBeLessThan(200)
      expect(logged(a.logs, 'not served until it pays').length).toBe(1)
      await until(
        'c to warn that it cannot pay',
        () => logged(c.logs, 'the chequebook cannot cover what this node owes the peer').length > 0,
      )
      await until('a to hang up on c', () => !keeper(a).view(peerOf(c.node))!.connected)
      // New ops while c is away reach it only by sync, which a refuses until it is paid.
      await appendOps(a.node, audit, 50)
      await c.node.replicator!.connect(addressOf(a.node))
      await new Promise((r) => setTimeout(r, 1500))
      expect(opsOf(c.node)).toBe(before)
      expect(keeper(a).admit(peerOf(c.node))).toBeGreaterThan(0)
      // c funds its chequebook: it pays, a takes the cheque and serves it again.
      await c.node.swap.service.deposit(10n ** 9n)
      await until('c to be served again', () => opsOf(c.node) === 250, 60_000)
      expect(keeper(a).view(peerOf(c.node))!.standing).not.toBe('cut-off')
      expect(keeper(a).lastCheque('in', peerOf(c.node))).toBeDefined()
      expect(logged(a.logs, 'peer back within bounds').length).toBeGreaterThan(0)
    } finally {
      await local.close()
    }
  }, 180_000)
})
