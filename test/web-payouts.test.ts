import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { type Address, createPublicClient, getAddress, type Hex, http } from 'viem'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { testTokenAbi, testTokenBytecode } from '../src/chain/artifacts.ts'
import type { ChainInfo } from '../src/chain/chain-service.ts'
import { NATIVE } from '../src/chain/escrow.ts'
import { balanceOf, owedTo } from '../src/chain/payments.ts'
import { formatAmount, type TokenUnit } from '../src/core/amount.ts'
import { findPayingAudits, payoutsPage } from '../src/domains/audit/payouts-page.ts'
import { stoppedAudit, TestNode } from './node-fixture.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

const run = hasSystemService(SYSTEM_SERVICES.chromium)
const EXPLORER = 'https://explorer.example'
/** The devnet node's `[http] public_url`: the page's commands name it, not the URL it was reached at. */
const PUBLIC_URL = 'https://rwa.example.org'

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
  let paidInOther: string
  /** An ERC-20 that is neither ETH nor the devnet token (symbol OTHR, 18 decimals). */
  let other: Address
  /** The accounts that ran every audit here. */
  let tokens: string[]
  /**
   * The payout addresses (EIP-55) of a1, a2 and a3: each is owed 0.0005 ETH, 300 base units of
   * the devnet token and 300 of the other token, and is paid 0.0003 ETH by an audit nobody funded.
   */
  let a1: `0x${string}`
  let a2: `0x${string}`
  let a3: `0x${string}`
  const problems: string[] = []
  const hexChainId = () => `0x${chain.chainId.toString(16)}` as Hex

  /** Deploys a second ERC-20 on the devnet and mints some to the operator (who funds). */
  async function deployOtherToken(): Promise<Address> {
    const { wallet, client } = node.node.chain!
    const deployed = await client.waitForTransactionReceipt({
      hash: await wallet.deployContract({
        abi: testTokenAbi,
        bytecode: testTokenBytecode,
        args: ['Other Token', 'OTHR'],
      } as Parameters<typeof wallet.deployContract>[0]),
    })
    const address = getAddress(deployed.contractAddress!)
    await client.waitForTransactionReceipt({
      hash: await wallet.writeContract({
        address,
        abi: testTokenAbi,
        functionName: 'mint',
        args: [wallet.account.address, 10n ** 21n],
      } as Parameters<typeof wallet.writeContract>[0]),
    })
    return address
  }

  beforeAll(async () => {
    node = await TestNode.startDevnet({ explorerUrl: EXPLORER, publicUrl: PUBLIC_URL })
    browser = await launchChromium()
    chain = (await node.call('GET', '/chain')).json
    const eth = await stoppedAudit(node, 'Paid in ETH', { bond: '0.0015 ETH' })
    tokens = eth.tokens
    paidInEth = eth.id
    paidInToken = (
      await stoppedAudit(node, 'Paid in tokens', { bond: '900', token: chain.token!, tokens })
    ).id
    // Created last, named to sort first: the page lists by name, and says so.
    other = await deployOtherToken()
    paidInOther = (
      await stoppedAudit(node, 'An other token', { bond: '900', token: other, tokens })
    ).id
    const admin = node.operatorToken
    for (const [id, amount] of [
      [paidInEth, '0.0015 ETH'],
      [paidInToken, '900'],
      [paidInOther, '900'],
    ] as const) {
      const funded = await node.call('POST', `/audits/${id}/fund`, {
        token: admin,
        body: { amount },
      })
      expect(funded.status).toBe(200)
      await untilComplete(node, id)
    }
    await stoppedAudit(node, 'Zebra crossings', { bond: '0.0009 ETH', tokens })
    const addressOf = async (token: string) =>
      (await node.call('GET', '/accounts/me', { token })).json.address as `0x${string}`
    a1 = await addressOf(tokens[0]!)
    a2 = await addressOf(tokens[1]!)
    a3 = await addressOf(tokens[2]!)
  }, 240_000)

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
   * Gives the page a browser wallet (EIP-1193 `window.ethereum`) whose account is `account`, that
   * forwards the rest to anvil. It answers the n-th `eth_chainId` with `chainIds[n]` (the last one
   * after them; the node's chain without them), and refuses the `refuseSend`-th
   * `eth_sendTransaction` as a user would. Answers the methods the page called.
   */
  async function withWallet(
    page: Page,
    {
      account,
      chainIds = [],
      refuseSend,
    }: { account: string; chainIds?: Hex[]; refuseSend?: number },
  ): Promise<string[]> {
    const called: string[] = []
    await page.exposeFunction('rwaTestWallet', async (method: string, params: unknown[]) => {
      called.push(method)
      const nth = called.filter((m) => m === method).length
      if (method === 'eth_requestAccounts') return [account]
      if (method === 'eth_chainId' && chainIds.length > 0)
        return chainIds[Math.min(nth, chainIds.length) - 1]
      if (method === 'eth_sendTransaction' && nth === refuseSend)
        throw new Error('User rejected the request.')
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

  /** Lets anvil send for `address` (the payout keys are the node's) and gives it gas money. */
  async function impersonate(address: string): Promise<void> {
    await rpc(chain.rpcUrl, 'anvil_impersonateAccount', [address])
    await rpc(chain.rpcUrl, 'anvil_setBalance', [address, `0x${(10n ** 18n).toString(16)}`])
  }

  /** The transaction links in the wallet's status, each checked: linked to the explorer, mined from `from`. */
  async function sentFrom(page: Page, from: string): Promise<{ hashes: Hex[]; gas: bigint }> {
    const links = await page.$$eval('#wallet-status a.tx', (as) =>
      as.map((a) => [a.textContent, a.getAttribute('href')]),
    )
    const client = createPublicClient({ transport: http(chain.rpcUrl) })
    let gas = 0n
    for (const [hash, href] of links) {
      expect(href).toBe(`${EXPLORER}/tx/${hash}`)
      const receipt = await client.waitForTransactionReceipt({ hash: hash as Hex })
      expect([receipt.status, getAddress(receipt.from), getAddress(receipt.to!)]).toEqual([
        'success',
        from,
        getAddress(chain.escrow),
      ])
      gas += receipt.gasUsed * receipt.effectiveGasPrice
    }
    return { hashes: links.map(([hash]) => hash as Hex), gas }
  }

  /** The names of the audits the page lists, in its order. */
  const listedNames = (html: string) =>
    [...html.matchAll(/<td data-label="audit"><a href="[^"]+">([^<]+)<\/a>/g)].map((m) => m[1])

  test('shows what the escrow owes, in each unit, and the audits that pay the address', async () => {
    // A lowercase address is taken as well as an EIP-55 one.
    const response = await fetch(`${node.url}/ui/audits/payouts/${a1.toLowerCase()}`)
    expect(response.status).toBe(200)
    const html = await response.text()
    expect(html).toContain('<td class="num">0.0005 ETH</td>')
    expect(html).toContain('<td class="num">0.0000000000000003 RWAT</td>')
    // An audit paid in another ERC-20 shows, and what the escrow owes in it too.
    expect(html).toContain('<td>OTHR</td><td class="num">0.0000000000000003 OTHR</td>')
    expect(html).toContain(`href="/ui/audits/${encodeURIComponent(paidInEth)}">Paid in ETH</a>`)
    expect(html).toContain(
      `href="/ui/audits/${encodeURIComponent(paidInToken)}">Paid in tokens</a>`,
    )
    expect(listedNames(html)).toEqual([
      'An other token',
      'Paid in ETH',
      'Paid in tokens',
      'Zebra crossings',
    ])
    expect(html).toContain('Listed by name. Searched: all 4 audits of this node with a settlement.')
    expect(html).not.toContain('newest')
    expect(html).toContain(
      'not settled yet: the escrow owes it once the audit is funded and settled',
    )
    expect(html).toContain('Withdraw with your wallet')
    expect(html).toContain(
      'Sends 3 transactions to the escrow (0.0005 ETH, 0.0000000000000003 RWAT, 0.0000000000000003 OTHR)',
    )
    // The commands name the node's public URL, and the other token with --token.
    expect(html).toContain('one command per line (one with --token withdraws that token only)')
    const key = `--eth-key &#60;key file of ${a1}&#62; --node ${PUBLIC_URL}`
    expect(html).toContain(
      `<code id="withdraw-command">rwa payout withdraw ${key}\nrwa payout withdraw --token ${other} ${key}</code>`,
    )
    expect(html).not.toContain(`--node ${node.url}`)
    // The settlement transactions link to the explorer.
    const { transaction } = (await node.call('GET', `/audits/${paidInEth}/settlement`)).json
    expect(html).toContain(`href="${EXPLORER}/tx/${transaction.hash}"`)
    // Each payee on an audit's page links to its payouts page.
    const audit = await (await fetch(`${node.url}/ui/audits/${paidInEth}`)).text()
    for (const payee of [a1, a2]) expect(audit).toContain(`href="/ui/audits/payouts/${payee}"`)
  })

  test('lists a bounded number of paying audits by name, and says how many more and what was searched', async () => {
    const audits = node.node.audits
    const unitOf = async (token: string) =>
      (await node.call('GET', `/payouts/tokens/${token}`)).json as TokenUnit
    const all = await findPayingAudits(audits, a1, { unitOf, ledger: node.node.ledger })
    expect(all.listed.map((a) => [a.name, a.amount, a.token.toLowerCase()])).toEqual([
      ['An other token', 300n, other.toLowerCase()],
      ['Paid in ETH', 500_000_000_000_000n, NATIVE],
      ['Paid in tokens', 300n, chain.token!.toLowerCase()],
      ['Zebra crossings', 300_000_000_000_000n, NATIVE],
    ])
    const one = await findPayingAudits(audits, a1, {
      unitOf,
      ledger: node.node.ledger,
      limit: 1,
    })
    expect([one.listed.map((a) => a.name), one.more, one.searched, one.truncated]).toEqual([
      ['An other token'],
      3,
      4,
      false,
    ])
    const page = (paying: typeof one) =>
      payoutsPage({
        node: 'n1',
        address: a1,
        chain,
        owed: [],
        paying,
        nodeUrl: node.url,
        nameOf: () => undefined,
        explorer: undefined,
      })
    expect(page(one)).toContain(
      'Listed by name. Searched: all 4 audits of this node with a settlement. 3 more audits pay this address; the first 1 by name are listed.',
    )
    const two = await findPayingAudits(audits, a1, {
      unitOf,
      ledger: node.node.ledger,
      search: 2,
    })
    expect([two.listed.map((a) => a.name), two.more, two.searched, two.truncated]).toEqual([
      ['An other token', 'Paid in ETH'],
      0,
      2,
      true,
    ])
    expect(page(two)).toContain(
      "Listed by name. Searched: the first 2 audits by name of this node's audits with a settlement (more were left unsearched).",
    )
    const unpaid = await findPayingAudits(audits, '0x00000000000000000000000000000000000000aa', {
      unitOf,
      ledger: node.node.ledger,
    })
    expect(unpaid).toEqual({ listed: [], more: 0, searched: 4, truncated: false })
  })

  test("asks for each token's unit once, all at once, and lists the audits though no unit ever comes", {
    timeout: 10_000,
  }, async () => {
    // A unit read that never answers, as on a silent chain: the page must not wait for it per row.
    const asked: string[] = []
    const silent = (token: string) => {
      asked.push(token.toLowerCase())
      return new Promise<TokenUnit>(() => undefined)
    }
    const found = await findPayingAudits(node.node.audits, a1, {
      unitOf: silent,
      ledger: node.node.ledger,
      ms: 100,
    })
    // Four rows, three tokens: each asked for once.
    expect(asked.sort()).toEqual(['native', chain.token!.toLowerCase(), other.toLowerCase()].sort())
    expect(found.listed.map((a) => [a.name, formatAmount(a.amount, a.unit)])).toEqual([
      ['An other token', `300 base units of token ${other}`],
      ['Paid in ETH', '500000000000000 base units of token native'],
      ['Paid in tokens', `300 base units of token ${chain.token}`],
      ['Zebra crossings', '300000000000000 base units of token native'],
    ])
  })

  test('an invalid address gets a page saying what is wrong', async () => {
    // EIP-55's own example, and it with one letter's case flipped: the checksum no longer holds.
    const valid = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'
    const flipped = '0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed'
    expect([getAddress(valid), getAddress(flipped.toLowerCase())]).toEqual([valid, valid])
    const cases: [string, string][] = [
      ['nope', '"nope" is not an Ethereum address'],
      ['0x1234', '"0x1234" is not an Ethereum address'],
      ['%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'is not an Ethereum address'],
      [flipped, 'wrong EIP-55 checksum'],
    ]
    for (const [path, message] of cases) {
      const response = await fetch(`${node.url}/ui/audits/payouts/${path}`)
      expect([path, response.status]).toEqual([path, 400])
      expect(response.headers.get('content-type')).toContain('text/html')
      const html = await response.text()
      expect(html).toContain(message.replaceAll('"', '&#34;'))
      expect(html).not.toContain('<script>alert')
    }
    expect((await fetch(`${node.url}/ui/audits/payouts/${valid}`)).status).toBe(200)
  })

  test('without a wallet, the button says one is needed and shows the commands', async () => {
    const page = await open(`/ui/audits/payouts/${a1}`)
    await page.click('#withdraw-wallet')
    const text = await (await page.waitForSelector('#wallet-missing')).textContent()
    expect(text).toContain('browser wallet extension')
    const key = `--eth-key <key file of ${a1}> --node ${PUBLIC_URL}`
    expect(await page.textContent('#wallet-status pre')).toBe(
      `rwa payout withdraw ${key}\nrwa payout withdraw --token ${other} ${key}`,
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
    const calledOnChain1 = await withWallet(other, { account: a1, chainIds: ['0x1'] })
    await other.click('#withdraw-wallet')
    expect(await (await other.waitForSelector('#wallet-refused')).textContent()).toContain(
      `Your wallet is on chain 1, but this node's escrow is on chain ${chain.chainId}; switch the wallet to chain ${chain.chainId} and click again. Nothing was sent.`,
    )
    expect(calledOnChain1).toEqual(['eth_requestAccounts', 'eth_chainId'])
    await other.close()
    expect(await owedTo(chain, a1, NATIVE)).toBe(500_000_000_000_000n)
    expect(await owedTo(chain, a1, chain.token!)).toBe(300n)
  })

  test('the wallet button withdraws every token owed, from the payout address, then stays disabled', async () => {
    await impersonate(a1)
    const ethBefore = await balanceOf(chain, a1, NATIVE)
    const tokenBefore = await balanceOf(chain, a1, chain.token!)
    const page = await open(`/ui/audits/payouts/${a1}`)
    const called = await withWallet(page, { account: a1.toLowerCase() })
    await page.click('#withdraw-wallet')
    await page.waitForSelector('#wallet-sent')
    // A second click could only revert (NothingOwed).
    expect(await page.$eval('#withdraw-wallet', (b) => (b as { disabled: boolean }).disabled)).toBe(
      true,
    )
    expect(called.filter((m) => m === 'eth_sendTransaction')).toHaveLength(3)
    // The chain is checked before each transaction.
    expect(called.filter((m) => m === 'eth_chainId')).toHaveLength(3)
    const { hashes, gas } = await sentFrom(page, a1)
    expect(hashes).toHaveLength(3)
    await page.close()
    for (const token of [NATIVE, chain.token!, other])
      expect(await owedTo(chain, a1, token)).toBe(0n)
    const ethAfter = await balanceOf(chain, a1, NATIVE)
    expect(ethAfter).toBe(ethBefore + 500_000_000_000_000n - gas)
    expect(ethAfter).toBeGreaterThan(ethBefore)
    expect(await balanceOf(chain, a1, chain.token!)).toBe(tokenBefore + 300n)
    expect(await balanceOf(chain, a1, other)).toBe(300n)
    // The page now says nothing is owed, and offers no button.
    const html = await (await fetch(`${node.url}/ui/audits/payouts/${a1}`)).text()
    expect(html).toContain('Nothing is owed to this address')
    expect(html).not.toContain('id="withdraw-wallet"')
    // a2 was not touched.
    expect(await owedTo(chain, a2, NATIVE)).toBe(500_000_000_000_000n)
  })

  test('a wallet refusing a later withdrawal leaves the ones it sent in the status', async () => {
    await impersonate(a2)
    const page = await open(`/ui/audits/payouts/${a2}`)
    const called = await withWallet(page, { account: a2, refuseSend: 2 })
    await page.click('#withdraw-wallet')
    const error = await (await page.waitForSelector('#wallet-error')).textContent()
    expect(error).toContain('The wallet did not send the withdrawal of 0.0000000000000003 RWAT: ')
    expect(error).toContain('User rejected the request.')
    expect(await page.textContent('#wallet-status')).toContain('Sent so far:')
    const { hashes } = await sentFrom(page, a2)
    expect(hashes).toHaveLength(1)
    expect(called.filter((m) => m === 'eth_sendTransaction')).toHaveLength(2)
    // Something is still owed: the button may be clicked again.
    expect(await page.$eval('#withdraw-wallet', (b) => (b as { disabled: boolean }).disabled)).toBe(
      false,
    )
    await page.close()
    expect(await owedTo(chain, a2, NATIVE)).toBe(0n)
    expect(await owedTo(chain, a2, chain.token!)).toBe(300n)
    expect(await owedTo(chain, a2, other)).toBe(300n)
  })

  test('a wallet switching chains between two withdrawals is stopped, and the status keeps what it sent', async () => {
    await impersonate(a3)
    const page = await open(`/ui/audits/payouts/${a3}`)
    const called = await withWallet(page, { account: a3, chainIds: [hexChainId(), '0x1'] })
    await page.click('#withdraw-wallet')
    const refused = await (await page.waitForSelector('#wallet-refused')).textContent()
    expect(refused).toContain(
      `Your wallet is on chain 1, but this node's escrow is on chain ${chain.chainId}`,
    )
    expect(refused).toContain(
      'The withdrawal of 0.0000000000000003 RWAT and any after it were not sent.',
    )
    expect(called).toEqual([
      'eth_requestAccounts',
      'eth_chainId',
      'eth_sendTransaction',
      'eth_chainId',
    ])
    const { hashes } = await sentFrom(page, a3)
    expect(hashes).toHaveLength(1)
    await page.close()
    expect(await owedTo(chain, a3, NATIVE)).toBe(0n)
    expect(await owedTo(chain, a3, chain.token!)).toBe(300n)
  })

  test('while the chain does not answer, the page still comes, says so, and lists the audits', async () => {
    // anvil stopped (not ended): it takes connections and answers none, as a silent RPC would.
    const anvil = Number(readFileSync(join(node.dataDir, 'devnet', 'anvil.pid'), 'utf8').trim())
    expect(Number.isInteger(anvil) && anvil > 0).toBe(true)
    process.kill(anvil, 'SIGSTOP')
    try {
      // An audit in a token whose unit was never read: the page asks the silent chain for it.
      const silentToken = '0x00000000000000000000000000000000000b0b0b'
      await stoppedAudit(node, 'Bob token', { bond: '900', token: silentToken, tokens })
      const response = await fetch(`${node.url}/ui/audits/payouts/${a1}`)
      expect(response.status).toBe(200)
      const html = await response.text()
      expect(html).toContain(
        `The escrow ${chain.escrow} on chain ${chain.chainId} does not answer; reload this page once it does.`,
      )
      expect(html).not.toContain('id="withdraw-wallet"')
      expect(listedNames(html)).toEqual([
        'An other token',
        'Bob token',
        'Paid in ETH',
        'Paid in tokens',
        'Zebra crossings',
      ])
      expect(html).toContain(`300 base units of token ${silentToken}`)
    } finally {
      process.kill(anvil, 'SIGCONT')
    }
  }, 60_000)
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
