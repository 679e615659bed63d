import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import {
  addressOf,
  peerOf,
  type SwapTestNode,
  swapCluster,
  until,
  writeOps,
} from './fixtures/swap-nodes.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

// The SWAP page of a real node in a real Chromium: a mock-mode server that a puller owes (and
// that soft mode keeps serving), with the shell's stylesheet, script and live refresh.

const run = hasSystemService(SYSTEM_SERVICES.chromium)

describe.runIf(run)('the SWAP page in a real Chromium', () => {
  let cluster: ReturnType<typeof swapCluster>
  let a: SwapTestNode
  let c: SwapTestNode
  let browser: Browser
  const problems: string[] = []

  beforeAll(async () => {
    cluster = swapCluster()
    a = await cluster.start('a', { mode: 'soft', payment_threshold: 50_000, refresh_rate: 0 })
    await writeOps(a.node, 'from a', 120)
    c = await cluster.start('c', { mode: 'soft', refresh_rate: 0 }, { peers: [addressOf(a.node)] })
    await until(
      'a to have served c past its threshold',
      () => (a.node.swap.bookkeeper!.view(peerOf(c.node))?.balance ?? 0n) > 62_500n,
    )
    browser = await launchChromium()
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await cluster?.close()
  })

  afterEach(() => {
    const found = problems.splice(0)
    expect(found, 'console errors and page errors').toEqual([])
  })

  async function open(path: string, width = 1280): Promise<Page> {
    const page = await browser.newPage({ viewport: { width, height: 900 } })
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`))
    await page.goto(`${a.node.url}${path}`)
    return page
  }

  test('lists the puller with what it owes, marked cut off, and the thresholds', async () => {
    const page = await open('/ui/swap')
    expect(await page.textContent('#swap-mode')).toBe('soft')
    const row = page.locator(`#swap-peers tr[data-peer="${peerOf(c.node)}"]`)
    await row.waitFor()
    expect(await row.getAttribute('class')).toBe('standing-cut-off')
    expect(await row.locator('td.balance').textContent()).toMatch(/owes us/)
    expect(await page.textContent('#swap-terms')).toMatch(/50000|50,000/)
    await page.close()
  })

  test('the home page carries the SWAP card; the page reads well on a phone', async () => {
    const home = await open('/')
    await home.waitForSelector('#swap')
    // The card fills itself in from the accounts (it may first say it is reading them).
    await home.waitForSelector('#swap-card-mode', { timeout: 15_000 }).catch(async () => {
      await home.reload()
      await home.waitForSelector('#swap-card-mode')
    })
    expect(await home.textContent('#swap-card-mode')).toBe('soft')
    await home.close()
    const phone = await open('/ui/swap', 390)
    await phone.locator(`#swap-peers tr[data-peer="${peerOf(c.node)}"]`).waitFor()
    const overflow = await phone.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    )
    expect(overflow).toBeLessThanOrEqual(0)
    await phone.close()
  })
})
