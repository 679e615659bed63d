import '../src/net/polyfill.ts'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { Browser, Page } from 'playwright-core'
import { getAddress, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { NodeClient } from '../src/cli/client.ts'
import { feedReportDigest } from '../src/core/feed/report.ts'
import type { FeedSeriesWire } from '../src/domains/feed/chart.ts'
import { runOracle } from '../src/domains/feed/cli/oracle-run.ts'
import { feedPlugin } from '../src/domains/feed/index.ts'
import { createFeedWeb } from '../src/domains/feed/pages.ts'
import { DOMAINS } from '../src/domains/index.ts'
import type { AnyPlugin } from '../src/domains/plugin.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { generateSigner } from '../src/store/key-file.ts'
import { callJson } from './node-fixture.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

// Chromium on the feed pages of a real node: the home card, the list, and a feed's page with its
// chart (drawn by the node), oracle table and last round on chain, redrawn as attestations come.
// The node hosts the feed domain with its pages added (a test plug-in: the node part as the
// domain builds it, plus createFeedWeb, whose chart reads the node's own series route).

const run = hasSystemService(SYSTEM_SERVICES.chromium)
const EXPLORER = 'https://explorer.example'
const AGGREGATOR = '0x00000000000000000000000000000000000f33d1'
const CHAIN_ID = 31337
const TX = `0x${'ab'.repeat(32)}`
/** The operator's report-signing key (its address is registered as the node's signer address). */
const output = join(import.meta.dirname, '..', 'test-output')
const REPORTER = privateKeyToAccount(`0x${'11'.repeat(32)}` as Hex)

/** The feed plug-in with its dashboard part, the chart reading `GET /feed/feeds/:ref/series`. */
function feedWithPages(url: () => string): AnyPlugin {
  return {
    ...feedPlugin,
    node: async () => {
      const part = await feedPlugin.node()
      return {
        ...part,
        create: async (components) => ({
          ...(await part.create(components)),
          web: createFeedWeb({
            node: 'n1',
            explorer: {
              tx: (hash) => `${EXPLORER}/tx/${hash}`,
              address: (a) => `${EXPLORER}/address/${a}`,
            },
            series: async (ref, last) => {
              const { status, json } = await callJson(
                url(),
                'GET',
                `/feed/feeds/${encodeURIComponent(ref)}/series?last=${last}`,
              )
              return status === 200 ? (json as FeedSeriesWire) : undefined
            },
          }),
        }),
      } as typeof part
    },
  } as AnyPlugin
}

describe.runIf(run)('feed pages in a real Chromium', () => {
  let root: string
  let node: RwaNode
  let browser: Browser
  let feed: OpId
  const oracles = Array.from({ length: 4 }, () => generateSigner())
  const keyOf = (s: { publicKey: Uint8Array }) => Buffer.from(s.publicKey).toString('hex')
  const problems: string[] = []
  // Ticks 2 s into a 10 s window whatever the wall clock says, so that the attestations share one.
  const offset = (Date.now() % 10_000) - 2000
  const now = () => Date.now() - offset

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'rwa-web-feed-'))
    const dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    node = createNode(loadConfig(dataDir), {
      port: 0,
      logger: pino({ level: 'silent' }),
      verifyPool: false,
      chain: { mode: 'none' },
      net: { enabled: false },
      domains: [...DOMAINS.filter((d) => d.domain.name !== 'feed'), feedWithPages(() => node.url)],
    })
    await node.start()
    const operator = node.accounts.get(OPERATOR)!
    const token = node.accounts.tokenPath(OPERATOR)
    const created = await callJson(node.url, 'POST', '/feed/feeds', {
      token: readFileSync(token, 'utf8').trim(),
      body: {
        pair: 'ETH/USD',
        decimals: 8,
        window: 10,
        heartbeat: 60,
        deviation: 5000,
        minSources: 1,
        maxAge: 300,
        oracles: oracles.map(keyOf),
        signers: [{ key: operator.key, address: REPORTER.address }],
        threshold: 1,
        chain: { chainId: CHAIN_ID, aggregator: AGGREGATOR },
      },
    })
    expect(created.status).toBe(200)
    feed = created.json.feed
    await attest([0, 1, 2], ['2500', '2501', '2502'])
    browser = await launchChromium()
    mkdirSync(output, { recursive: true })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await node?.stop()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  afterEach(() => {
    const found = problems.splice(0)
    expect(found, 'console errors and page errors').toEqual([])
  })

  /** Oracles `which` attest `prices` (simulated, no spread) once each. */
  async function attest(which: number[], prices: string[]) {
    const client = new NodeClient(node.url)
    const results = await Promise.all(
      which.map((i, k) =>
        runOracle({
          feed,
          client,
          signer: oracles[i]!,
          simulate: { price: prices[k]!, spreadPpm: 0 },
          count: 1,
          now,
        }),
      ),
    )
    expect(results.every((r) => r.attested === 1)).toBe(true)
  }

  /** The operator signs the latest window's report and records it as posted in round 7. */
  async function reportAndPost() {
    const { json: latest } = await callJson(node.url, 'GET', `/feed/feeds/${feed}/latest`)
    const digest = feedReportDigest(
      {
        window: BigInt(latest.window),
        answer: BigInt(latest.answer),
        observations: latest.observations,
        windowStart: BigInt(latest.window) * 10n,
        windowEnd: BigInt(latest.window + 1) * 10n,
        idsHash: latest.idsHash,
      },
      CHAIN_ID,
      AGGREGATOR,
    )
    const client = new NodeClient(node.url)
    const signer = node.accounts.get(OPERATOR)!.signer
    const common = { window: latest.window, chainId: CHAIN_ID, aggregator: AGGREGATOR }
    await client.submit(signer, {
      doc: feed,
      type: 'feed.report.sign',
      body: {
        ...common,
        answer: latest.answer,
        observations: latest.observations,
        idsHash: latest.idsHash,
        signature: await REPORTER.sign({ hash: digest }),
      },
    })
    await client.submit(signer, {
      doc: feed,
      type: 'feed.report.posted',
      body: { ...common, round: '7', tx: TX },
    })
  }

  async function open(path: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`))
    await page.goto(`${node.url}${path}`)
    return page
  }

  test('the home card and the list show each feed with its last answer', async () => {
    const home = await open('/')
    await home.waitForFunction(
      "/USD/.test(document.querySelector('#feed-card')?.textContent ?? '')",
    )
    expect(await home.textContent('#feed-card')).toContain('2501 USD')
    expect(await home.getAttribute('#feed-card a', 'href')).toBe(`/ui/feed/${feed}`)
    await home.close()

    const list = await open('/ui/feed')
    await list.waitForSelector('#feed-list tr[data-feed]')
    const row = (await list.textContent('#feed-list tr[data-feed]'))!
    expect(row).toContain('ETH/USD')
    expect(row).toContain('2501 USD')
    expect(row).toContain('10 s')
    expect(row).toContain('1 of 1')
    await list.close()
  })

  test("a feed's page shows the answer, the chart, the oracles and the round on chain, and follows new attestations", async () => {
    await reportAndPost()
    const page = await open(`/ui/feed/${encodeURIComponent('ETH/USD')}`)
    await page.waitForSelector('#feed-chart svg')
    expect(await page.textContent('#feed-title')).toBe('ETH/USD')
    expect(await page.textContent('#feed-answer')).toBe('2501 USD')
    expect(await page.textContent('#feed-observations')).toBe('3')
    expect(await page.textContent('#feed-settings')).toContain('window 10 s')
    // The chart: one dot per attestation, a legend entry per registered oracle and the aggregate.
    expect(await page.locator('#feed-chart svg circle[r="2.5"]').count()).toBe(3)
    const legend = await page.locator('#feed-chart .legend text').allTextContents()
    expect(legend).toHaveLength(4 + 1)
    expect(legend.at(-1)).toBe('aggregate (n1)')
    // The oracles: 2500 and 2502 are 399 ppm off the median (floored), so their deviation EWMA is 49 ppm
    // and their quality 1e6 × 10 000 / 10 049 ppm; the one at the median, and the one that has
    // not attested yet, keep full quality.
    await page.waitForSelector('#feed-oracle-table tr[data-oracle]')
    const rows = await page.locator('#feed-oracle-table tr[data-oracle]').allTextContents()
    expect(rows).toHaveLength(4)
    const rowOf = (text: string) => rows.filter((r) => r.includes(text))
    expect(rowOf('2501 USD')[0]).toContain('100.00')
    expect(rowOf('2500 USD')[0]).toContain('99.51')
    expect(rowOf('2502 USD')[0]).toContain('99.51')
    expect(rowOf('2502 USD')[0]).toContain('0.00none')
    // The round on chain, its transaction linked to the explorer, and the signed report.
    await page.waitForSelector('#feed-onchain-round')
    expect(await page.textContent('#feed-round')).toContain('Round 7')
    expect(await page.getAttribute('#feed-round a', 'href')).toBe(`${EXPLORER}/tx/${TX}`)
    expect(await page.textContent('#feed-reports tr[data-window]')).toContain('1 of 1')
    expect(await page.getAttribute('#feed-settings a.addr', 'href')).toBe(
      `${EXPLORER}/address/${getAddress(AGGREGATOR)}`,
    )

    // A fourth oracle attests: within a few refreshes the page and its chart show it.
    await attest([3], ['2600'])
    // (The page's types know no DOM: the conditions run in the page, written as its script.)
    await page.waitForFunction(
      "document.querySelector('#feed-observations')?.textContent === '4'",
      undefined,
      {
        timeout: 20_000,
      },
    )
    await page.waitForFunction(
      `document.querySelectorAll('#feed-chart svg circle[r="2.5"]').length === 4`,
      undefined,
      { timeout: 20_000 },
    )
    await page.screenshot({ path: join(output, 'feed.png'), fullPage: true })
    await page.close()
  }, 60_000)

  test('the chart is served as SVG; a bad window count or an unknown feed is refused', async () => {
    const svg = await fetch(`${node.url}/ui/feed/${feed}/chart.svg?last=5`)
    expect(svg.status).toBe(200)
    expect(svg.headers.get('content-type')).toBe('image/svg+xml; charset=utf-8')
    expect(await svg.text()).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/)
    const bad = await fetch(`${node.url}/ui/feed/${feed}/chart.svg?last=5000`)
    expect(bad.status).toBe(400)
    expect(await bad.text()).toContain('from 1 to 1000')
    const unknown = await fetch(`${node.url}/ui/feed/BTC%2FEUR/chart.svg`)
    expect(unknown.status).toBe(404)
  })
})
