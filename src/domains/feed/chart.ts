// A feed's chart as a self-contained SVG: each oracle's attestations as dots of its own colour,
// each aggregate series (one per node) as a line, axes with time (UTC) and price labels, and a
// legend. Pure and deterministic (same data, same bytes): the demo saves it, `rwa feed series
// --svg` writes it, and the dashboard serves it.

/** What a chart shows. Prices are integers scaled by `decimals`; times are ms since the epoch. */
export type FeedChartData = {
  readonly pair: string
  readonly decimals: number
  readonly title?: string | undefined
  readonly oracles: readonly { readonly label: string; readonly byzantine?: boolean | undefined }[]
  /** Attestations: `oracle` indexes `oracles`. */
  readonly points: readonly {
    readonly oracle: number
    readonly t: number
    readonly price: bigint
  }[]
  /** Aggregate series, each a line (`label`: the node that computed it). */
  readonly aggregates: readonly {
    readonly label: string
    readonly points: readonly { readonly t: number; readonly price: bigint }[]
  }[]
}

/** `GET /feed/feeds/:ref/series` as it travels (prices as integer strings, or bigints in process). */
export type FeedSeriesWire = {
  readonly pair: string
  readonly decimals: number
  readonly oracles: readonly string[]
  readonly aggregates: readonly {
    readonly window: number
    readonly start: number
    readonly end: number
    readonly answer: string | bigint
  }[]
  readonly points: readonly {
    readonly oracle: number
    readonly t: number
    readonly price: string | bigint
  }[]
}

/**
 * A node's series as chart data: oracles labelled by their key's first characters, the
 * aggregates as one line (`label`, the node) that holds each window's answer from its start to
 * its end (a step: the answer stands for the whole window).
 */
export function seriesChartData(
  series: FeedSeriesWire,
  { label = 'aggregate', title }: { label?: string; title?: string } = {},
): FeedChartData {
  return {
    pair: series.pair,
    decimals: series.decimals,
    title,
    oracles: series.oracles.map((key) => ({ label: shortKey(key) })),
    points: series.points.map((p) => ({ oracle: p.oracle, t: p.t, price: BigInt(p.price) })),
    aggregates: [
      {
        label,
        points: series.aggregates.flatMap((a) => {
          const price = BigInt(a.answer)
          return [
            { t: a.start, price },
            { t: a.end, price },
          ]
        }),
      },
    ],
  }
}

/** A key cut for a label: its first 8 and last 4 hex digits. */
export const shortKey = (key: string) =>
  key.length > 14 ? `${key.slice(0, 8)}…${key.slice(-4)}` : key

/** The chart's size in pixels. */
export type FeedChartSize = { readonly width?: number; readonly height?: number }

/** Oracle colours (Tableau 10), then the same hues again. */
const ORACLE_COLOURS = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
]
/** Aggregate lines: dark colours and dashes, so lines drawn on top of each other stay visible. */
const LINE_COLOURS = ['#1d2330', '#2456d3', '#b42318', '#1f8a4c', '#6b3fa0']
const LINE_DASHES = ['', '7 4', '2 3', '10 3 2 3', '4 4']

/** Time steps the axis may use (ms). */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600]
  .map((s) => s * 1000)
  .concat([43_200_000, 86_400_000, 172_800_000, 604_800_000])

const MARGIN = { left: 104, right: 228, top: 44, bottom: 60 }
const LEGEND_ROW = 18

/** A linear scale of one axis: from data values to pixels. */
type Scale<T> = {
  readonly toPixel: (value: T) => number
  readonly ticks: readonly T[]
  /** The smallest value of the data. */
  readonly from: T
}

/** The plot area in pixels. */
type Frame = { x0: number; x1: number; y0: number; y1: number; width: number; height: number }

/**
 * Renders a feed's chart as a standalone SVG document.
 * @example writeFileSync('chart.svg', renderFeedChart({ pair: 'ETH/USD', decimals: 8, oracles, points, aggregates: [] }))
 */
export function renderFeedChart(data: FeedChartData, size: FeedChartSize = {}): string {
  const { width = 960, height = 480 } = size
  for (const [name, value] of [
    ['width', width],
    ['height', height],
  ] as const)
    if (!Number.isInteger(value) || value < 400 || value > 4000)
      throw new RangeError(
        `The chart's ${name} must be a whole number of pixels from 400 to 4000; got ${value}.`,
      )
  const frame: Frame = {
    x0: MARGIN.left,
    x1: width - MARGIN.right,
    y0: MARGIN.top,
    y1: height - MARGIN.bottom,
    width: width - MARGIN.left - MARGIN.right,
    height: height - MARGIN.top - MARGIN.bottom,
  }
  const title = data.title ?? `${data.pair}: attestations and aggregates`
  const prices = [
    ...data.points.map((p) => p.price),
    ...data.aggregates.flatMap((a) => a.points.map((p) => p.price)),
  ]
  const times = [
    ...data.points.map((p) => p.t),
    ...data.aggregates.flatMap((a) => a.points.map((p) => p.t)),
  ]
  const body =
    prices.length === 0
      ? `<text x="${frame.x0 + frame.width / 2}" y="${frame.y0 + frame.height / 2}" text-anchor="middle" fill="#5d6678">no attestations yet</text>`
      : plot(data, frame, priceScale(prices, frame), timeScale(times, frame))
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${xml(title)}" font-family="system-ui, sans-serif" font-size="12">`,
    `<title>${xml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${frame.x0}" y="24" font-size="15" font-weight="600" fill="#1d2330">${xml(title)}</text>`,
    `<rect class="plot" x="${frame.x0}" y="${frame.y0}" width="${frame.width}" height="${frame.height}" fill="none" stroke="#d9dde5"/>`,
    body,
    legend(data, width - MARGIN.right + 20, frame),
    '</svg>',
  ].join('\n')
}

/** Axes, dots and lines. */
function plot(data: FeedChartData, frame: Frame, y: Scale<bigint>, x: Scale<number>): string {
  const unit = quoteOf(data.pair)
  const yTicks = y.ticks
    .map((tick) => {
      const py = fixed(y.toPixel(tick))
      return `<line x1="${frame.x0}" x2="${frame.x1}" y1="${py}" y2="${py}" stroke="#eef0f4"/><text x="${frame.x0 - 8}" y="${py}" dy="4" text-anchor="end">${xml(formatNumber(tick, data.decimals))}</text>`
    })
    .join('')
  const step = (x.ticks[1] ?? 0) - (x.ticks[0] ?? 0)
  const xTicks = x.ticks
    .map((tick) => {
      const px = fixed(x.toPixel(tick))
      return `<line x1="${px}" x2="${px}" y1="${frame.y0}" y2="${frame.y1}" stroke="#eef0f4"/><text x="${px}" y="${frame.y1 + 18}" text-anchor="middle">${timeLabel(tick, step)}</text>`
    })
    .join('')
  const axes = [
    `<g class="y-axis" fill="#5d6678">${yTicks}</g>`,
    `<g class="x-axis" fill="#5d6678">${xTicks}</g>`,
    `<text class="y-title" transform="translate(18 ${frame.y0 + frame.height / 2}) rotate(-90)" text-anchor="middle" fill="#1d2330">price (${xml(unit)})</text>`,
    `<text class="x-title" x="${frame.x0 + frame.width / 2}" y="${frame.y1 + 44}" text-anchor="middle" fill="#1d2330">time (UTC, from ${new Date(x.from).toISOString().slice(0, 19).replace('T', ' ')})</text>`,
  ]
  return [...axes, dots(data, x, y), lines(data, x, y)].join('\n')
}

/** Each oracle's attestations: filled dots, crosses for an oracle marked Byzantine. */
function dots(data: FeedChartData, x: Scale<number>, y: Scale<bigint>): string {
  const byOracle = new Map<number, string[]>()
  for (const p of data.points) {
    const cx = fixed(x.toPixel(p.t))
    const cy = fixed(y.toPixel(p.price))
    const marker = data.oracles[p.oracle]?.byzantine
      ? `<path d="M${fixed(cx - 3)} ${fixed(cy - 3)}l6 6m0 -6l-6 6"/>`
      : `<circle cx="${cx}" cy="${cy}" r="2.5"/>`
    const list = byOracle.get(p.oracle) ?? []
    list.push(marker)
    byOracle.set(p.oracle, list)
  }
  return [...byOracle.entries()]
    .sort(([a], [b]) => a - b)
    .map(([oracle, markers]) => {
      const colour = oracleColour(oracle)
      return `<g class="oracle" data-oracle="${oracle}" fill="${colour}" stroke="${colour}" stroke-width="${data.oracles[oracle]?.byzantine ? 1.6 : 0}">${markers.join('')}</g>`
    })
    .join('\n')
}

/** Each aggregate series as a line, in time order. */
function lines(data: FeedChartData, x: Scale<number>, y: Scale<bigint>): string {
  return data.aggregates
    .map((series, i) => {
      const points = [...series.points]
        .sort((a, b) => a.t - b.t)
        .map((p) => `${fixed(x.toPixel(p.t))},${fixed(y.toPixel(p.price))}`)
        .join(' ')
      const dash = LINE_DASHES[i % LINE_DASHES.length]
        ? ` stroke-dasharray="${LINE_DASHES[i % LINE_DASHES.length]}"`
        : ''
      return `<polyline class="aggregate" data-label="${xml(series.label)}" points="${points}" fill="none" stroke="${LINE_COLOURS[i % LINE_COLOURS.length]}" stroke-width="2"${dash}/>`
    })
    .join('\n')
}

/** The legend: oracles (colour, marker), then the aggregate lines; what does not fit is counted. */
function legend(data: FeedChartData, left: number, frame: Frame): string {
  const rows: string[] = []
  const capacity = Math.max(2, Math.floor((frame.y1 - frame.y0) / LEGEND_ROW))
  const entries = [
    ...data.oracles.map((o, i) => ({
      kind: 'oracle' as const,
      i,
      label: o.byzantine ? `${o.label} (Byzantine)` : o.label,
    })),
    ...data.aggregates.map((a, i) => ({ kind: 'aggregate' as const, i, label: a.label })),
  ]
  const shown = entries.length > capacity ? entries.slice(0, capacity - 1) : entries
  for (const [row, entry] of shown.entries()) {
    const y = frame.y0 + row * LEGEND_ROW + 10
    const swatch =
      entry.kind === 'oracle'
        ? data.oracles[entry.i]?.byzantine
          ? `<path d="M${left - 3} ${y - 7}l6 6m0 -6l-6 6" stroke="${oracleColour(entry.i)}" stroke-width="1.6"/>`
          : `<circle cx="${left}" cy="${y - 4}" r="4" fill="${oracleColour(entry.i)}"/>`
        : `<line x1="${left - 8}" x2="${left + 8}" y1="${y - 4}" y2="${y - 4}" stroke="${LINE_COLOURS[entry.i % LINE_COLOURS.length]}" stroke-width="2"${LINE_DASHES[entry.i % LINE_DASHES.length] ? ` stroke-dasharray="${LINE_DASHES[entry.i % LINE_DASHES.length]}"` : ''}/>`
    rows.push(
      `<g class="legend-${entry.kind}">${swatch}<text x="${left + 14}" y="${y}" fill="#1d2330">${xml(clip(entry.label, 28))}</text></g>`,
    )
  }
  if (shown.length < entries.length)
    rows.push(
      `<text x="${left + 14}" y="${frame.y0 + shown.length * LEGEND_ROW + 10}" fill="#5d6678">+${entries.length - shown.length} more</text>`,
    )
  return `<g class="legend">${rows.join('')}</g>`
}

/**
 * The price axis: a range padded by 5% each side (1% of the price, or one unit, when every price
 * is the same), widened to round ticks of 1, 2 or 5 × 10^k units, about eight of them.
 */
function priceScale(prices: readonly bigint[], frame: Frame): Scale<bigint> {
  let min = prices[0]!
  let max = min
  for (const p of prices) {
    if (p < min) min = p
    if (p > max) max = p
  }
  const spread = max - min
  const pad = spread > 0n ? spread / 20n : maxOf(abs(max) / 100n, 1n)
  const step = niceStep((spread + 2n * pad) / 8n)
  const lo = floorDiv(min - pad, step) * step
  const hi = -floorDiv(-(max + pad), step) * step
  const ticks: bigint[] = []
  for (let tick = lo; tick <= hi; tick += step) ticks.push(tick)
  const range = hi - lo
  return {
    // bigint arithmetic down to a tenth of a pixel: prices of 18 decimals do not fit a double.
    toPixel: (p) => frame.y1 - Number(((p - lo) * BigInt(frame.height * 10)) / range) / 10,
    ticks,
    from: min,
  }
}

/** The smallest 1, 2 or 5 × 10^k that is at least `raw` (and at least 1). */
function niceStep(raw: bigint): bigint {
  for (let power = 1n; ; power *= 10n)
    for (const m of [1n, 2n, 5n]) if (m * power >= raw) return m * power
}

/** The time axis: the data's range (2 s around a single instant), ticks at a round step. */
function timeScale(times: readonly number[], frame: Frame): Scale<number> {
  let [first, last] = extent(times)
  if (last === first) {
    first -= 1000
    last += 1000
  }
  const step = TIME_STEPS.find((s) => (last - first) / s <= 8) ?? TIME_STEPS.at(-1)!
  const ticks: number[] = []
  for (let tick = Math.ceil(first / step) * step; tick <= last; tick += step) ticks.push(tick)
  return {
    toPixel: (t) => frame.x0 + ((t - first) * frame.width) / (last - first),
    ticks,
    from: extent(times)[0],
  }
}

/** The smallest and largest of many numbers (no spread: a long series would overflow the stack). */
function extent(values: readonly number[]): [number, number] {
  let min = Number.POSITIVE_INFINITY
  let max = Number.NEGATIVE_INFINITY
  for (const v of values) {
    if (v < min) min = v
    if (v > max) max = v
  }
  return [min, max]
}

/** A tick's time: `HH:MM:SS` (UTC), `HH:MM` for steps of whole minutes, `MM-DD` for days. */
function timeLabel(t: number, step: number): string {
  const iso = new Date(t).toISOString()
  if (step >= 86_400_000) return iso.slice(5, 10)
  if (step % 60_000 === 0) return iso.slice(11, 16)
  return iso.slice(11, 19)
}

/** The colour of oracle `i`. */
export function oracleColour(i: number): string {
  return ORACLE_COLOURS[i % ORACLE_COLOURS.length]!
}

/** Units as decimal text without the unit: `2500.12`. */
function formatNumber(value: bigint, decimals: number): string {
  const digits = abs(value)
    .toString()
    .padStart(decimals + 1, '0')
  const whole = digits.slice(0, digits.length - decimals)
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, '')
  return `${value < 0n ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`
}

/** The quote currency of a pair (`USD` of `ETH/USD`). */
const quoteOf = (pair: string) => pair.slice(pair.lastIndexOf('/') + 1) || pair

const abs = (v: bigint) => (v < 0n ? -v : v)
const maxOf = (a: bigint, b: bigint) => (a > b ? a : b)
const floorDiv = (a: bigint, b: bigint) => (a % b !== 0n && a < 0n !== b < 0n ? a / b - 1n : a / b)

/** A coordinate with at most one decimal. */
const fixed = (n: number) => Math.round(n * 10) / 10

const clip = (text: string, max: number) =>
  text.length > max ? `${text.slice(0, max - 1)}…` : text

/** Escapes text for XML (content and attribute values); drops characters XML 1.0 forbids. */
function xml(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: XML 1.0 forbids these characters
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
      .replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  )
}
