import '../src/net/polyfill.ts'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { Browser, Page } from 'playwright-core'
import type { Address } from 'viem'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import type { TokenUnit } from '../src/core/amount.ts'
import type { DocSummary } from '../src/core/domain.ts'
import { channelPlugin } from '../src/domains/channel/index.ts'
import {
  channelCard,
  createChannelWeb,
  formatCountdown,
  MAX_LISTED_CHANNELS,
} from '../src/domains/channel/pages.ts'
import type { ChannelRow, ChannelsOverview } from '../src/domains/channel/types.ts'
import { DOMAINS } from '../src/domains/index.ts'
import type { AnyPlugin } from '../src/domains/plugin.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { loadConfig } from '../src/node/config.ts'
import type { Listed } from '../src/node/doc-index.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

// The channels page rendered through its Hono sub-app with overviews built here (amounts, order,
// countdowns, warnings, escaping, no chain), and once in a real Chromium inside a node's shell.

const EXPLORER = 'https://explorer.example'
const explorer = {
  tx: (hash: string) => `${EXPLORER}/tx/${hash}`,
  address: (a: string) => `${EXPLORER}/address/${a}`,
}
const ESCROW = '0x5FbDB2315678afecb367f032d93F642f64180aa3' as Address
const RECIPIENT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' as Address
const SENDER = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC' as Address
const OTHER_SIGNER = '0x90F79bf6EB2c4f870365E785982E1f101E93b906' as Address
const RWT: TokenUnit = {
  address: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
  symbol: 'RWT',
  decimals: 6,
}

/** A channel at block 1000 expiring at `expiration`, with what the service holds signed. */
function row(channelId: bigint, expiration: bigint, more: Partial<ChannelRow> = {}): ChannelRow {
  const authorised = more.authorised ?? 0n
  return {
    channelId,
    sender: SENDER,
    signer: SENDER,
    recipient: RECIPIENT,
    groupId: `0x${'01'.repeat(32)}`,
    chainNonce: 0n,
    value: 5_000_000n,
    expiration,
    blocksLeft: expiration - 1000n,
    nonce: 0n,
    authorised,
    unclaimed: authorised + (more.claiming?.amount ?? 0n),
    busy: false,
    ...more,
  }
}

/** Three channels out of order: 7 expires in 120 blocks, 3 expired 3 blocks ago, 9 in 5000. */
const OVERVIEW: ChannelsOverview = {
  escrow: ESCROW,
  recipient: RECIPIENT,
  token: RWT,
  currentBlock: 1000n,
  balance: 12_500_000n,
  channels: [
    row(9n, 6000n, { authorised: 1_000_000n }),
    row(7n, 1120n, {
      authorised: 250_000n,
      claiming: { nonce: 2n, amount: 1_500_000n },
      chainNonce: 1n,
      nonce: 2n,
    }),
    row(3n, 997n, { authorised: 0n, busy: true, signer: OTHER_SIGNER }),
  ],
}

/** The channels page as the sub-app answers it. */
async function render(
  overview: ChannelsOverview | undefined,
  options: { warnBlocks?: bigint } = {},
): Promise<{ status: number; html: string }> {
  const web = createChannelWeb({ node: 'n1', explorer, overview: async () => overview, ...options })
  const response = await web.pages!.app.request('/')
  return { status: response.status, html: await response.text() }
}

/** The table rows' channel ids, in order. */
const ids = (html: string) => [...html.matchAll(/<tr data-channel="(\d+)"/g)].map((m) => m[1])

/** One channel's row. */
function rowOf(html: string, id: number): string {
  const found = html.match(new RegExp(`<tr data-channel="${id}"[^]*?</tr>`))
  expect(found, `row of channel ${id}`).not.toBeNull()
  return found![0]
}

describe('the channels page', () => {
  test('shows the escrow balance and every amount with its unit', async () => {
    const { status, html } = await render(OVERVIEW)
    expect(status).toBe(200)
    expect(html).toContain(
      '<strong id="channel-balance"><span class="amount">12.5 RWT</span></strong>',
    )
    // Unclaimed in all: 1 (channel 9) + 0.25 + 1.5 (channel 7, authorised and claiming).
    expect(html).toContain('<strong id="channel-unclaimed"><span class="amount">2.75 RWT</span>')
    expect(html).toContain('<span id="channel-block">1000</span>')
    const seven = rowOf(html, 7)
    expect(seven).toContain('data-label="value"><span class="amount">5 RWT</span>')
    expect(seven).toContain('data-label="authorised"><span class="amount">0.25 RWT</span>')
    expect(seven).toContain('data-label="unclaimed"><span class="amount">1.75 RWT</span>')
    expect(seven).toContain('data-label="expiration">1120</td>')
  })

  test('links the recipient, the escrow and each sender to the explorer', async () => {
    const { html } = await render(OVERVIEW)
    for (const address of [RECIPIENT, ESCROW, SENDER, RWT.address])
      expect(html).toContain(`href="${EXPLORER}/address/${address}"`)
    // A signer apart from the sender is shown under it.
    expect(rowOf(html, 3)).toContain(`href="${EXPLORER}/address/${OTHER_SIGNER}"`)
    expect(rowOf(html, 9)).not.toContain('signer')
  })

  test('lists the channels nearest expiry first, whatever order the overview gives', async () => {
    const { html } = await render(OVERVIEW)
    expect(ids(html)).toEqual(['3', '7', '9'])
    const reversed = await render({ ...OVERVIEW, channels: [...OVERVIEW.channels].reverse() })
    expect(ids(reversed.html)).toEqual(['3', '7', '9'])
    // Same expiration: the lower id first.
    const tied = await render({
      ...OVERVIEW,
      channels: [row(12n, 1500n), row(4n, 1500n), row(8n, 1400n)],
    })
    expect(ids(tied.html)).toEqual(['8', '4', '12'])
  })

  test('counts down in blocks, and says how long ago a channel expired', async () => {
    expect(formatCountdown(120n)).toBe('in 120 blocks')
    expect(formatCountdown(1n)).toBe('in 1 block')
    expect(formatCountdown(0n)).toBe('expired at this block')
    expect(formatCountdown(-1n)).toBe('expired 1 block ago')
    expect(formatCountdown(-3n)).toBe('expired 3 blocks ago')
    const { html } = await render(OVERVIEW)
    expect(rowOf(html, 7)).toContain(
      '<td class="countdown" data-label="expires">in 120 blocks</td>',
    )
    expect(rowOf(html, 3)).toContain('expired 3 blocks ago')
    expect(rowOf(html, 9)).toContain('in 5000 blocks')
  })

  test('marks channels with money unclaimed close to expiry, not those with nothing to claim', async () => {
    const { html } = await render(OVERVIEW)
    // 7: 1.75 RWT unclaimed, 120 blocks left (≤ 200): marked. 3: expired but nothing unclaimed.
    // 9: 1 RWT unclaimed but 5000 blocks left.
    expect(rowOf(html, 7)).toMatch(/^<tr data-channel="7" class="warn">/)
    expect(rowOf(html, 3)).not.toContain('class="warn"')
    expect(rowOf(html, 9)).not.toContain('class="warn"')
    expect(html).toContain('<span id="channel-expiring" class="no">1</span>')
    // A narrower warning distance leaves 7 unmarked; a wider one marks 9 too.
    const narrow = await render(OVERVIEW, { warnBlocks: 100n })
    expect(rowOf(narrow.html, 7)).not.toContain('class="warn"')
    expect(narrow.html).toContain('<span id="channel-expiring">0</span>')
    const wide = await render(OVERVIEW, { warnBlocks: 5000n })
    expect(rowOf(wide.html, 9)).toContain('class="warn"')
    // Expired with money still unclaimed: the recipient may still claim until the sender takes it back.
    const late = await render({ ...OVERVIEW, channels: [row(5n, 990n, { authorised: 1n })] })
    expect(rowOf(late.html, 5)).toContain('class="warn"')
  })

  test('marks a claim under way and a call in progress', async () => {
    const { html } = await render(OVERVIEW)
    expect(rowOf(html, 7)).toContain(
      '<span class="claiming">claiming <span class="amount">1.5 RWT</span> at nonce 2</span>',
    )
    expect(rowOf(html, 3)).toContain('call in progress')
    expect(rowOf(html, 9)).toContain('<span class="muted">nonce 0</span>')
    expect(rowOf(html, 9)).not.toContain('claiming')
  })

  test('escapes what the chain tells: a hostile token symbol stays text', async () => {
    const hostile: TokenUnit = { ...RWT, symbol: '<script>alert(1)</script>' }
    const { html } = await render({ ...OVERVIEW, token: hostile })
    expect(html).not.toContain('<script>alert(1)</script>')
    expect(html).toContain('12.5 &#60;script&#62;alert(1)&#60;/script&#62;')
    // Only the shell's own scripts are on the page.
    expect(html.match(/<script/g)).toHaveLength(2)
  })

  test('shows a token that told no unit in base units with its address', async () => {
    const { html } = await render({
      ...OVERVIEW,
      token: { address: RWT.address, symbol: null, decimals: null },
    })
    expect(html).toContain(`12500000 base units of token ${RWT.address}`)
  })

  test('says what to configure when the node has no chain or no gateway', async () => {
    const { status, html } = await render(undefined)
    expect(status).toBe(200)
    expect(html).toContain('This node reads no payment channels')
    expect(html).toContain('[chain] mpe = "0x…"')
    expect(html).toContain('[domains.channel]')
    expect(html).not.toContain('channel-table')
    // Nothing changes on such a node: the page does not refresh itself.
    expect(html).toContain('window.rwaLive = false')
    expect((await render(OVERVIEW)).html).toContain('window.rwaLive = true')
  })

  test('says so when no channel is paid in yet', async () => {
    const { html } = await render({ ...OVERVIEW, channels: [] })
    expect(html).toContain('No channel paid into this service yet.')
    expect(html).toContain('<span class="amount">12.5 RWT</span>')
  })

  test(`lists at most ${MAX_LISTED_CHANNELS} channels, the nearest expiry, and counts the rest`, async () => {
    const many = Array.from({ length: MAX_LISTED_CHANNELS + 7 }, (_, i) =>
      row(BigInt(i), 2000n + BigInt(MAX_LISTED_CHANNELS + 7 - i)),
    )
    const { html } = await render({ ...OVERVIEW, channels: many })
    const listed = ids(html)
    expect(listed).toHaveLength(MAX_LISTED_CHANNELS)
    expect(listed[0]).toBe(String(MAX_LISTED_CHANNELS + 6))
    expect(html).toContain('7 more channel(s), expiring later, are not listed.')
  })
})

describe('the home card', () => {
  const offer = (id: string, fields: Record<string, string | number>) =>
    ({ id: id as OpId, name: 'x', state: 'open', ...fields }) as Listed<DocSummary>

  test('lists the offers with their state and priced routes, escaped', () => {
    const card = channelCard([
      offer('a1', { name: 'Echo <b>API</b>', state: 'open', routes: 3 }),
      offer('b2', { name: 'Old', state: 'retired', routes: 0 }),
    ])
    expect(card).toContain(
      '<tr><td>Echo &#60;b&#62;API&#60;/b&#62;</td><td>open</td><td class="num">3</td></tr>',
    )
    expect(card).toContain('<tr><td>Old</td><td>retired</td><td class="num">0</td></tr>')
    expect(card).toContain('href="/ui/channel"')
  })

  test('reads a summary without a route count, and says when there is no offer', () => {
    const bare = { id: 'c3' as OpId, name: 'Bare', state: 'open' } as Listed<DocSummary>
    expect(channelCard([bare])).toContain('<td class="num">—</td>')
    expect(channelCard([])).toContain('No service offer yet.')
  })
})

// ---------------------------------------------------------------------------------------------
// In a browser, inside a node's shell (its stylesheet, script and live refresh): the channel
// plug-in hosted, its dashboard part given an overview that moves a block per read.

const run = hasSystemService(SYSTEM_SERVICES.chromium)
const output = join(import.meta.dirname, '..', 'test-output')

/** The channel plug-in with its dashboard part on `overview`. */
function withChannelPages(overview: () => Promise<ChannelsOverview>): AnyPlugin {
  return {
    ...channelPlugin,
    node: async () => {
      const part = await channelPlugin.node()
      return {
        ...part,
        create: async (components) => ({
          ...(await part.create(components)),
          web: createChannelWeb({ node: 'n1', explorer, overview }),
        }),
      } as typeof part
    },
  } as AnyPlugin
}

describe.runIf(run)('the channels page in a real Chromium', () => {
  let root: string
  let node: RwaNode
  let browser: Browser
  let reads = 0
  const problems: string[] = []

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'rwa-web-channel-'))
    const dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    const overview = async () => {
      reads += 1
      const block = 1000n + BigInt(reads)
      return {
        ...OVERVIEW,
        currentBlock: block,
        channels: OVERVIEW.channels.map((c) => ({ ...c, blocksLeft: c.expiration - block })),
      }
    }
    node = createNode(loadConfig(dataDir), {
      port: 0,
      logger: pino({ level: 'silent' }),
      verifyPool: false,
      chain: { mode: 'none' },
      net: { enabled: false },
      domains: [...DOMAINS.filter((d) => d.domain.name !== 'channel'), withChannelPages(overview)],
    })
    await node.start()
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

  async function open(path: string): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`))
    await page.goto(`${node.url}${path}`)
    return page
  }

  test('shows the channels with the warning style, and follows the blocks', async () => {
    const page = await open('/ui/channel')
    expect(await page.textContent('#channel-balance')).toBe('12.5 RWT')
    const rows = await page.locator('#channel-table tr[data-channel]').allTextContents()
    expect(rows).toHaveLength(3)
    expect(rows[1]).toContain('1.75 RWT')
    // The marked row is painted (the page's own style, not the shell's).
    // (The page's types know no DOM: the expression runs in the page.)
    const background = await page.evaluate(
      "getComputedStyle(document.querySelector('#channel-table tr.warn td')).backgroundColor",
    )
    expect(background).toBe('rgb(255, 244, 229)')
    // The shell's live refresh re-renders the page as blocks come: the countdown moves.
    const first = (await page.textContent('#channel-block'))!
    await page.waitForFunction(
      `document.querySelector('#channel-block')?.textContent !== ${JSON.stringify(first)}`,
      undefined,
      { timeout: 20_000 },
    )
    const block = BigInt((await page.textContent('#channel-block'))!)
    expect(await page.textContent('#channel-table tr[data-channel="7"] .countdown')).toBe(
      `in ${1120n - block} blocks`,
    )
    await page.screenshot({ path: join(output, 'channels.png'), fullPage: true })
    await page.close()
  }, 60_000)

  test('the home page carries the offers card', async () => {
    const home = await open('/')
    expect(await home.textContent('#channel')).toContain('Channels paid to this node')
    expect(await home.getAttribute('#channel a[href="/ui/channel"]', 'href')).toBe('/ui/channel')
    await home.close()
  })
})
