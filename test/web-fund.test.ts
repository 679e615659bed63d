import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TestNode } from './node-fixture.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

const output = join(import.meta.dirname, '..', 'test-output')
const run = hasSystemService(SYSTEM_SERVICES.chromium)

describe.runIf(run)('funding from the dashboard, in a real Chromium, on the devnet', () => {
  let node: TestNode
  let browser: Browser

  beforeAll(async () => {
    const t = await TestNode.startDevnet()
    node = t
    browser = await launchChromium()
    mkdirSync(output, { recursive: true })
  }, 120_000)

  afterAll(async () => {
    await browser?.close()
    await node?.stop()
  })

  test('the audit page shows funded against needed, and a Fund click settles the audit', async () => {
    const admin = node.operatorToken
    const tokens: string[] = []
    for (const name of ['w1', 'w2', 'w3'])
      tokens.push(
        (await node.call('POST', '/accounts', { token: admin, body: { name } })).json.token,
      )
    const id = (
      await node.call('POST', '/audits', {
        token: admin,
        body: { name: 'Fund by click', bond: '1500000000000000' },
      })
    ).json.audit as string
    await node.call('POST', `/audits/${id}/items`, { token: admin, body: { description: 'A' } })
    await node.call('POST', `/audits/${id}/open`, { token: admin })
    for (const token of tokens) await node.call('POST', `/audits/${id}/register`, { token })
    await node.call('POST', `/audits/${id}/close`, { token: admin })
    await node.call('POST', `/audits/${id}/start`, { token: admin })
    for (const token of tokens)
      await node.call('POST', `/audits/${id}/answer`, { token, body: { answer: 'yes' } })
    await node.call('POST', `/audits/${id}/stop`, { token: admin })

    const problems: string[] = []
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('pageerror', (error) => problems.push(error.message))
    await page.goto(`${node.url}/ui/audits/${id}`)
    await page.waitForSelector('#states li.current:has-text("WAITING_FOR_CONTRACT")')
    expect(await page.textContent('#funded')).toContain(
      'Funded 0 ETH of 0.0015 ETH needed (0.0015 ETH to go)',
    )
    expect(await page.textContent('#settlement-status')).toContain(
      'Waiting for funding: the escrow holds 0 ETH of the 0.0015 ETH the settlement pays',
    )
    expect(await page.textContent('#payouts')).toContain('0.0005 ETH')
    // The form offers what is missing; the operator's token funds it from the operator's key.
    expect(await page.inputValue('#funding input[name=amount]')).toBe('0.0015 ETH')
    await page.fill('#token-form input[name=token]', admin)
    await page.click('#token-form button')
    // A part first: the form then offers the new remainder, not the sum it offered before (which
    // would pay twice at a second click).
    await page.fill('#funding input[name=amount]', '0.0005 ETH')
    await page.click('#fund')
    await page.waitForSelector('#funded:has-text("Funded 0.0005 ETH of 0.0015 ETH")')
    await expect.poll(() => page.inputValue('#funding input[name=amount]')).toBe('0.001 ETH')
    await page.click('#fund')
    await page.waitForSelector('#states li.current:has-text("COMPLETE")', { timeout: 60_000 })
    expect(await page.textContent('#funded')).toContain('Funded 0.0015 ETH of 0.0015 ETH needed')
    expect(await page.$('#fund')).toBeNull()
    await page.screenshot({ path: join(output, 'dashboard-funded.png'), fullPage: true })
    // An auditor's earnings show in the audit's token too.
    await page.goto(`${node.url}/ui/audits/${id}/me`)
    await page.fill('#token-form input[name=token]', tokens[0]!)
    await page.click('#token-form button')
    expect(await (await page.waitForSelector('#earnings')).textContent()).toBe(
      '1 aligned, 0 misaligned, 0 missing: 0.0005 ETH',
    )
    await page.close()
    expect(problems).toEqual([])
    const owed = (
      await node.call(
        'GET',
        `/payouts/${(await node.call('GET', '/accounts/me', { token: tokens[0] })).json.address}`,
      )
    ).json.owed
    expect(owed).toContainEqual({
      token: { address: 'native', symbol: 'ETH', decimals: 18 },
      amount: '500000000000000',
    })
  }, 180_000)
})
