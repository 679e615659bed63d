import '../src/net/polyfill.ts'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { IMPACT_OP } from '../src/core/impact/ops.ts'
import type { ImpactActions, ImpactIndex } from '../src/domains/impact/actions.ts'
import {
  actionsPage,
  auditorPage,
  auditorsPage,
  communityPage,
  impactCard,
  MAX_LISTED_REQUESTS,
  requestPage,
  requestsPage,
} from '../src/domains/impact/pages.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { type LocalAccount, OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { Community, keyOf as keyOfSigner, ROLES, requestInfo } from './impact-fixture.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

// Chromium clicks through an approval request's life on the impact pages. The node hosts the
// impact domain through a test-only plug-in (its rules and a node part made of the pages alone);
// the proxy's ops, which the proxy service signs in a real node, are signed here.

const run = hasSystemService(SYSTEM_SERVICES.chromium)
const EXPLORER = 'https://explorer.example'
const CID = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'
const NATIVE = 'base units of token 0 (native coin)'
const output = join(import.meta.dirname, '..', 'test-output')

/** The node's impact index and actions, which the test signs the proxy's ops with. */
type ImpactTestParts = { index: ImpactIndex; actions: ImpactActions }

describe.runIf(run)('impact pages in a real Chromium', () => {
  let root: string
  let node: RwaNode
  let browser: Browser
  let parts: ImpactTestParts
  const tokens = new Map<string, string>()
  const local = new Map<string, LocalAccount>()
  const problems: string[] = []

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'rwa-web-impact-'))
    const dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    node = createNode(
      { ...loadConfig(dataDir), explorerUrl: EXPLORER },
      {
        port: 0,
        logger: pino({ level: 'silent' }),
        verifyPool: false,
        chain: { mode: 'none' },
        net: { enabled: false },
      },
    )
    await node.start()
    parts = { index: node.impact, actions: node.impactActions }
    tokens.set(OPERATOR, readFileSync(node.accounts.tokenPath(OPERATOR), 'utf8').trim())
    local.set(OPERATOR, node.accounts.get(OPERATOR)!)
    for (const name of ['requester', 'proxy', 'aud1', 'aud2', 'aud3']) {
      const { account, token } = node.accounts.create({ name })
      tokens.set(name, token)
      local.set(name, account)
    }
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

  /** A page signed in as the local account `name`. */
  async function openAs(name: string, path: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`))
    await page.goto(`${node.url}${path}`)
    await page.fill('#token-form input[name=token]', tokens.get(name)!)
    await page.click('#token-form button')
    await page.waitForSelector('#message.ok')
    return page
  }

  /** Drops the console line Chromium logs for a refused request (the page shows the refusal). */
  function expectRefusal(status: number) {
    const at = problems.findIndex((p) => p.includes(`status of ${status}`))
    expect(at, `a console line for the ${status} refusal`).toBeGreaterThanOrEqual(0)
    problems.splice(at, 1)
  }

  const keyOf = (name: string) => local.get(name)!.key
  const proxyAct = (community: OpId, type: string, body: unknown) =>
    parts.actions.act(local.get('proxy')!, community, type, body)

  async function submit(page: Page, form: string, values: Record<string, string>) {
    for (const [name, value] of Object.entries(values))
      await page.fill(`${form} [name="${name}"]`, value)
    await page.click(`${form} button[data-path]`)
  }

  test('a governor sets up a community; a request is made, assigned, voted, approved and paid', async () => {
    // The governor (the operator) starts the community from the home card.
    const gov = await openAs(OPERATOR, '/')
    await submit(gov, '#impact-create', { name: 'Green Barcelona' })
    await gov.click('#impact-communities a:has-text("Green Barcelona")', { timeout: 10_000 })
    const community = decodeURIComponent(new URL(gov.url()).pathname.split('/')[3]!) as OpId
    expect(await gov.textContent('#governance')).toContain('1 of 1 approve a change')
    expect(await gov.isVisible('#governor')).toBe(true)

    await submit(gov, '#form-category', { uid: '1', description: 'Trees planted' })
    await gov.waitForSelector('#categories td:has-text("Trees planted")')
    // A category made by mistake is removed with its row's button, once confirmed.
    await submit(gov, '#form-category', { uid: '2', description: 'Plastic recycled' })
    await gov.waitForSelector('#categories td:has-text("Plastic recycled")')
    gov.once('dialog', (dialog) => void dialog.accept())
    await gov.click('#categories tr:has-text("Plastic recycled") button.remove')
    await gov.waitForSelector('#categories td:has-text("Plastic recycled")', { state: 'detached' })
    expect((await parts.index.reducer(community)).state().categories).toEqual([
      { uid: 1, description: 'Trees planted' },
    ])
    // A refused form shows the rule and the field, and changes nothing.
    await submit(gov, '#form-action', {
      uid: '1',
      description: 'Planting a tree',
      category: '1',
      auditors: '2',
      blockstart: '1',
      blockend: '1000000',
      rewardsamount: '1000',
      rewardsauditors: '50',
      slashingsauditors: '20',
      maxerrorsauditor: '2',
      fields: 'namesurname:S:Y, trees:X:N',
    })
    await gov.waitForSelector('#message.error')
    expect(await gov.textContent('#message')).toContain('fieldtype')
    expectRefusal(422)
    expect(await gov.textContent('#actions')).toContain('No impact action yet')
    await gov.fill('#form-action [name=fields]', 'namesurname:S:Y, trees:N:N')
    await gov.click('#form-action button[data-path]')
    await gov.waitForSelector('#actions td:has-text("Planting a tree")')
    const actionRow = await gov.textContent('#actions')
    expect(actionRow).toContain(`pays 1000 ${NATIVE} to the requester`)
    expect(actionRow).toContain(`50 ${NATIVE} shared by matching auditors`)
    expect(actionRow).toContain('namesurname (text, mandatory)')
    expect(actionRow).toContain('trees (number)')

    await submit(gov, '#form-proxy', { uid: '1', account: 'proxy' })
    await gov.waitForSelector('#proxies .name:has-text("proxy")')
    for (const [i, name] of ['aud1', 'aud2', 'aud3'].entries()) {
      await submit(gov, '#form-auditor', {
        account: name,
        description: `Auditor ${i + 1}`,
        categories: '1',
        area: '41.40338,2.17403',
      })
      await gov.waitForSelector(`#governance a:has-text("${i + 1} auditor(s)")`)
    }
    await gov.close()
    const reducer = await parts.index.reducer(community)
    expect(
      reducer
        .state()
        .auditors.map((a) => a.account)
        .sort(),
    ).toEqual(['aud1', 'aud2', 'aud3'].map(keyOf).sort())
    // Each auditor is paid at its local account's address.
    expect(reducer.auditor(keyOf('aud1'))!.payout).toBe(local.get('aud1')!.address)

    // The requester sees no governor's forms, and asks for approval with the action's form.
    const req = await openAs('requester', `/ui/impact/${community}`)
    expect(await req.isVisible('#governor')).toBe(false)
    await req.click('#impact-nav a:has-text("actions")')
    await req.waitForSelector('#form-request')
    await submit(req, '#form-request', { description: 'Planted a new tree', 'field:trees': '3' })
    await req.waitForSelector('#message.error')
    expect(await req.textContent('#message')).toContain('"namesurname" is mandatory')
    expectRefusal(422)
    await submit(req, '#form-request', {
      'field:namesurname': 'Jhone Smith',
      coordinates: '41.40338,2.17403',
      evidence: CID,
    })
    await req.waitForURL(/\/requests\/[^/]+$/)
    const request = decodeURIComponent(new URL(req.url()).pathname.split('/').at(-1)!) as OpId
    expect(await req.textContent('#request-status')).toBe('WAITING_FOR_AUDITORS')
    expect(await req.textContent('#request-note')).toBe('Waiting for the proxy to assign auditors.')
    expect(await req.textContent('#request-fields')).toContain('Jhone Smith')
    expect(await req.textContent('#evidence')).toContain(CID)
    const made = reducer.request(request)!
    expect([made.requester, made.payout]).toEqual([
      keyOf('requester'),
      local.get('requester')!.address,
    ])

    // The proxy funds the pool and assigns the draw at its claim of block 101.
    await proxyAct(community, IMPACT_OP.deposit, {
      token: 0,
      from: local.get(OPERATOR)!.address,
      amount: '10000',
      memo: `0x${'0'.repeat(64)}`,
      tx: `0x${'ab'.repeat(32)}`,
      logIndex: 0,
      block: 100,
    })
    const entropy = `0x${'01'.repeat(32)}` as const
    const { auditors } = reducer.drawFor(request, entropy)
    expect(auditors).toHaveLength(3)
    await proxyAct(community, IMPACT_OP.assignAuditor, {
      request,
      auditors,
      maxdays: 3,
      block: 101,
      entropy,
    })
    // The request page follows by itself: voting, each seat due by block 101 + 3 days.
    await req.waitForSelector('#request-status:has-text("VOTING")', { timeout: 10_000 })
    const seats = await req.$$eval('#assignments tr', (trs) =>
      trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    )
    expect(seats.map((s) => s.slice(1))).toEqual(
      auditors.map(() => [
        '101',
        String(101 + 3 * 7200),
        `waiting for its vote (due by block ${101 + 3 * 7200})`,
      ]),
    )

    // Each auditor votes from its queue on its own page: two Y, one N.
    const vote = async (name: string, choice: 'y' | 'n') => {
      const page = await openAs(name, `/ui/impact/${community}/auditors`)
      await page.click('#impact-my-auditor')
      await page.waitForSelector(`#queue tr[data-request="${request}"]`)
      await page.click(`#queue tr[data-request="${request}"] .vote-${choice}`)
      await page.waitForSelector('#queue-empty')
      await page.close()
    }
    await vote('aud1', 'y')
    await vote('aud3', 'n')
    // Another auditor's queue shows to aud1 without its vote buttons.
    const other = await openAs('aud1', `/ui/impact/${community}/auditors/${keyOf('aud2')}`)
    await other.waitForSelector(`#queue tr[data-request="${request}"]`)
    expect(await other.isVisible(`#queue tr[data-request="${request}"] .vote-y`)).toBe(false)
    expect(await other.isVisible('#queue [data-admin-hint]')).toBe(true)
    await other.close()
    await vote('aud2', 'y')
    expect(
      reducer
        .request(request)!
        .votes.map((v) => [v.auditor, v.vote])
        .sort(),
    ).toEqual(
      [
        [keyOf('aud1'), 'Y'],
        [keyOf('aud2'), 'Y'],
        [keyOf('aud3'), 'N'],
      ].sort(),
    )

    await proxyAct(community, IMPACT_OP.decide, { request, block: 102 })
    await req.waitForSelector('#request-status:has-text("APPROVED")', { timeout: 10_000 })
    expect(await req.textContent('#request-note')).toBe(reducer.request(request)!.note)
    expect(await req.textContent('#request-note')).toContain('block 102: 2 Y, 1 N')
    const payments = await req.$$eval('#payments tr', (trs) =>
      trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    )
    expect(payments.map((p) => p.join(' | ')).sort()).toEqual([
      `auditor | aud1 | 25 ${NATIVE} | not batched yet`,
      `auditor | aud2 | 25 ${NATIVE} | not batched yet`,
      `requester | requester | 1000 ${NATIVE} | not batched yet`,
    ])
    expect(await req.textContent('#slashes')).toContain('aud3')
    expect(await req.textContent('#paid')).toContain('wait for the proxy to close the next batch')

    // The proxy batches and records the settlement: the page names the transaction.
    await proxyAct(community, IMPACT_OP.batch, {
      token: 0,
      batch: 0,
      block: 103,
      chainId: 31337,
      escrow: local.get(OPERATOR)!.address,
    })
    const tx = `0x${'12'.repeat(32)}`
    await proxyAct(community, IMPACT_OP.settled, { token: 0, batch: 0, tx, block: 104 })
    await req.waitForSelector('#batches a.addr', { timeout: 10_000 })
    expect(await req.textContent('#batches')).toBe(
      `batch 0 of token 0 (native coin) (1050 ${NATIVE} in all): settled in ${tx} at block 104`,
    )
    expect(await req.getAttribute('#batches a.addr', 'href')).toBe(`${EXPLORER}/tx/${tx}`)
    await req.screenshot({ path: join(output, 'impact-request.png'), fullPage: true })
    await req.close()

    // The auditors page ranks them with their history and earnings; the pools show the batch.
    const view = await openAs('requester', `/ui/impact/${community}/auditors`)
    const rows = await view.$$eval('#auditor-list tr', (trs) =>
      trs.slice(1).map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    )
    const byName = new Map(rows.map((r) => [r[0]!.split(' ').at(-1), r]))
    expect(byName.get('aud3')!.slice(2, 6)).toEqual(['0', '1', '0', 'active'])
    expect(byName.get('aud1')!.slice(2, 8)).toEqual(['1', '0', '0', 'active', '—', `25 ${NATIVE}`])
    await view.screenshot({ path: join(output, 'impact-auditors.png'), fullPage: true })
    await view.click('#impact-nav a:has-text("registry")')
    const pool = await view.textContent('#pool-0')
    await view.screenshot({ path: join(output, 'impact-community.png'), fullPage: true })
    expect(pool).toContain(`10000 ${NATIVE}`)
    expect(pool).toContain(`settled in ${tx} at block 104`)
    await view.goto(`${node.url}/`)
    expect(await view.textContent('#impact-communities')).toMatch(
      /Green Barcelona\s*IDLE\s*1\s*0\s*1/,
    )
    await view.close()
  }, 120_000)

  test('with two governors needed, a change waits as a proposal until the second approves it', async () => {
    const created = await parts.actions.create(local.get(OPERATOR)!, { name: 'Two keys' })
    const community = created.id
    const gov = await openAs(OPERATOR, `/ui/impact/${community}`)
    await submit(gov, '#form-governors', { governors: 'operator requester', threshold: '2' })
    await gov.waitForSelector('#governance:has-text("2 of 2 approve a change")')
    await submit(gov, '#form-category', { uid: '1', description: 'Trees planted' })
    await gov.waitForSelector('#proposals td:has-text("impact.category.create")')
    expect(await gov.textContent('#categories')).toContain('No category yet.')
    await gov.close()
    // The other governor sees the pending change with an Approve button, and applies it.
    const second = await openAs('requester', `/ui/impact/${community}`)
    await second.click('#proposals button:has-text("Approve")')
    await second.waitForSelector('#categories td:has-text("Trees planted")')
    expect(await second.textContent('#proposals')).toContain('Pending proposals (0)')
    await second.close()
    // A stranger to the governors gets no button.
    const stranger = await openAs('aud1', `/ui/impact/${community}`)
    expect(await stranger.isVisible('#governor')).toBe(false)
    await stranger.close()
  }, 60_000)

  test(`the requests page lists the newest ${MAX_LISTED_REQUESTS} and counts the rest`, async () => {
    const requester = local.get('requester')!
    const created = await parts.actions.create(requester, { name: 'Many requests' })
    const community = created.id
    const gov = (type: string, body: unknown) => parts.actions.act(requester, community, type, body)
    await gov(IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
    await gov(IMPACT_OP.createImpactAction, {
      uid: 1,
      configuration: JSON.stringify({
        description: 'Planting a tree',
        category: 1,
        auditors: 1,
        blockstart: 0,
        blockend: 1000,
        rewardstoken: 0,
        rewardsamount: '1',
        rewardsoracle: '0',
        rewardsauditors: '0',
        slashingsauditors: '0',
        maxerrorsauditor: 1,
      }),
    })
    for (let i = 0; i <= MAX_LISTED_REQUESTS; i++)
      await gov(IMPACT_OP.requestApproval, {
        info: JSON.stringify({ impactactionid: 1, description: `tree number ${i}` }),
        payout: requester.address,
      })
    const html = await (await fetch(`${node.url}/ui/impact/${community}/requests`)).text()
    expect(html.match(/<tr><td data-label="request">/g)).toHaveLength(MAX_LISTED_REQUESTS)
    expect(html).toContain(`tree number ${MAX_LISTED_REQUESTS}<`)
    expect(html).not.toContain('tree number 0<')
    expect(html).toContain('1 older request(s) not listed.')
    const waiting = await (
      await fetch(`${node.url}/ui/impact/${community}/requests?status=WAITING_FOR_AUDITORS`)
    ).text()
    expect(waiting).toContain('More requests match than are listed; narrow the filter.')
    const none = await (
      await fetch(`${node.url}/ui/impact/${community}/requests?status=APPROVED`)
    ).text()
    expect(none).toContain('No request.')
  }, 60_000)
})

describe('impact pages: text from the network', () => {
  test('every page escapes names, descriptions, fields and notes', () => {
    const hostile = {
      name: '<img src=x onerror=alert(1)>',
      category: '<script>alert(1)</script>',
      action: '<b onmouseover=alert(1)>tree</b>',
      request: '"><script>alert(2)</script>',
      field: '<i>Jo</i>',
    }
    const c = new Community({ name: hostile.name })
    c.setup({ auditors: 3, action: { description: hostile.action } })
    c.ok(ROLES.governor, IMPACT_OP.createCategory, { uid: 2, description: hostile.category })
    const req = c.request(
      ROLES.requester(0),
      requestInfo({ description: hostile.request, namesurname: hostile.field }),
    )
    c.assign(req.id)
    const state = c.reducer.state()
    const request = c.reducer.request(req.id)!
    const auditor = c.reducer.auditor(keyOfSigner(ROLES.auditor(0)))!
    const node = 'n1'
    const nameOf = () => undefined
    const community = { id: c.id, name: state.name }
    const pages = [
      impactCard([{ id: c.id, name: hostile.name, state: 'ACTIVE', requests: 1, open: 1 }]),
      communityPage({ node, state, nameOf }),
      actionsPage({ node, state, chosen: 1 }),
      requestsPage({ node, community, requests: [request], more: 0, status: undefined, nameOf }),
      requestPage({ node, community, request, batches: [], nameOf }),
      auditorsPage({ node, state, nameOf }),
      auditorPage({ node, community, auditor, queue: [request], nameOf }),
    ]
    for (const html of pages) {
      for (const raw of ['<img', '<script>alert', '<b onmouseover', '<i>Jo', '"><script'])
        expect(html).not.toContain(raw)
    }
    expect(pages[1]).toContain('&#60;script&#62;alert(1)&#60;/script&#62;')
    expect(pages[4]).toContain('&#60;i&#62;Jo&#60;/i&#62;')
    expect(pages[6]).toContain('&#34;&#62;&#60;script&#62;alert(2)')
  })
})
