import { createServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
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
  runOracle,
  simulatedPrice,
} from '../src/domains/feed/cli/oracle-run.ts'
import { readSource, toFeedUnits } from '../src/domains/feed/cli/price-source.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { generateSigner } from '../src/store/key-file.ts'

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
      'Source /huge: answer of 100020 bytes is over the 65536-byte limit.',
      'Source /huge-chunked: answer is over the 65536-byte limit.',
      'Source /slow: no full answer within 300 ms.',
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

function json(res: ServerResponse, value: unknown): void {
  const text = JSON.stringify(value)
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}
