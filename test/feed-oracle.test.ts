import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Command } from 'commander'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { NodeClient } from '../src/cli/client.ts'
import {
  decimalText,
  formatJsonPath,
  JsonPathError,
  parseJsonPath,
  readJsonPath,
} from '../src/domains/feed/cli/json-path.ts'
import {
  formatTick,
  lowerMedian,
  OracleError,
  type OracleTick,
  registerOracleCommands,
  runOracle,
  simulatedPrice,
} from '../src/domains/feed/cli/oracle-run.ts'
import { readSource, toFeedUnits } from '../src/domains/feed/cli/price-source.ts'
import { registerFeedQueryCommands } from '../src/domains/feed/cli/query-commands.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { generateSigner, writeKeyFile } from '../src/store/key-file.ts'
import { TestNode } from './node-fixture.ts'

describe('parseJsonPath', () => {
  test('reads dotted names, indexes and quoted names', () => {
    expect(parseJsonPath('a.b[0].c')).toEqual(['a', 'b', 0, 'c'])
    expect(parseJsonPath('a["x y"]')).toEqual(['a', 'x y'])
    expect(parseJsonPath("$.ticker['last'][12]")).toEqual(['ticker', 'last', 12])
    expect(parseJsonPath('["a.b"]["q\\"uote"]')).toEqual(['a.b', 'q"uote'])
    expect(parseJsonPath('price')).toEqual(['price'])
  })

  test('refuses paths it cannot read, saying where', () => {
    expect(() => parseJsonPath('')).toThrow(JsonPathError)
    expect(() => parseJsonPath('a..b')).toThrow(/character 3 where a name was expected/)
    expect(() => parseJsonPath('a[x]')).toThrow(/an index/)
    expect(() => parseJsonPath('a["open')).toThrow(/closing "/)
    expect(() => parseJsonPath('$')).toThrow(/names no value/)
    expect(() => parseJsonPath('a'.repeat(300))).toThrow(/1 to 256 characters/)
    expect(() => parseJsonPath(Array.from({ length: 40 }, () => 'a').join('.'))).toThrow(/32 steps/)
  })

  test('formats steps back into a path', () => {
    expect(formatJsonPath(['a', 'x y', 0, 'c'])).toBe('a["x y"][0].c')
  })
})

describe('readJsonPath', () => {
  const doc = { data: { rates: [{ 'ETH USD': 2500.5 }] }, list: [1, 2] }

  test('finds a nested value', () => {
    expect(readJsonPath(doc, parseJsonPath('data.rates[0]["ETH USD"]'))).toBe(2500.5)
  })

  test('names the first missing step', () => {
    expect(() => readJsonPath(doc, parseJsonPath('data.rate'))).toThrow(
      'The answer has nothing at data.rate.',
    )
    expect(() => readJsonPath(doc, parseJsonPath('list[5]'))).toThrow(/the array has 2 items/)
    expect(() => readJsonPath(doc, parseJsonPath('list[0].x'))).toThrow(/is a number/)
  })

  test('does not follow inherited properties', () => {
    expect(() => readJsonPath({}, ['constructor'])).toThrow(JsonPathError)
    expect(() => readJsonPath({}, ['__proto__'])).toThrow(JsonPathError)
  })
})

describe('decimalText and toFeedUnits', () => {
  test('numbers and numeric strings become exact decimal text', () => {
    expect(decimalText(2500.12)).toBe('2500.12')
    expect(decimalText(1.5e-7)).toBe('0.00000015')
    expect(decimalText(2e21)).toBe('2000000000000000000000')
    expect(decimalText(' +2500.120 ')).toBe('2500.120')
    expect(decimalText('1.25E3')).toBe('1250')
    expect(decimalText('.5')).toBe('0.5')
  })

  test('refuses what is not a number', () => {
    expect(() => decimalText('12a')).toThrow(/not a decimal number/)
    expect(() => decimalText(null)).toThrow(/is null/)
    expect(() => decimalText({})).toThrow(/is a object/)
    expect(() => decimalText(Number.NaN)).toThrow(/finite/)
  })

  test('scales exactly to the feed decimals, rounding extra digits half away from zero', () => {
    expect(toFeedUnits('2500.12', 8)).toBe(250_012_000_000n)
    expect(toFeedUnits('2500', 0)).toBe(2500n)
    expect(toFeedUnits('0.123456785', 8)).toBe(12_345_679n)
    expect(toFeedUnits('0.123456784', 8)).toBe(12_345_678n)
    expect(toFeedUnits('-1.5', 0)).toBe(-2n)
    expect(toFeedUnits('99999999999999999999.99999999', 8)).toBe(
      9_999_999_999_999_999_999_999_999_999n,
    )
    // 0.1 + 0.2 as a double prints 0.30000000000000004: the digits past 8 round away.
    expect(toFeedUnits(decimalText(0.1 + 0.2), 8)).toBe(30_000_000n)
  })
})

describe('lowerMedian and simulatedPrice', () => {
  test('the lower median is a price one source gave', () => {
    expect(lowerMedian([5n, 1n, 3n])).toBe(3n)
    expect(lowerMedian([4n, 1n, 3n, 2n])).toBe(2n)
    expect(() => lowerMedian([])).toThrow(OracleError)
  })

  test('a draw stays within the spread around the biased price', () => {
    const base = 250_000_000_000n
    expect(simulatedPrice(base, { spreadPpm: 10_000 }, () => 0)).toBe(247_500_000_000n)
    expect(simulatedPrice(base, { spreadPpm: 10_000 }, () => 0.999_999_999)).toBe(252_500_000_000n)
    expect(simulatedPrice(base, { spreadPpm: 0, biasPpm: 200_000 }, () => 0.5)).toBe(
      300_000_000_000n,
    )
    expect(simulatedPrice(base, { spreadPpm: 10_000 }, () => 0.5)).toBe(base)
  })
})

describe('readSource against a local HTTP server', () => {
  let server: Server
  let url: string
  const routes: Record<string, (res: ServerResponse) => void> = {
    '/good': (res) => json(res, { price: 2500.12, volume: 1234.5 }),
    '/nested': (res) => json(res, { data: { rates: [{ 'ETH USD': { last: 2499.5 } }] } }),
    '/string': (res) => json(res, { result: { price: '2501.000000019' } }),
    '/broken': (res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"price": 25')
    },
    '/html': (res) => {
      res.writeHead(200, { 'content-type': 'text/html' })
      res.end('<html></html>')
    },
    '/missing': (res) => {
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end('{}')
    },
    // Never answers: only the oracle's timeout ends the request.
    '/slow': () => undefined,
    '/huge': (res) => json(res, { price: 1, pad: 'x'.repeat(100_000) }),
    '/huge-chunked': (res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"pad":"')
      for (let i = 0; i < 20; i++) res.write('x'.repeat(10_000))
      res.end('"}')
    },
  }

  beforeAll(async () => {
    server = createServer((req, res) => {
      const route = routes[req.url ?? '']
      if (route) route(res)
      else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })

  afterAll(() => {
    server.closeAllConnections()
    server.close()
  })

  const limits = { timeoutMs: 5000, maxBytes: 65_536 }
  const read = (path: string, jsonPath: string, volumePath?: string, timeoutMs = 5000) =>
    readSource(
      { name: path.slice(1), url: `${url}${path}`, path: jsonPath, volumePath },
      8,
      { ...limits, timeoutMs },
      () => 1_700_000_000_000,
    )

  test('reads a price and a volume', async () => {
    expect(await read('/good', 'price', 'volume')).toEqual({
      ok: true,
      name: 'good',
      url: `${url}/good`,
      price: 250_012_000_000n,
      volume: 1235n,
      timestamp: 1_700_000_000_000,
    })
  })

  test('reads a nested path and a string price', async () => {
    expect(await read('/nested', 'data.rates[0]["ETH USD"].last')).toMatchObject({
      ok: true,
      price: 249_950_000_000n,
    })
    expect(await read('/string', 'result.price')).toMatchObject({
      ok: true,
      price: 250_100_000_002n,
    })
  })

  test('reports each kind of failure without throwing', async () => {
    const failures = await Promise.all([
      read('/broken', 'price'),
      read('/html', 'price'),
      read('/missing', 'price'),
      read('/good', 'data.price'),
      read('/huge', 'price'),
      read('/huge-chunked', 'price'),
      read('/slow', 'price', undefined, 300),
    ])
    expect(failures.map((f) => (f.ok ? 'ok' : f.error.replace(url, '')))).toEqual([
      'Source /broken: the answer is not JSON.',
      'Source /html: answered "text/html", not JSON.',
      'Source /missing: answered HTTP 404.',
      'The answer has nothing at data.',
      'Source /huge: answered 100020 bytes, over the 65536-byte limit; nothing was read.',
      'Source /huge-chunked: answered more than the 65536-byte limit; the answer was dropped.',
      'Source /slow: gave no full answer within 300 ms.',
    ])
  })

  test('an unreachable source and a bad URL are failures too', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    const down = await readSource(
      { name: 'down', url: `http://127.0.0.1:${port}/`, path: 'p' },
      8,
      limits,
    )
    expect(down).toMatchObject({
      ok: false,
      error: expect.stringContaining('cannot be reached (ECONNREFUSED)'),
    })
    const ftp = await readSource({ name: 'ftp', url: 'ftp://example.org/x', path: 'p' }, 8, limits)
    expect(ftp).toMatchObject({ ok: false, error: expect.stringContaining('only http and https') })
  })
})

describe('runOracle', () => {
  test('refuses sources and a simulation together, or neither', async () => {
    const client = new NodeClient('http://127.0.0.1:9')
    const signer = generateSigner()
    await expect(runOracle({ feed: 'ETH/USD', client, signer })).rejects.toThrow(/either sources/)
    await expect(
      runOracle({
        feed: 'ETH/USD',
        client,
        signer,
        simulate: { price: '1' },
        sources: [{ name: 's', url: 'http://127.0.0.1:9/', path: 'p' }],
      }),
    ).rejects.toThrow(/not both/)
  })

  test('formats a tick on one line with the price and the sources', () => {
    const line = formatTick({
      time: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
      window: 1,
      pair: 'ETH/USD',
      price: 1n,
      priceText: '2500.12 USD',
      readings: [
        { ok: true, name: 'a', url: 'https://a', price: 1n, volume: 0n, timestamp: 0 },
        { ok: false, name: 'b', url: 'https://b', error: 'Source https://b: answered HTTP 500.' },
      ],
      op: 'abcdef0123456789' as OpId,
    })
    expect(line).toBe(
      '2024-01-02T03:04:05Z  ETH/USD 2500.12 USD  sources 1 ok, 1 failed (b: Source https://b: answered HTTP 500.)  attested abcdef012345…',
    )
  })
})

describe('oracles against a real node', () => {
  let t: TestNode
  let server: Server
  let url: string
  const oracles = Array.from({ length: 4 }, () => generateSigner())
  const keyOf = (signer: { publicKey: Uint8Array }) => Buffer.from(signer.publicKey).toString('hex')
  // Three exchanges quoting ETH/USD three ways, and one that is down.
  const quotes: Record<string, (res: ServerResponse) => void> = {
    '/a': (res) => json(res, { price: 2500 }),
    '/b': (res) => json(res, { data: [{ last: '2501.00' }] }),
    '/c': (res) => json(res, { 'ETH USD': { bid: '2502.0000000049' } }),
    '/down': (res) => res.writeHead(503).end(),
  }
  let feedId: string

  beforeAll(async () => {
    t = await TestNode.start()
    server = createServer((req, res) => {
      const route = quotes[req.url ?? '']
      if (route) route(res)
      else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const { json: signer } = await t.call('GET', '/feed/signer')
    const created = await t.call('POST', '/feed/feeds', {
      token: t.operatorToken,
      body: {
        pair: 'ETH/USD',
        decimals: 8,
        window: 10,
        heartbeat: 60,
        deviation: 5000,
        minSources: 1,
        maxAge: 300,
        oracles: oracles.map(keyOf),
        signers: [{ key: signer.key, address: '0x00000000000000000000000000000000000000a1' }],
        threshold: 1,
      },
    })
    expect(created.status).toBe(200)
    feedId = created.json.feed
  }, 60_000)

  afterAll(async () => {
    server?.closeAllConnections()
    server?.close()
    await t?.stop()
  })

  /**
   * A clock shifted so that the oracles' ticks fall 2 s into a 10 s window whatever the wall
   * clock says: the test's attestations all share one window (it runs well within 8 s).
   */
  function windowClock(): () => number {
    const offset = (Date.now() % 10_000) - 2000
    return () => Date.now() - offset
  }

  test('oracles reading sources and one simulating attest; the latest answer is their median', async () => {
    const client = new NodeClient(t.url)
    const now = windowClock()
    const ticks: OracleTick[] = []
    const run = (i: number, options: Partial<Parameters<typeof runOracle>[0]>) =>
      runOracle({
        feed: 'ETH/USD',
        client,
        signer: oracles[i]!,
        count: 1,
        now,
        onTick: (tick) => ticks.push(tick),
        ...options,
      })
    const results = await Promise.all([
      run(0, {
        sources: [
          { name: 'a', url: `${url}/a`, path: 'price' },
          { name: 'down', url: `${url}/down`, path: 'price' },
        ],
      }),
      run(1, { sources: [{ name: 'b', url: `${url}/b`, path: 'data[0].last' }] }),
      run(2, { sources: [{ name: 'c', url: `${url}/c`, path: '["ETH USD"].bid' }] }),
      run(3, { simulate: { price: '2501', spreadPpm: 0 } }),
    ])
    expect(results).toEqual(Array.from({ length: 4 }, () => ({ ticks: 1, attested: 1 })))
    expect(ticks.map((tick) => tick.priceText).sort()).toEqual([
      '2500 USD',
      '2501 USD',
      '2501 USD',
      '2502 USD',
    ])
    const withDown = ticks.find((tick) => tick.readings.length === 2)!
    expect(formatTick(withDown)).toContain(
      `sources 1 ok, 1 failed (down: Source ${url}/down: answered HTTP 503.)`,
    )

    const latest = await t.call('GET', '/feed/feeds/ETH%2FUSD/latest')
    expect(latest.json).toMatchObject({
      id: feedId,
      answer: '250100000000',
      answerText: '2501 USD',
      observations: 4,
    })
    // The simulated oracle says so in its proof; the others read plain http, vouched by their signature.
    const { json: window } = await t.call('GET', `/feed/feeds/${feedId}/attestations`)
    expect(window.attestations.map((a: { oracle: string }) => a.oracle).sort()).toEqual(
      oracles.map(keyOf).sort(),
    )
  })

  test('a second attestation in the same window is refused by the node and reported, not thrown', async () => {
    const ticks: OracleTick[] = []
    const result = await runOracle({
      feed: feedId,
      client: new NodeClient(t.url),
      signer: oracles[3]!,
      simulate: { price: '2501', spreadPpm: 0 },
      count: 1,
      now: windowClock(),
      onTick: (tick) => ticks.push(tick),
    })
    expect(result).toEqual({ ticks: 1, attested: 0 })
    expect(ticks[0]?.op).toBeUndefined()
    expect(ticks[0]?.error).toMatch(/duplicate|already/i)
  })

  test('an unknown feed or an unregistered key stops the oracle before its first tick', async () => {
    const client = new NodeClient(t.url)
    await expect(
      runOracle({ feed: 'BTC/EUR', client, signer: oracles[0]!, simulate: { price: '1' } }),
    ).rejects.toThrow('has no feed "BTC/EUR"')
    const stranger = generateSigner()
    await expect(
      runOracle({ feed: 'ETH/USD', client, signer: stranger, simulate: { price: '1' } }),
    ).rejects.toThrow(
      `Key ${keyOf(stranger)} is not an oracle of feed "ETH/USD"; its owner adds it with "rwa feed oracle add ETH/USD ${keyOf(stranger)}".`,
    )
  })

  test('rwa feed latest | oracles | show | series print what the node says; rwa oracle run stops on SIGTERM', async () => {
    const latest = await cli(['feed', 'latest', 'ETH/USD', '--node', t.url])
    expect(latest[0]).toBe('ETH/USD: 2501 USD')
    expect(latest[2]).toMatch(/^ {2}confidence \d+ of 100 · 4 observation\(s\) · \d+ outlier\(s\)$/)
    expect(latest[3]).toBe('  on chain: no report posted yet')
    const table = await cli(['feed', 'oracles', 'ETH/USD', '--node', t.url])
    expect(table[0]).toMatch(
      /^oracle +attestations +quality % +avg deviation % +anomalies +last price$/,
    )
    expect(table).toHaveLength(2 + 4)
    expect(table.join('\n')).toContain('2502 USD')
    const shown = await cli(['feed', 'show', feedId, '--node', t.url])
    expect(shown[0]).toBe(`ETH/USD (${feedId})`)
    expect(shown[2]).toContain('8 decimals · window 10 s · heartbeat 60 s · deviation 0.50%')
    const svg = join(t.root, 'series.svg')
    const series = await cli([
      'feed',
      'series',
      'ETH/USD',
      '--last',
      '5',
      '--svg',
      svg,
      '--node',
      t.url,
    ])
    expect(series[0]).toMatch(/^ETH\/USD: 1 window\(s\), 4 attestation\(s\) from 4 oracle\(s\)$/)
    expect(series.at(-1)).toBe(`Chart written to ${svg}.`)
    const { readFileSync } = await import('node:fs')
    expect(readFileSync(svg, 'utf8')).toContain(`aggregate (${t.url})`)
    await expect(
      cli(['feed', 'series', 'ETH/USD', '--last', '0', '--node', t.url]),
    ).rejects.toThrow(/from 1 to 1000/)
    const keyFile = join(t.root, 'oracle.key')
    writeKeyFile(keyFile, oracles[3]!)
    // SIGTERM as the process would get it, delivered to the command's own handler once it has
    // one (emitting the signal would reach the test runner's handlers too).
    const before = new Set(process.listeners('SIGTERM'))
    const signal = setInterval(() => {
      for (const listener of process.listeners('SIGTERM'))
        if (!before.has(listener)) (listener as (signal: string) => void)('SIGTERM')
    }, 100)
    const run = await cli([
      'oracle',
      'run',
      '--feed',
      'ETH/USD',
      '--simulate',
      '2501',
      '--spread',
      '0',
      '--node',
      t.url,
      '--key',
      keyFile,
    ]).finally(() => clearInterval(signal))
    // Whether its one tick fell in a window it had attested already or not, it stopped on the signal.
    expect(run.at(-1)).toMatch(/^Stopped after [01] tick\(s\): [01] attestation\(s\) sent\.$/)
  }, 30_000)
})

/** Runs `rwa <args>` in process with the feed commands; answers the lines it printed. */
async function cli(args: string[]): Promise<string[]> {
  const program = new Command().exitOverride()
  registerOracleCommands(program)
  registerFeedQueryCommands(program.command('feed'))
  const lines: string[] = []
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => {
    lines.push(parts.join(' '))
  })
  try {
    await program.parseAsync(args, { from: 'user' })
  } finally {
    log.mockRestore()
  }
  return lines.join('\n').split('\n')
}

function json(res: ServerResponse, value: unknown): void {
  const text = JSON.stringify(value)
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}
