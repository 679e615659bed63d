import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { ETH_UNIT, formatAmount } from '../src/core/amount.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { TestNode } from './node-fixture.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

const bin = join(import.meta.dirname, '..', 'bin', 'rwa.js')
const output = join(import.meta.dirname, '..', 'test-output')
const run = hasSystemService(SYSTEM_SERVICES.chromium)
const EXPLORER = 'https://explorer.example'

describe.runIf(run)('dashboard in a real Chromium', () => {
  let node: TestNode
  let browser: Browser
  const problems: string[] = []

  beforeAll(async () => {
    node = await TestNode.start()
    // With a block explorer configured: transactions and addresses become links.
    const config = join(node.dataDir, 'config.toml')
    writeFileSync(
      config,
      readFileSync(config, 'utf8').replace(
        /^# explorer_url = .*$/m,
        `explorer_url = "${EXPLORER}/"`,
      ),
    )
    await node.restart()
    browser = await launchChromium()
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
      // Each payee links to its payouts page (what it is owed, and how to withdraw).
      ...api.payees.map((p: string, i: number) => [`${p} payouts`, eth(api.amounts[i])]),
      ['remainder of the bond (back to the sponsor)', eth(api.remainder)],
    ])
    expect(
      await page.$$eval('#payouts a.payouts-link', (as) => as.map((a) => a.getAttribute('href'))),
    ).toEqual(api.payees.map((p: string) => `/ui/audits/payouts/${p}`))
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

  /** Accounts named `names`, in an audit of `items` they all answer yes to; answers the tokens and id. */
  async function auditWith(name: string, names: string[], items: string[]) {
    const admin = node.operatorToken
    const tokens: string[] = []
    for (const account of names)
      tokens.push(
        (await node.call('POST', '/accounts', { token: admin, body: { name: account } })).json
          .token,
      )
    const id = (await node.call('POST', '/audits', { token: admin, body: { name, bond: '900' } }))
      .json.audit as string
    for (const description of items)
      await node.call('POST', `/audits/${id}/items`, { token: admin, body: { description } })
    await node.call('POST', `/audits/${id}/open`, { token: admin })
    for (const token of tokens) await node.call('POST', `/audits/${id}/register`, { token })
    await node.call('POST', `/audits/${id}/close`, { token: admin })
    await node.call('POST', `/audits/${id}/start`, { token: admin })
    return { id, tokens }
  }

  test('admin controls show only with a token of an admin of the audit; others see a hint', async () => {
    const { id, tokens } = await auditWith('Admins only', ['adm1'], ['bench 2 is painted'])
    await node.call('POST', `/audits/${id}/stop`, { token: node.operatorToken })
    const second = (
      await node.call('POST', '/audits', {
        token: node.operatorToken,
        body: { name: 'Still open', bond: '10' },
      })
    ).json.audit
    const home = await open('/')
    // A visitor without a token: no create form, a hint instead.
    expect(await home.isVisible('#create')).toBe(false)
    expect(await home.isVisible('#create-hint')).toBe(true)
    await useToken(home, tokens[0]!) // any account may create audits
    expect(await home.isVisible('#create')).toBe(true)
    expect(await home.isVisible('#create-hint')).toBe(false)
    await home.close()

    const page = await open(`/ui/audits/${second}`)
    expect(await page.isVisible('#admin')).toBe(false)
    expect(await page.isVisible('#action-open')).toBe(false)
    expect(await page.isVisible('#admin-hint')).toBe(true)
    // An account that is no admin of this audit (an auditor) sees no admin controls either.
    await useToken(page, tokens[0]!)
    expect(await page.textContent('#message')).toBe('Token saved in this browser: account "adm1".')
    expect(await page.isVisible('#action-open')).toBe(false)
    // A token that matches no account says so, and shows nothing more.
    await page.fill('#token-form input[name=token]', 'rwa_not-a-token')
    await page.click('#token-form button')
    expect(await (await page.waitForSelector('#message.error')).textContent()).toMatch(
      /matches no account/,
    )
    expect(await page.isVisible('#action-open')).toBe(false)
    const refused = problems.findIndex((p) => p.includes('status of 401'))
    expect(refused).toBeGreaterThanOrEqual(0)
    problems.splice(refused, 1)
    // The audit's admin (the operator, who created it) gets them, and the hint goes.
    await useToken(page, node.operatorToken)
    expect(await page.isVisible('#action-open')).toBe(true)
    expect(await page.isVisible('#admin-hint')).toBe(false)
    expect(await page.textContent('#admin-hint')).toContain('admin of this audit')
    // They stay through the live refresh, which re-renders the page.
    await page.click('#action-open')
    await page.waitForSelector('#states li.current:has-text("AUDITOR_REGISTRATION")')
    expect(await page.isVisible('#action-close')).toBe(true)
    await page.close()
  }, 60_000)

  test('an unknown audit or page answers an HTML page saying so, with a way home; the API stays JSON', async () => {
    const page = await open('/')
    for (const [path, text] of [
      ['/ui/audits/no%20such%20audit', 'no such audit'],
      ['/ui/nothing-here', 'There is no page at /ui/nothing-here.'],
    ] as const) {
      const response = await page.goto(`${node.url}${path}`)
      expect(response?.status()).toBe(404)
      expect(response?.headers()['content-type']).toMatch(/^text\/html/)
      expect(await page.textContent('h1')).toBe('Not found')
      expect(await page.textContent('#error p')).toContain(text)
      expect(await page.getAttribute('#error a', 'href')).toBe('/')
    }
    const problem404 = problems.filter((p) => p.includes('status of 404'))
    expect(problem404).toHaveLength(2)
    problems.splice(0, problems.length, ...problems.filter((p) => !p.includes('status of 404')))
    const api = await node.call('GET', '/audits/no%20such%20audit')
    expect([api.status, api.json.error]).toEqual([404, 'AuditNotFoundError'])
    await page.close()
  }, 60_000)

  test('at 390 px a settled audit reads well: names for keys, a linked transaction, no cramped columns', async () => {
    const { id, tokens } = await auditWith(
      'Benches along the riverside walk',
      ['ana', 'bo', 'cy'],
      [
        'the bench by the old boathouse has all its slats and no loose bolts',
        'the bench under the chestnut tree is clean',
      ],
    )
    const page = await open(`/ui/audits/${id}`, 390)
    await useToken(page, node.operatorToken)
    // Outstanding inspections name the auditors' accounts; the key is on hover.
    const me = (await node.call('GET', '/accounts/me', { token: tokens[0] })).json
    const outstanding = await page.$$eval('#outstanding .name', (s) => s.map((e) => e.textContent))
    expect(outstanding.sort()).toEqual(['ana', 'ana', 'bo', 'bo', 'cy', 'cy'])
    expect(await page.textContent(`#outstanding .name[title="${me.key}"] >> nth=0`)).toBe('ana')
    expect(await page.textContent('#states + p')).toContain('admin operator')
    for (const token of tokens)
      for (let i = 0; i < 2; i++)
        await node.call('POST', `/audits/${id}/answer`, { token, body: { answer: 'yes' } })
    await node.call('POST', `/audits/${id}/stop`, { token: node.operatorToken })
    // What the settler records once the escrow paid: the transaction's hash.
    const tx = `0x${'ab'.repeat(32)}`
    await node.node.actions.recordSettled(node.node.accounts.get(OPERATOR)!, id, {
      chainId: 1,
      escrow: '0x0000000000000000000000000000000000000001',
      tx,
    })
    await page.reload()
    await page.waitForSelector('#states li.current:has-text("COMPLETE")')
    expect(await page.getAttribute('#settlement-status a', 'href')).toBe(`${EXPLORER}/tx/${tx}`)
    expect(await page.textContent('#settlement-status a')).toBe(tx)
    // Payouts and auditors go by their names, linked to their addresses on the explorer.
    const payees = await page.$$eval('#payouts a.name', (links) =>
      links.map((a) => [a.textContent, a.getAttribute('href'), a.getAttribute('title')]),
    )
    expect(payees.map(([name]) => name).sort()).toEqual(['ana', 'bo', 'cy'])
    expect(payees.find(([name]) => name === 'ana')).toEqual([
      'ana',
      `${EXPLORER}/address/${me.address}`,
      me.address,
    ])
    const auditors = await page.$$eval('#auditors a.name', (l) => l.map((a) => a.textContent))
    expect(auditors.sort()).toEqual(['ana', 'bo', 'cy'])
    // Usable at phone width: nothing scrolls sideways, and no text of several words is squeezed
    // into a column a word or two wide.
    const layout = await page.evaluate<{ width: number; sideways: string[]; cramped: string[] }>(
      `(() => {
        const sideways = [...document.querySelectorAll('body, main, section, table')]
          .filter((e) => e.scrollWidth > e.clientWidth + 1)
          .map((e) => e.tagName.toLowerCase() + '#' + e.id)
        const cramped = [...document.querySelectorAll('main *')]
          .filter((e) => {
            const own = [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim()
            const width = e.getBoundingClientRect().width
            return own.split(/\\s+/).length >= 3 && width > 0 && width < 120
          })
          .map((e) => e.tagName.toLowerCase() + ' "' + e.textContent.trim().slice(0, 40) + '"')
        return { width: document.documentElement.scrollWidth, sideways, cramped }
      })()`,
    )
    expect(layout).toEqual({ width: 390, sideways: [], cramped: [] })
    await page.screenshot({ path: join(output, 'dashboard-audit-phone.png'), fullPage: true })
    await page.close()
  }, 60_000)
})
