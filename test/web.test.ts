import { execFile } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { ETH_UNIT, formatAmount } from '../src/core/amount.ts'
import { TestNode } from './node-fixture.ts'
import { hasSystemService, SYSTEM_SERVICES } from './system.ts'

const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')
const output = join(import.meta.dirname, '..', 'test-output')
const run = hasSystemService(SYSTEM_SERVICES.chromium)

describe.runIf(run)('dashboard in a real Chromium', () => {
  let node: TestNode
  let browser: Browser
  const problems: string[] = []

  beforeAll(async () => {
    node = await TestNode.start()
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    })
    mkdirSync(output, { recursive: true })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await node?.stop()
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
    await page.goto(`${node.url}${path}`)
    return page
  }

  async function useToken(page: Page, token: string) {
    await page.fill('#token-form input[name=token]', token)
    await page.click('#token-form button')
    await page.waitForSelector('#message.ok')
  }

  test('follows the demo live to WAITING_FOR_CONTRACT; the payouts table matches the API', async () => {
    const page = await open('/')
    expect(await page.textContent('h1')).toBe('Node “n1”')
    const demo = promisify(execFile)(process.execPath, [
      bin,
      'demo',
      '--json',
      '--items',
      '4',
      '--auditors',
      '5',
      '--dishonest',
      '20',
      '--node',
      node.url,
      '--data-dir',
      node.dataDir,
    ])
    // The list refreshes itself: the demo's audit appears without a reload.
    await page.click('#audits a:has-text("demo ")', { timeout: 30_000 })
    await page.waitForSelector('#states li.current:has-text("WAITING_FOR_CONTRACT")', {
      timeout: 30_000,
    })
    const result = JSON.parse((await demo).stdout)
    const rows = await page.$$eval('#payouts tr', (trs) =>
      trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim())),
    )
    const view = (await node.call('GET', `/audits/${result.audit}`)).json
    const api = view.settlement
    // Amounts show in the audit's token (ETH here), exactly: base units recoverable.
    expect(view.token).toEqual(ETH_UNIT)
    const eth = (base: string) => formatAmount(BigInt(base), ETH_UNIT)
    expect(rows).toEqual([
      ...api.payees.map((p: string, i: number) => [p, eth(api.amounts[i])]),
      ['remainder of the bond (back to the sponsor)', eth(api.remainder)],
    ])
    expect(await page.textContent('#items')).toContain('street light 1 works')
    expect(
      await page.$$eval('#items .bar span', (bars) =>
        bars.map((b) => (b as unknown as { style: { width: string } }).style.width),
      ),
    ).toEqual(['100%', '100%', '100%', '100%'])
    await page.screenshot({ path: join(output, 'dashboard-audit.png'), fullPage: true })
    await page.close()
  }, 90_000)

  test('admin buttons run the audit and API errors show as readable messages', async () => {
    const page = await open('/')
    await useToken(page, node.operatorToken)
    await page.fill('#create input[name=name]', 'Park benches')
    await page.fill('#create input[name=bond]', '600')
    await page.click('#create button')
    await page.click('#audits a:has-text("Park benches")', { timeout: 10_000 })
    await page.waitForSelector('#states li.current:has-text("INITIALIZATION")')
    await page.fill('#admin input[name=description]', 'bench 1 is painted')
    await page.click('#add-item')
    await page.waitForSelector('#items td:has-text("bench 1 is painted")')
    await page.click('#action-open')
    await page.waitForSelector('#states li.current:has-text("AUDITOR_REGISTRATION")')
    await page.click('#action-close')
    const error = await page.waitForSelector('#message.error')
    expect(await error.textContent()).toMatch(/auditors/)
    // Chromium logs the refused request (HTTP 409) itself; that one is expected, nothing else.
    const refused = problems.findIndex((p) => p.includes('status of 409'))
    expect(refused).toBeGreaterThanOrEqual(0)
    problems.splice(refused, 1)
    await page.close()
  }, 60_000)

  test('the live refresh keeps what the user is typing', async () => {
    const page = await open('/')
    await useToken(page, node.operatorToken) // a message is showing: it used to force a re-render every tick
    await page.fill('#create input[name=name]', 'Half typed')
    await page.focus('#create input[name=bond]')
    // A new audit changes the page under the form: the refresh must re-render it.
    await node.call('POST', '/audits', {
      token: node.operatorToken,
      body: { name: 'Made elsewhere', bond: '5' },
    })
    await page.waitForSelector('#audits a:has-text("Made elsewhere")', { timeout: 10_000 })
    await page.waitForTimeout(3200) // two more refresh ticks
    expect(await page.inputValue('#create input[name=name]')).toBe('Half typed')
    expect(await page.evaluate('document.activeElement.getAttribute("name")')).toBe('bond')
    await page.close()
  }, 60_000)

  test('an auditor answers its inspection with a click, on a phone-sized screen', async () => {
    const admin = node.operatorToken
    const tokens: string[] = []
    for (const name of ['web1', 'web2', 'web3'])
      tokens.push(
        (await node.call('POST', '/accounts', { token: admin, body: { name } })).json.token,
      )
    const id = (
      await node.call('POST', '/audits', {
        token: admin,
        body: { name: 'Street signs', bond: '300' },
      })
    ).json.audit
    await node.call('POST', `/audits/${id}/items`, {
      token: admin,
      body: { description: 'sign 7 is readable' },
    })
    await node.call('POST', `/audits/${id}/open`, { token: admin })
    for (const token of tokens) await node.call('POST', `/audits/${id}/register`, { token })
    await node.call('POST', `/audits/${id}/close`, { token: admin })
    await node.call('POST', `/audits/${id}/start`, { token: admin })

    const page = await open(`/ui/audits/${id}/me`, 390)
    await useToken(page, tokens[0]!)
    expect(await (await page.waitForSelector('#inspection')).textContent()).toBe(
      'sign 7 is readable',
    )
    await page.click('#answer-yes')
    await page.waitForSelector('#inspection-none')
    expect(await page.textContent('#auditor table')).toContain('answered')
    const me = (await node.call('GET', '/accounts/me', { token: tokens[0] })).json
    const summary = (await node.call('GET', `/audits/${id}/auditors/${me.key}`)).json
    expect(summary.inspections).toMatchObject([{ status: 'answered', answer: true }])
    // Readable at phone width: nothing wider than the screen.
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(
      390,
    )
    await page.goto(`${node.url}/ui/audits/${id}`)
    expect(await page.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(
      390,
    )
    await page.screenshot({ path: join(output, 'dashboard-phone.png'), fullPage: true })
    await page.close()
  }, 60_000)
})
