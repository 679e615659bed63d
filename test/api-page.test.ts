import { get } from 'node:http'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { TestNode } from './node-fixture.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

const run = hasSystemService(SYSTEM_SERVICES.chromium)

/** A GET with a chosen Host header (fetch may not set one). */
function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { host } }, (response) => {
      response.resume()
      resolve(response.statusCode!)
    }).on('error', reject)
  })
}

describe('the API page at /api', () => {
  let node: TestNode
  beforeAll(async () => {
    node = await TestNode.start()
  })
  afterAll(async () => {
    await node?.stop()
  })

  test('serves Swagger UI from the node: its own initializer, versioned assets cached for good', async () => {
    const page = await fetch(`${node.url}/api`)
    expect([page.status, page.headers.get('cache-control')]).toEqual([200, 'no-cache'])
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'")
    const html = await page.text()
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)
    expect(assets.every((a) => a.startsWith('/api/'))).toBe(true)
    const types: Record<string, string> = {}
    for (const asset of assets) {
      const response = await fetch(`${node.url}${asset}`)
      expect([asset, response.status]).toEqual([asset, 200])
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
      types[asset.split('/').pop()!] = response.headers.get('content-type')!
    }
    expect(types).toEqual({
      'favicon-32x32.png': 'image/png',
      'swagger-ui.css': 'text/css; charset=utf-8',
      'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
      'init.js': 'text/javascript; charset=utf-8',
    })
    const init = await (
      await fetch(`${node.url}${assets.find((a) => a.endsWith('init.js'))}`)
    ).text()
    expect(init).toContain("url: '/openapi.json'")
    expect(init).toContain('validatorUrl: null')
  })

  test('answers 404 for any other file, and passes the Host guard like every route', async () => {
    const base = (await (await fetch(`${node.url}/api`)).text()).match(/\/api\/[^/"]+/)![0]
    for (const name of ['constructor', '__proto__', 'index.html', 'package.json'])
      expect([name, (await fetch(`${node.url}${base}/${name}`)).status]).toEqual([name, 404])
    expect(await getWithHost(`${node.url}/api`, 'evil.example')).toBe(403)
    expect(await getWithHost(`${node.url}${base}/swagger-ui-bundle.js`, 'evil.example')).toBe(403)
  })
})

describe.runIf(run)('the API page in a real Chromium', () => {
  let node: TestNode
  let browser: Browser
  beforeAll(async () => {
    node = await TestNode.start()
    browser = await launchChromium()
  }, 60_000)
  afterAll(async () => {
    await browser?.close()
    await node?.stop()
  })

  test('is linked from the dashboard, loads offline and lists every route of /openapi.json', async () => {
    const page = await browser.newPage()
    const problems: string[] = []
    const elsewhere: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text())
    })
    page.on('pageerror', (e) => problems.push(e.message))
    // Offline: any request to another origin is refused and noted.
    await page.route('**/*', (route) => {
      const url = route.request().url()
      if (url.startsWith(node.url) || url.startsWith('data:')) return route.continue()
      elsewhere.push(url)
      return route.abort()
    })
    await page.goto(`${node.url}/`)
    await page.click('footer a[href="/api"]')
    await page.waitForSelector('.opblock-summary-path')
    const shown = await page.$$eval('.opblock-summary', (blocks) =>
      blocks.map((b) => {
        const method = b.querySelector('.opblock-summary-method')?.textContent?.toLowerCase()
        const path = b.querySelector('.opblock-summary-path')?.getAttribute('data-path')
        return `${method} ${path}`
      }),
    )
    const doc = (await (await fetch(`${node.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>
    }
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method} ${path}`),
    )
    expect(shown.sort()).toEqual(documented.sort())
    // A response schema is shown with its fields, not as a bare object.
    await page.click('.opblock-summary:has([data-path="/status"])')
    await page.waitForSelector('.responses-wrapper')
    expect(await page.textContent('.responses-wrapper')).toContain('stateHash')
    expect([elsewhere, problems]).toEqual([[], []])
  })
})
