import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  type FeedChartData,
  oracleColour,
  renderFeedChart,
  seriesChartData,
} from '../src/domains/feed/chart.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0)
const unit = 10n ** 8n

/** Seven oracles over 30 s: five around 2500, two Byzantine at +20%, and two nodes' aggregates. */
function demoData(): FeedChartData {
  const oracles = Array.from({ length: 7 }, (_, i) => ({
    label: `oracle ${i + 1}`,
    byzantine: i >= 5,
  }))
  const points = []
  for (let s = 0; s < 30; s++)
    for (let o = 0; o < 7; o++) {
      const honest = 2500n * unit + BigInt(((s * 7 + o * 13) % 50) - 25) * unit
      points.push({
        oracle: o,
        t: T0 + s * 1000 + o * 10,
        price: o >= 5 ? (honest * 6n) / 5n : honest,
      })
    }
  const line = (offset: bigint) =>
    Array.from({ length: 30 }, (_, s) => ({ t: T0 + s * 1000 + 999, price: 2500n * unit + offset }))
  return {
    pair: 'ETH/USD',
    decimals: 8,
    oracles,
    points,
    aggregates: [
      { label: 'node A', points: line(0n) },
      { label: 'node B <&>', points: line(unit) },
    ],
  }
}

/** Every number of an attribute on the elements matching `element`. */
function attributeValues(svg: string, element: string, attribute: string): number[] {
  // Markers only (radius 2.5), not the legend's swatches.
  const pattern = new RegExp(`<${element}\\b[^>]*?\\s${attribute}="(-?[\\d.]+)"[^>]*r="2.5"`, 'g')
  return [...svg.matchAll(pattern)].map((m) => Number(m[1]))
}

describe('renderFeedChart', () => {
  test('is deterministic', () => {
    expect(renderFeedChart(demoData())).toBe(renderFeedChart(demoData()))
  })

  test('labels the price axis with the unit and the time axis in UTC', () => {
    const svg = renderFeedChart(demoData())
    expect(svg).toContain('price (USD)')
    expect(svg).toContain('time (UTC, from 2024-05-01 12:00:00)')
    // 5 s steps over 30 s, labelled with seconds.
    expect(svg).toContain('>12:00:05</text>')
    expect(svg).toContain('>12:00:25</text>')
    // Round price ticks: the data spans 2475–3029.99 USD.
    expect(svg).toMatch(/>2500<\/text>/)
    expect(svg).toMatch(/>3000<\/text>/)
  })

  test('draws each oracle in its own colour and marks the Byzantine ones', () => {
    const svg = renderFeedChart(demoData())
    for (let i = 0; i < 7; i++)
      expect(svg).toContain(`<g class="oracle" data-oracle="${i}" fill="${oracleColour(i)}"`)
    expect(new Set(Array.from({ length: 7 }, (_, i) => oracleColour(i))).size).toBe(7)
    expect(svg).toContain('oracle 6 (Byzantine)')
    expect(svg.match(/<circle cx="[\d.]+" cy="[\d.]+" r="2.5"\/>/g)).toHaveLength(5 * 30)
    expect(svg.match(/<path d="M[\d.]+ [\d.]+l6 6m0 -6l-6 6"\/>/g)).toHaveLength(2 * 30)
  })

  test('has a legend entry per oracle and per aggregate, labels escaped', () => {
    const svg = renderFeedChart(demoData())
    for (let i = 1; i <= 7; i++) expect(svg).toContain(`>oracle ${i}`)
    expect(svg).toContain('>node A</text>')
    expect(svg).toContain('>node B &#60;&#38;&#62;</text>')
    expect(svg.match(/<polyline class="aggregate"/g)).toHaveLength(2)
  })

  test('scales prices into the plot, higher prices higher up', () => {
    const data = demoData()
    const svg = renderFeedChart(data, { width: 960, height: 480 })
    const ys = attributeValues(svg, 'circle', 'cy')
    const xs = attributeValues(svg, 'circle', 'cx')
    // The plot spans y 44–420 and x 104–732.
    for (const y of ys) expect(y >= 44 && y <= 420).toBe(true)
    for (const x of xs) expect(x >= 104 && x <= 732).toBe(true)
    // The first and last instants sit at the plot's edges.
    expect(Math.min(...xs)).toBe(104)
    const lowest = renderFeedChart({
      ...data,
      points: [
        { oracle: 0, t: T0, price: 2400n * unit },
        { oracle: 0, t: T0 + 1, price: 2600n * unit },
      ],
      aggregates: [],
    })
    const [low, high] = attributeValues(lowest, 'circle', 'cy')
    expect(low).toBeGreaterThan(high!)
    // 5% padding each side, widened to round ticks: 2390–2610 in steps of 50 → 2350–2650.
    expect(lowest).toContain('>2350</text>')
    expect(lowest).toContain('>2650</text>')
    expect(low).toBeCloseTo(420 - (50 / 300) * 376, 0)
  })

  test('handles prices of 18 decimals beyond a double, and a single point', () => {
    const big = 10n ** 30n
    const svg = renderFeedChart({
      pair: 'X/Y',
      decimals: 18,
      oracles: [{ label: 'o' }],
      points: [
        { oracle: 0, t: T0, price: big },
        { oracle: 0, t: T0, price: big + 1n },
      ],
      aggregates: [],
    })
    const ys = attributeValues(svg, 'circle', 'cy')
    expect(ys[0]).toBeGreaterThan(ys[1]!)
    expect(svg).toContain('price (Y)')
    const one = renderFeedChart({
      pair: 'A/B',
      decimals: 0,
      oracles: [{ label: 'o' }],
      points: [{ oracle: 0, t: T0, price: 7n }],
      aggregates: [],
    })
    expect(attributeValues(one, 'circle', 'cy')[0]).toBeCloseTo(232, 0)
  })

  test('says so when there is no data', () => {
    const svg = renderFeedChart({
      pair: 'ETH/USD',
      decimals: 8,
      oracles: [],
      points: [],
      aggregates: [],
    })
    expect(svg).toContain('no attestations yet')
    expect(svg).toContain('<title>ETH/USD: attestations and aggregates</title>')
  })

  test('counts the legend entries that do not fit', () => {
    const oracles = Array.from({ length: 40 }, (_, i) => ({ label: `o${i}` }))
    const svg = renderFeedChart({
      pair: 'ETH/USD',
      decimals: 8,
      oracles,
      points: [],
      aggregates: [],
    })
    expect(svg).toContain('>+21 more</text>')
  })

  test('refuses a size that is not whole pixels', () => {
    expect(() => renderFeedChart(demoData(), { width: 10.5 })).toThrow(/whole number of pixels/)
  })
})

describe('seriesChartData', () => {
  test("draws a node's windows as steps and labels oracles by their key", () => {
    const key = (c: string) => c.repeat(64)
    const data = seriesChartData(
      {
        pair: 'ETH/USD',
        decimals: 8,
        oracles: [key('a'), key('b')],
        aggregates: [
          { window: 1, start: 10_000, end: 20_000, answer: '250000000000' },
          { window: 2, start: 20_000, end: 30_000, answer: '250100000000' },
        ],
        points: [
          { oracle: 0, t: 12_000, price: '250000000000' },
          { oracle: 1, t: 21_000, price: 250_100_000_000n },
        ],
      },
      { label: 'node A' },
    )
    expect(data.oracles).toEqual([{ label: 'aaaaaaaa…aaaa' }, { label: 'bbbbbbbb…bbbb' }])
    expect(data.points[1]).toEqual({ oracle: 1, t: 21_000, price: 250_100_000_000n })
    expect(data.aggregates).toEqual([
      {
        label: 'node A',
        points: [
          { t: 10_000, price: 250_000_000_000n },
          { t: 20_000, price: 250_000_000_000n },
          { t: 20_000, price: 250_100_000_000n },
          { t: 30_000, price: 250_100_000_000n },
        ],
      },
    ])
  })
})

const withChromium = hasSystemService(SYSTEM_SERVICES.chromium)

describe.runIf(withChromium)('renderFeedChart in Chromium', () => {
  let browser: Browser

  beforeAll(async () => {
    browser = await launchChromium()
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
  })

  test('is well-formed XML that an SVG parser reads, legend and all', async () => {
    const page = await browser.newPage()
    const svg = renderFeedChart({ ...demoData(), title: 'Quotes "ETH" & <friends>' })
    // The test's types know no DOM: the parsing runs in the page, written as its script.
    const parsed = (await page.evaluate(`(() => {
      const doc = new DOMParser().parseFromString(${JSON.stringify(svg)}, 'image/svg+xml')
      const error = doc.querySelector('parsererror')
      return {
        error: error ? error.textContent : null,
        root: doc.documentElement.localName,
        legend: [...doc.querySelectorAll('.legend text')].map((t) => t.textContent),
        title: doc.querySelector('title')?.textContent,
      }
    })()`)) as { error: string | null; root: string; legend: string[]; title: string }
    expect(parsed.error).toBeNull()
    expect(parsed.root).toBe('svg')
    expect(parsed.title).toBe('Quotes "ETH" & <friends>')
    expect(parsed.legend).toEqual([
      'oracle 1',
      'oracle 2',
      'oracle 3',
      'oracle 4',
      'oracle 5',
      'oracle 6 (Byzantine)',
      'oracle 7 (Byzantine)',
      'node A',
      'node B <&>',
    ])
    await page.close()
  })
})
