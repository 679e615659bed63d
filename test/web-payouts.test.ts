import type { Browser, Page } from 'playwright-core'
import { createPublicClient, getAddress, type Hex, http } from 'viem'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import type { ChainInfo } from '../src/chain/chain-service.ts'
import { NATIVE } from '../src/chain/escrow.ts'
import { balanceOf, owedTo } from '../src/chain/payments.ts'
import type { TokenUnit } from '../src/core/amount.ts'
import { findPayingAudits, payoutsPage } from '../src/domains/audit/payouts-page.ts'
import { stoppedAudit, TestNode } from './node-fixture.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

const run = hasSystemService(SYSTEM_SERVICES.chromium)
const EXPLORER = 'https://explorer.example'

/** Waits (bounded, generously) until the node has settled the audit on chain. */
async function untilComplete(t: TestNode, id: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await t.call('GET', `/audits/${id}`)).json.state === 'COMPLETE') return
    await new Promise((r) => setTimeout(r, 100))
  }
  expect((await t.call('GET', `/audits/${id}`)).json.state).toBe('COMPLETE')
}

/** A JSON-RPC call to anvil. */
async function rpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  })
  const json = (await response.json()) as { result?: unknown; error?: { message: string } }
  if (json.error) throw new Error(json.error.message)
  return json.result
}

describe.runIf(run)('a payout address page, on the devnet', () => {
  let node: TestNode
  let browser: Browser
  let chain: ChainInfo
  let paidInEth: string
  let paidInToken: string
  /** a1's and a2's payout addresses (EIP-55): each is owed 0.0005 ETH and 300 base units of the token. */
  let a1: `0x${string}`
  let a2: `0x${string}`
  const problems: string[] = []

  beforeAll(async () => {
    node = await TestNode.startDevnet({ explorerUrl: EXPLORER })
    browser = await launchChromium()
    chain = (await node.call('GET', '/chain')).json
    const eth = await stoppedAudit(node, 'Paid in ETH', { bond: '0.0015 ETH' })
    paidInEth = eth.id
    paidInToken = (
      await stoppedAudit(node, 'Paid in tokens', {
        bond: '900',
        token: chain.token!,
        tokens: eth.tokens,
      })
    ).id
    const admin = node.operatorToken
    for (const [id, amount] of [
      [paidInEth, '0.0015 ETH'],
      [paidInToken, '900'],
    ] as const) {
      const funded = await node.call('POST', `/audits/${id}/fund`, {
        token: admin,
        body: { amount },
      })
      expect(funded.status).toBe(200)
      await untilComplete(node, id)
    }
    const addressOf = async (token: string) =>
      (await node.call('GET', '/accounts/me', { token })).json.address as `0x${string}`
    a1 = await addressOf(eth.tokens[0]!)
    a2 = await addressOf(eth.tokens[1]!)
  }, 180_000)

  afterAll(async () => {
    await browser?.close()
    await node?.stop()
  })

  afterEach(() => {
    const found = problems.splice(0)
    expect(found, 'console errors and page errors').toEqual([])
  })

  async function open(path: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`))
    await page.goto(`${node.url}${path}`)
    return page
  }

  /**
   * Gives the page a browser wallet (EIP-1193 `window.ethereum`) whose account is `account`, on
   * chain `chainId` (the node's unless given), that forwards the rest to anvil. Answers the
   * methods the page called.
   */
  async function withWallet(
    page: Page,
    { account, chainId }: { account: string; chainId?: Hex },
  ): Promise<string[]> {
    const called: string[] = []
    await page.exposeFunction('rwaTestWallet', async (method: string, params: unknown[]) => {
      called.push(method)
      if (method === 'eth_requestAccounts') return [account]
      if (method === 'eth_chainId' && chainId) return chainId
      return rpc(chain.rpcUrl, method, params)
    })
    // The page's own script sees only window.ethereum, as with a wallet extension.
    await page.addInitScript({
      content:
        'window.ethereum = { request: ({ method, params }) => window.rwaTestWallet(method, params || []) }',
    })
    await page.reload()
    return called
  }

  test('shows what the escrow owes, in each unit, and the audits that pay the address', async () => {
    // A lowercase address is taken as well as an EIP-55 one.
    const response = await fetch(`${node.url}/ui/audits/payouts/${a1.toLowerCase()}`)
    expect(response.status).toBe(200)
    const html = await response.text()
    expect(html).toContain('<td class="num">0.0005 ETH</td>')
    expect(html).toContain('<td class="num">0.0000000000000003 RWAT</td>')
    expect(html).toContain(`href="/ui/audits/${encodeURIComponent(paidInEth)}">Paid in ETH</a>`)
    expect(html).toContain(
      `href="/ui/audits/${encodeURIComponent(paidInToken)}">Paid in tokens</a>`,
    )
    expect(html).toContain('Withdraw with your wallet')
    expect(html).toContain(
      `rwa payout withdraw --eth-key &#60;key file of ${a1}&#62; --node ${node.url}`,
    )
    // The settlement transactions link to the explorer.
    const { transaction } = (await node.call('GET', `/audits/${paidInEth}/settlement`)).json
    expect(html).toContain(`href="${EXPLORER}/tx/${transaction.hash}"`)
    // Each payee on an audit's page links to its payouts page.
    const audit = await (await fetch(`${node.url}/ui/audits/${paidInEth}`)).text()
    for (const payee of [a1, a2]) expect(audit).toContain(`href="/ui/audits/payouts/${payee}"`)
  })

  test('lists a bounded number of paying audits and says how many more there are', async () => {
    const audits = node.node.audits
    const unitOf = async (token: string) =>
      (await node.call('GET', `/payouts/tokens/${token}`)).json as TokenUnit
    const both = await findPayingAudits(audits, a1, { unitOf, ledger: node.node.ledger })
    expect(both.listed.map((a) => [a.name, a.amount])).toEqual([
      ['Paid in tokens', 300n],
      ['Paid in ETH', 500_000_000_000_000n],
    ])
    const one = await findPayingAudits(audits, a1, {
      unitOf,
      ledger: node.node.ledger,
      limit: 1,
    })
    expect([one.listed.map((a) => a.name), one.more, one.truncated]).toEqual([
      ['Paid in tokens'],
      1,
      false,
    ])
    const html = payoutsPage({
      node: 'n1',
      address: a1,
      chain,
      owed: [],
      paying: one,
      nodeUrl: node.url,
      nameOf: () => undefined,
      explorer: undefined,
    })
    expect(html).toContain('1 more audit pays this address; the newest 1 are listed.')
    const unpaid = await findPayingAudits(audits, '0x00000000000000000000000000000000000000aa', {
      unitOf,
      ledger: node.node.ledger,
    })
    expect(unpaid).toEqual({ listed: [], more: 0, truncated: false })
  })

  test('an invalid address gets a page saying what is wrong', async () => {
    const cases: [string, string][] = [
      ['nope', '"nope" is not an Ethereum address'],
      ['0x1234', '"0x1234" is not an Ethereum address'],
      ['%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'is not an Ethereum address'],
      // One letter's case flipped: the EIP-55 checksum no longer holds.
      [a1.replace(/[a-f]/, (c) => c.toUpperCase()), 'wrong EIP-55 checksum'],
    ]
    for (const [path, message] of cases) {
      if (path === a1) continue
      const response = await fetch(`${node.url}/ui/audits/payouts/${path}`)
      expect([path, response.status]).toEqual([path, 400])
      expect(response.headers.get('content-type')).toContain('text/html')
      const html = await response.text()
      expect(html).toContain(message.replaceAll('"', '&#34;'))
      expect(html).not.toContain('<script>alert')
    }
  })

  test('without a wallet, the button says one is needed and shows the command', async () => {
    const page = await open(`/ui/audits/payouts/${a1}`)
    await page.click('#withdraw-wallet')
    const text = await (await page.waitForSelector('#wallet-missing')).textContent()
    expect(text).toContain('browser wallet extension')
    expect(await page.textContent('#wallet-status pre')).toBe(
      `rwa payout withdraw --eth-key <key file of ${a1}> --node ${node.url}`,
    )
    await page.close()
  })

  test('a wallet on another account or chain is refused, and nothing is sent', async () => {
    const page = await open(`/ui/audits/payouts/${a1}`)
    const called = await withWallet(page, { account: a2 })
    await page.click('#withdraw-wallet')
    const refused = await (await page.waitForSelector('#wallet-refused')).textContent()
    expect(refused).toContain(`Your wallet's account (${a2}) is not ${a1}`)
    expect(called).toEqual(['eth_requestAccounts'])
    await page.close()

    const other = await open(`/ui/audits/payouts/${a1}`)
    const calledOnChain1 = await withWallet(other, { account: a1, chainId: '0x1' })
    await other.click('#withdraw-wallet')
    expect(await (await other.waitForSelector('#wallet-refused')).textContent()).toContain(
      `Your wallet is on chain 1, but this node's escrow is on chain ${chain.chainId}; switch the wallet to chain ${chain.chainId}`,
    )
    expect(calledOnChain1).toEqual(['eth_requestAccounts', 'eth_chainId'])
    await other.close()
    expect(await owedTo(chain, a1, NATIVE)).toBe(500_000_000_000_000n)
    expect(await owedTo(chain, a1, chain.token!)).toBe(300n)
  })

  test('the wallet button withdraws every token owed, from the payout address', async () => {
    // The payout key is the node's: anvil sends for the address without it.
    await rpc(chain.rpcUrl, 'anvil_impersonateAccount', [a1])
    await rpc(chain.rpcUrl, 'anvil_setBalance', [a1, `0x${(10n ** 18n).toString(16)}`])
    const ethBefore = await balanceOf(chain, a1, NATIVE)
    const tokenBefore = await balanceOf(chain, a1, chain.token!)
    const page = await open(`/ui/audits/payouts/${a1}`)
    const called = await withWallet(page, { account: a1.toLowerCase() })
    await page.click('#withdraw-wallet')
    await page.waitForSelector('#wallet-sent')
    expect(called.filter((m) => m === 'eth_sendTransaction')).toHaveLength(2)
    const links = await page.$$eval('#wallet-status a.tx', (as) =>
      as.map((a) => [a.textContent, a.getAttribute('href')]),
    )
    expect(links).toHaveLength(2)
    const client = createPublicClient({ transport: http(chain.rpcUrl) })
    let gas = 0n
    for (const [hash, href] of links) {
      expect(href).toBe(`${EXPLORER}/tx/${hash}`)
      const receipt = await client.waitForTransactionReceipt({ hash: hash as Hex })
      expect([receipt.status, getAddress(receipt.from), getAddress(receipt.to!)]).toEqual([
        'success',
        a1,
        getAddress(chain.escrow),
      ])
      gas += receipt.gasUsed * receipt.effectiveGasPrice
    }
    await page.close()
    expect(await owedTo(chain, a1, NATIVE)).toBe(0n)
    expect(await owedTo(chain, a1, chain.token!)).toBe(0n)
    const ethAfter = await balanceOf(chain, a1, NATIVE)
    expect(ethAfter).toBe(ethBefore + 500_000_000_000_000n - gas)
    expect(ethAfter).toBeGreaterThan(ethBefore)
    expect(await balanceOf(chain, a1, chain.token!)).toBe(tokenBefore + 300n)
    // The page now says nothing is owed, and offers no button.
    const html = await (await fetch(`${node.url}/ui/audits/payouts/${a1}`)).text()
    expect(html).toContain('Nothing is owed to this address')
    expect(html).not.toContain('id="withdraw-wallet"')
    // a2 was not touched.
    expect(await owedTo(chain, a2, NATIVE)).toBe(500_000_000_000_000n)
  })
})

describe('a payout address page, without a chain', () => {
  let node: TestNode

  beforeAll(async () => {
    node = await TestNode.start()
  }, 60_000)

  afterAll(async () => {
    await node?.stop()
  })

  test('says the node runs without a chain and offers no withdrawal', async () => {
    const address = '0x00000000000000000000000000000000000000aa'
    const response = await fetch(`${node.url}/ui/audits/payouts/${address}`)
    expect(response.status).toBe(200)
    const html = await response.text()
    expect(html).toContain('This node runs without a chain, so it holds no escrow')
    expect(html).toContain('No audit of this node pays this address.')
    expect(html).not.toContain('id="withdraw-wallet"')
  })
})
