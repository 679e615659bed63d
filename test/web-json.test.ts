import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { Hono } from 'hono'
import { pino } from 'pino'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import type { JsonSummary } from '../src/core/json/domain.ts'
import { JsonConflictError, JsonNotFoundError } from '../src/core/json/ops.ts'
import { jsonCard, jsonWebPart, LIST_PAGE_SIZE } from '../src/domains/json/pages.ts'
import { TEXT_SYNC_JS } from '../src/domains/json/script.ts'
import type { WebPart } from '../src/domains/plugin.ts'
import { errorResponse } from '../src/http/errors.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import type { Listed } from '../src/node/doc-index.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { APP_CSS, APP_JS } from '../src/web/assets.ts'
import { errorPage } from '../src/web/error-page.ts'
import type { Json } from './impact-api.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

// The json domain's dashboard: the live editor's text helpers (property tests), the pages as
// the WebPart's Hono app renders them, and Chromium pages on a real node (SQLite ledger, HTTP on
// loopback, its /ui/json pages, /json routes and change feed) typing into one text at once.

type Helpers = {
  diffText(a: string, b: string): [number, number, string]
  textOp(length: number, pos: number, del: number, ins: string): TextOp
  applyText(text: string, op: TextOp): string
  transformOps(a: TextOp, b: TextOp): [TextOp, TextOp]
  transformIndex(index: number, op: TextOp): number
}
type TextOp = (number | string)[]

const helpers = new Function(
  `${TEXT_SYNC_JS}; return { diffText, textOp, applyText, transformOps, transformIndex }`,
)() as Helpers

// ---------------------------------------------------------------------------------------------
// The text helpers.

/** Strings over a small alphabet (so edits collide), with a surrogate pair among the letters. */
const text = fc
  .array(fc.constantFrom('a', 'b', 'c', ' ', '😀'), { maxLength: 12 })
  .map((parts) => parts.join(''))

/** A splice of `base` as the browser makes them: the diff to another string. */
const changeOf = (base: string, target: string) =>
  helpers.textOp(base.length, ...helpers.diffText(base, target))

describe('the live editor text helpers', () => {
  test('diffText answers the one splice that turns a into b, never splitting a surrogate pair', () => {
    fc.assert(
      fc.property(text, text, (a, b) => {
        const [pos, del, ins] = helpers.diffText(a, b)
        expect(a.slice(0, pos) + ins + a.slice(pos + del)).toBe(b)
        for (const at of [pos, pos + del])
          expect(/[\ud800-\udbff]$/.test(a.slice(0, at)), `cut at ${at} of ${a}`).toBe(false)
      }),
    )
    expect(helpers.diffText('hello world', 'hello brave world')).toEqual([6, 0, 'brave '])
    expect(helpers.diffText('a😀b', 'a😃b')).toEqual([1, 2, '😃'])
  })

  test('two changes of one text, each transformed over the other, meet at one text', () => {
    fc.assert(
      fc.property(text, text, text, (base, x, y) => {
        const a = changeOf(base, x)
        const b = changeOf(base, y)
        const [a2, b2] = helpers.transformOps(a, b)
        const one = helpers.applyText(helpers.applyText(base, a), b2)
        const other = helpers.applyText(helpers.applyText(base, b), a2)
        expect(one).toBe(other)
      }),
    )
  })

  test('the first change goes first where both insert at one place', () => {
    const a = helpers.textOp(3, 1, 0, 'AA')
    const b = helpers.textOp(3, 1, 0, 'B')
    const [a2, b2] = helpers.transformOps(a, b)
    expect(helpers.applyText(helpers.applyText('xyz', a), b2)).toBe('xAAByz')
    expect(helpers.applyText(helpers.applyText('xyz', b), a2)).toBe('xAAByz')
  })

  test('a caret keeps its place in the text around others’ changes', () => {
    // "hello world" with the caret after "wor": text inserted before it moves it on.
    expect(helpers.transformIndex(9, helpers.textOp(11, 0, 0, '>> '))).toBe(12)
    // An insertion at the caret goes after it; a deletion around it brings it to its start.
    expect(helpers.transformIndex(4, helpers.textOp(11, 4, 0, 'XYZ'))).toBe(4)
    expect(helpers.transformIndex(5, helpers.textOp(11, 2, 6, ''))).toBe(2)
    fc.assert(
      fc.property(text, text, fc.nat(), (base, target, at) => {
        const caret = at % (base.length + 1)
        const moved = helpers.transformIndex(caret, changeOf(base, target))
        expect(moved).toBeGreaterThanOrEqual(0)
        expect(moved).toBeLessThanOrEqual(target.length)
      }),
    )
  })

  test('an operation that does not span the text is refused', () => {
    expect(() => helpers.applyText('abc', helpers.textOp(4, 0, 1, ''))).toThrow(/spans 4/)
    expect(() => helpers.textOp(3, 2, 2, '')).toThrow(/outside a text of 3/)
  })
})

// ---------------------------------------------------------------------------------------------
// The pages, rendered by the WebPart's app.

const summary = (id: string, name: string, editors = 2, changes = 5): Listed<JsonSummary> => ({
  id: id as OpId,
  name,
  state: 'open',
  editors,
  changes,
})

/** A list of documents as the json index answers for it (`resolve` by id or name, `page`). */
function listedIndex(docs: readonly Listed<JsonSummary>[]) {
  return {
    resolve(ref: string): OpId {
      const found = docs.filter((d) => d.id === ref || d.name === ref)
      if (found.length === 0) throw new JsonNotFoundError(`No JSON document is named "${ref}".`)
      if (found.length > 1) throw new JsonConflictError(`${found.length} documents are "${ref}".`)
      return found[0]!.id
    },
    page(after: OpId | undefined, limit: number) {
      let start = 0
      if (after !== undefined) {
        start = docs.findIndex((d) => d.id === after) + 1
        if (start === 0) throw new JsonNotFoundError(`No JSON document "${after}" to list after.`)
      }
      const items = docs.slice(start, start + limit)
      const next = start + limit < docs.length ? items[items.length - 1]!.id : null
      return { items, next }
    },
  }
}

/** The dashboard shell around a WebPart: its pages, the shell's script and errors as pages. */
function shellApp(part: WebPart, node = 'n1'): Hono {
  const app = new Hono()
  app.onError((error, c) => {
    const { status, body } = errorResponse(error)
    if (c.req.path.startsWith('/ui/'))
      return c.html(errorPage({ node, status, message: body.message }), status as 400)
    return c.json(body, status as 400)
  })
  app.get('/ui/app.css', (c) => c.body(APP_CSS, 200, { 'content-type': 'text/css' }))
  app.get('/ui/app.js', (c) =>
    c.body([APP_JS, part.script ?? ''].join('\n;\n'), 200, { 'content-type': 'text/javascript' }),
  )
  if (part.pages) app.route(part.pages.prefix, part.pages.app)
  return app
}

describe('jsonWebPart pages', () => {
  const docs = [
    summary('bdoc1', 'Minutes <b>&</b> "notes"', 3, 7),
    ...Array.from({ length: LIST_PAGE_SIZE + 1 }, (_, i) =>
      summary(`bdoc${i + 2}`, `doc ${i + 2}`),
    ),
  ]
  const app = shellApp(jsonWebPart({ node: 'n1', index: listedIndex(docs) }))

  test('the home card lists each document with its editors and changes, escaped', () => {
    const card = jsonCard(docs.slice(0, 1))
    expect(card).toContain(
      '<a href="/ui/json/bdoc1">Minutes &#60;b&#62;&#38;&#60;/b&#62; &#34;notes&#34;</a></td><td class="num">3</td><td class="num">7</td>',
    )
    expect(card).toContain('href="/ui/json"')
    expect(jsonCard([])).toContain('No JSON document yet.')
  })

  test('the list pages the documents and carries the create form', async () => {
    const first = await app.request('/ui/json')
    expect(first.status).toBe(200)
    const html = await first.text()
    expect(html.match(/<tr data-doc=/g)).toHaveLength(LIST_PAGE_SIZE)
    expect(html).toContain('Minutes &#60;b&#62;')
    expect(html).toContain('id="json-create-form"')
    expect(html).toContain(`href="/ui/json?after=bdoc${LIST_PAGE_SIZE}"`)
    expect(html).toContain('window.rwaPage = "json-list"')
    const second = await (await app.request(`/ui/json?after=bdoc${LIST_PAGE_SIZE}`)).text()
    expect(second.match(/<tr data-doc=/g)).toHaveLength(2)
    expect(second).not.toContain('id="json-next"')
  })

  test('a document’s page is found by name or id; an unknown one is a 404 page', async () => {
    const byName = await app.request(`/ui/json/${encodeURIComponent('doc 3')}`)
    expect(byName.status).toBe(200)
    const html = await byName.text()
    expect(html).toContain('<section id="json-doc" data-doc="bdoc3"')
    expect(html).toContain('window.rwaPage = "json-doc"')
    const missing = await app.request('/ui/json/nothing-here')
    expect(missing.status).toBe(404)
    expect(await missing.text()).toContain('No JSON document is named &#34;nothing-here&#34;.')
    const badAfter = await app.request(`/ui/json?after=${'x'.repeat(300)}`)
    expect(badAfter.status).toBe(400)
    expect((await app.request('/ui/json?after=bnope')).status).toBe(404)
  })

  test('the page script is served with the shell’s and parses', async () => {
    const script = await (await app.request('/ui/app.js')).text()
    expect(() => new Function(script)).not.toThrow()
    expect(script).toContain("onPage('json-doc'")
  })
})

// ---------------------------------------------------------------------------------------------
// Chromium on a real node.

/** The textarea's members the tests read, as the page has them (the tests have no DOM types). */
type AreaElement = {
  readonly value: string
  readonly selectionStart: number
  readonly selectionEnd: number
  readonly readOnly: boolean
  setSelectionRange(start: number, end: number): void
}

type Path = (string | number)[]
type Account = { readonly name: string; readonly key: string; readonly token: string }

/**
 * The versions of a document the node keeps to rebase text edits on (`[domains.json]
 * ring_versions`): few, so that a page whose request is slow can fall behind them.
 */
const RING_VERSIONS = 4

/** Starts a node on `dataDir` (initialised), serving on `port` of loopback (0: a free one). */
async function startNode(dataDir: string, port = 0): Promise<RwaNode> {
  const node = createNode(loadConfig(dataDir), {
    port,
    logger: pino({ level: 'silent' }),
    verifyPool: false,
    chain: { mode: 'none' },
    net: { enabled: false },
  })
  await node.start()
  return node
}

/** Resolves when `settle` is called. */
function gate(): { promise: Promise<void>; settle: () => void } {
  let settle!: () => void
  const promise = new Promise<void>((resolve) => {
    settle = resolve
  })
  return { promise, settle }
}

const run = hasSystemService(SYSTEM_SERVICES.chromium)
/** Long enough for a loaded machine; the conditions are waited for, never slept on. */
const WAIT = { timeout: 20_000 }

describe.runIf(run)('a JSON document typed into from Chromium pages on a real node', () => {
  let root: string
  let dataDir: string
  let node: RwaNode
  let browser: Browser
  let alice: Account
  let bob: Account
  let carol: Account
  let doc: string
  const problems: string[] = []
  const pages: Page[] = []

  /** A request to the node with `token`; answers the status and the JSON body. */
  async function call(method: string, path: string, token?: string, body?: unknown) {
    const response = await fetch(`${node.url}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: response.status, json: (await response.json()) as Json }
  }

  /** Like `call`, expecting 200. */
  async function ok(method: string, path: string, token?: string, body?: unknown): Promise<Json> {
    const { status, json } = await call(method, path, token, body)
    expect(status, `${method} ${path}: ${JSON.stringify(json)}`).toBe(200)
    return json
  }

  /** The document's version on the node. */
  const version = async (): Promise<number> => (await ok('GET', `/json/${doc}?meta=1`)).version

  /** The text at `path` as the node holds it. */
  async function nodeText(path: Path): Promise<string> {
    let value: unknown = await ok('GET', `/json/${doc}`)
    for (const key of path) value = (value as Json)[key]
    expect(typeof value, `the node's value at ${JSON.stringify(path)}`).toBe('string')
    return value as string
  }

  /** Splices a text through the API as `account`, on the node's current version. */
  async function splice(account: Account, path: Path, pos: number, del: number, ins: string) {
    const body = { path, base: await version(), splices: [[pos, del, ins]] }
    return ok('POST', `/json/${doc}/text`, account.token, body)
  }

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'rwa-web-json-'))
    dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    appendFileSync(
      join(dataDir, 'config.toml'),
      `\n[domains.json]\nring_versions = ${RING_VERSIONS}\n`,
    )
    node = await startNode(dataDir)
    const operator = readFileSync(node.accounts.tokenPath(OPERATOR), 'utf8').trim()
    const account = async (name: string): Promise<Account> => {
      const { key, token } = await ok('POST', '/accounts', operator, { name })
      return { name, key, token }
    }
    alice = await account('alice')
    bob = await account('bob')
    carol = await account('carol')
    const created = await ok('POST', '/json', alice.token, {
      name: 'Minutes',
      editors: [bob.key],
      content: {
        title: 'a plain string',
        body: { $text: 'Hello' },
        items: [1, { note: { $text: 'nested' } }],
        votes: { $counter: 2 },
      },
    })
    doc = created.doc
    expect(created.editors).toEqual([alice.key, bob.key].sort())
    browser = await launchChromium()
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await node?.stop()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  afterEach(async () => {
    for (const page of pages.splice(0)) await page.context().close()
    const found = problems.splice(0)
    expect(found, 'console errors and page errors').toEqual([])
  })

  async function open(account: Account, path = `/ui/json/${doc}`): Promise<Page> {
    const context = await browser.newContext()
    await context.addInitScript(
      `localStorage.setItem('rwa.token', ${JSON.stringify(account.token)})`,
    )
    const page = await context.newPage()
    pages.push(page)
    page.on('console', (message) => {
      // Chromium itself reports a dropped stream and the 409 a test asks for; the page copes.
      const expected = /net::ERR_|EventSource|status of 409/
      if (message.type() === 'error' && !expected.test(message.text()))
        problems.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`))
    await page.goto(`${node.url}${path}`)
    return page
  }

  /** Counts the text requests (`POST /json/:doc/text`) the pages send from now on. */
  function countTextRequests(...of: Page[]): () => number {
    let n = 0
    for (const page of of)
      page.on('request', (request) => {
        if (request.method() === 'POST' && new URL(request.url()).pathname.endsWith('/text')) n++
      })
    return () => n
  }

  const area = (page: Page, path: Path) =>
    page.locator(`textarea[data-text-path='${JSON.stringify(path)}']`)
  const textOf = (page: Page, path: Path) => area(page, path).inputValue()

  /** Waits until the page's textarea at `path` holds what `check` accepts, and answers it. */
  async function until(
    page: Page,
    path: Path,
    check: (value: string) => boolean | Promise<boolean>,
    what: string,
  ) {
    const deadline = Date.now() + WAIT.timeout
    for (;;) {
      const value = await textOf(page, path)
      if (await check(value)) return value
      if (Date.now() > deadline)
        throw new Error(`Timed out waiting for ${what}; the text is "${value}".`)
      await page.waitForTimeout(50)
    }
  }

  async function typeAtEnd(page: Page, path: Path, typed: string) {
    const box = area(page, path)
    await box.focus()
    await box.evaluate((el: AreaElement) => el.setSelectionRange(el.value.length, el.value.length))
    await page.keyboard.type(typed, { delay: 20 })
  }

  test('shows the document with a textarea per text, and the rest as values', async () => {
    const page = await open(alice)
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    expect(await page.textContent('#json-title')).toBe('Minutes')
    expect(await textOf(page, ['body'])).toBe('Hello')
    expect(await textOf(page, ['items', 1, 'note'])).toBe('nested')
    expect(await page.locator('textarea.json-textarea').count()).toBe(2)
    const tree = await page.innerHTML('#json-tree')
    expect(tree).toContain('<dt>title</dt><dd><code>"a plain string"</code></dd>')
    expect(tree).toContain('<dt>votes</dt><dd><code>2</code></dd>')
    expect(tree).toContain('<li><code>1</code></li>')
    await page.click('#json-doc + section summary')
    // The panel is drawn on the details' toggle event, which comes after the click.
    await page.waitForSelector('#json-raw:not(:empty)', { ...WAIT, state: 'attached' })
    expect(JSON.parse((await page.textContent('#json-raw')) ?? '')).toEqual(
      await ok('GET', `/json/${doc}`),
    )
    expect(await area(page, ['body']).evaluate((el: AreaElement) => el.readOnly)).toBe(false)
  })

  /** Opens the document as alice and as bob, both connected. */
  async function openBoth(): Promise<[Page, Page]> {
    const both = await Promise.all([open(alice), open(bob)])
    await Promise.all(
      both.map((p) => p.waitForSelector('#json-status[data-state="connected"]', WAIT)),
    )
    return both as [Page, Page]
  }

  /** Waits until both pages and the node hold one text that `check` accepts, and answers it. */
  async function converged(a: Page, b: Page, check: (value: string) => boolean): Promise<string> {
    const seen = await until(a, ['body'], check, "alice's page to hold both inputs")
    await until(b, ['body'], (v) => v === seen, "bob's page to match alice's")
    return until(
      a,
      ['body'],
      async (v) => v === (await nodeText(['body'])),
      'the node to hold the same text',
    )
  }

  /** Whether the characters of `part` appear in `whole` in their order. */
  const inOrder = (part: string, whole: string) => {
    let at = 0
    for (const c of part) {
      at = whole.indexOf(c, at) + 1
      if (at === 0) return false
    }
    return true
  }

  test('two pages typing at once into one text, at two places, end with both inputs whole', async () => {
    const [a, b] = await openBoth()
    const start = await nodeText(['body'])
    const requests = countTextRequests(a, b)
    const alpha = 'alpha-one-two-three-four-five '
    const bravo = ' BRAVO-SIX-SEVEN-EIGHT-NINE'
    const typeAtStart = async () => {
      await area(a, ['body']).focus()
      await area(a, ['body']).evaluate((el: AreaElement) => el.setSelectionRange(0, 0))
      await a.keyboard.type(alpha, { delay: 20 })
    }
    await Promise.all([typeAtStart(), typeAtEnd(b, ['body'], bravo)])
    const text = await converged(a, b, (v) => v.includes(alpha) && v.includes(bravo))
    expect(text).toBe(`${alpha}${start}${bravo}`)
    // Batched: fewer requests than keystrokes, and more than one per page.
    expect(requests()).toBeGreaterThan(2)
    expect(requests()).toBeLessThan(alpha.length + bravo.length)
    await a.waitForSelector('#json-status[data-state="saved"]', WAIT)
    await b.waitForSelector('#json-status[data-state="saved"]', WAIT)
  })

  test('two pages typing at once at one place end with one text holding each input in order', async () => {
    // Whoever's keystroke reaches the node second at a place goes after the other's: words may
    // be cut once where both typed at one spot, but no keystroke is lost or reordered.
    const [a, b] = await openBoth()
    const start = await nodeText(['body'])
    const alpha = ' alpha-one-two-three-four-five'
    const bravo = ' BRAVO-SIX-SEVEN-EIGHT-NINE'
    await Promise.all([typeAtEnd(a, ['body'], alpha), typeAtEnd(b, ['body'], bravo)])
    const text = await converged(
      a,
      b,
      (v) => v.length === start.length + alpha.length + bravo.length,
    )
    expect(text.startsWith(start)).toBe(true)
    expect(inOrder(alpha, text.slice(start.length)), text).toBe(true)
    expect(inOrder(bravo, text.slice(start.length)), text).toBe(true)
  })

  test('a change made through the API appears in the open page, the caret kept in place', async () => {
    const page = await open(alice)
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    const box = area(page, ['body'])
    const before = await box.inputValue()
    expect(before).toBe(await nodeText(['body']))
    await box.focus()
    await box.evaluate((el: AreaElement) => el.setSelectionRange(el.value.length, el.value.length))
    await splice(bob, ['body'], 0, 0, '[api] ')
    const after = await until(page, ['body'], (v) => v.startsWith('[api] '), 'the API change')
    expect(after).toBe(`[api] ${before}`)
    const caret = await box.evaluate((el: AreaElement) => [el.selectionStart, el.selectionEnd])
    expect(caret).toEqual([after.length, after.length])
    // The nested text follows too.
    await splice(bob, ['items', 1, 'note'], 6, 0, ' and live')
    await until(page, ['items', 1, 'note'], (v) => v === 'nested and live', 'the nested text')
  })

  test('a stale base (409) makes the page read the document again and send its typing anew', async () => {
    const page = await open(alice)
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    const before = await nodeText(['body'])
    // The page's first text request is held on its way while bob changes the document more
    // times than the node keeps: the node then refuses the request's base as too old.
    const held = gate()
    const holding = gate()
    await page.route(
      '**/json/*/text',
      async (route) => {
        holding.settle()
        await held.promise
        await route.continue()
      },
      { times: 1 },
    )
    const statuses: number[] = []
    page.on('response', (response) => {
      if (new URL(response.url()).pathname.endsWith('/text')) statuses.push(response.status())
    })
    await typeAtEnd(page, ['body'], ' [after-409]')
    await holding.promise
    const prefix: string[] = []
    for (let i = 1; i <= RING_VERSIONS + 1; i++) {
      await splice(bob, ['body'], 0, 0, `<${i}>`)
      prefix.unshift(`<${i}>`)
    }
    held.settle()
    const expected = `${prefix.join('')}${before} [after-409]`
    await until(
      page,
      ['body'],
      async () => (await nodeText(['body'])) === expected,
      'the node to hold the typing',
    )
    await until(page, ['body'], (v) => v === expected, 'the page to match the node')
    expect(statuses[0]).toBe(409)
    expect(statuses.slice(1)).toEqual(statuses.slice(1).map(() => 200))
    expect(statuses.length).toBeGreaterThan(1)
  })

  test('a stream dropped by the node restarting is reconnected, with what changed meanwhile', async () => {
    const page = await open(alice)
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    // The page's new streams wait at its network until the change below is made: it then sees
    // that change in the snapshot of the new stream, not as an event.
    const reconnect = gate()
    let streams = 0
    await page.route('**/json/*/events', async (route) => {
      streams++
      await reconnect.promise
      await route.continue()
    })
    const port = Number(new URL(node.url).port)
    await node.stop()
    await page.waitForSelector('#json-status[data-state="reconnecting"]', WAIT)
    node = await startNode(dataDir, port)
    await splice(bob, ['body'], 0, 0, '(offline) ')
    reconnect.settle()
    await until(
      page,
      ['body'],
      (v) => v.startsWith('(offline) '),
      'the change made while disconnected',
    )
    expect(streams).toBeGreaterThan(0)
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    await splice(bob, ['body'], 0, 0, '(back) ')
    await until(
      page,
      ['body'],
      (v) => v.startsWith('(back) (offline) '),
      'a change after reconnecting',
    )
    await typeAtEnd(page, ['body'], '!')
    await until(
      page,
      ['body'],
      async () => (await nodeText(['body'])).endsWith('!'),
      'typing after reconnecting',
    )
  })

  test('an account that is not an editor gets read-only texts, until the owner adds it', async () => {
    const page = await open(carol)
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    await page.waitForSelector('#json-readonly:not([hidden])', WAIT)
    expect(await area(page, ['body']).evaluate((el: AreaElement) => el.readOnly)).toBe(true)
    // The node refuses carol's change anyway.
    const refused = await call('POST', `/json/${doc}/text`, carol.token, {
      path: ['body'],
      base: await version(),
      splices: [[0, 0, 'x']],
    })
    expect([refused.status, refused.json.error]).toEqual([403, 'JsonForbiddenError'])
    // The owner makes carol an editor: the open page reads the editors again and lets her type.
    const added = await call('POST', `/json/${doc}/editors`, alice.token, { add: [carol.key] })
    expect(added.status).toBe(200)
    await page.waitForSelector('#json-readonly', { ...WAIT, state: 'hidden' })
    expect(await area(page, ['body']).evaluate((el: AreaElement) => el.readOnly)).toBe(false)
    // (The body may end with "!" already: an earlier test typed one.)
    await typeAtEnd(page, ['body'], ' [carol]')
    await until(page, ['body'], (v) => v.includes(' [carol]'), "carol's typing")
    const sent = async () => ((await ok('GET', `/json/${doc}`)) as { body: string }).body
    for (const deadline = Date.now() + WAIT.timeout; !(await sent()).includes(' [carol]'); ) {
      if (Date.now() > deadline) throw new Error("carol's typing never reached the node")
      await page.waitForTimeout(50)
    }
    // Acknowledged: nothing of carol's is left to send when she is removed.
    await page.waitForSelector('#json-status[data-state="saved"]', WAIT)
    // And removed, read-only again.
    await call('POST', `/json/${doc}/editors`, alice.token, { remove: [carol.key] })
    await page.waitForSelector('#json-readonly:not([hidden])', WAIT)
    expect(await area(page, ['body']).evaluate((el: AreaElement) => el.readOnly)).toBe(true)
  })

  test('the owner adds and removes editors from the page; others see the list only', async () => {
    const page = await open(alice)
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    await page.click('#json-editors summary')
    const keys = async () =>
      page.$$eval('#json-editor-list li', (items) => items.map((li) => li.getAttribute('data-key')))
    await page.waitForSelector(`#json-editor-list li[data-key="${alice.key}"]`, WAIT)
    expect((await keys()).sort()).toEqual([alice.key, bob.key].sort())
    expect(await page.textContent(`#json-editor-list li[data-key="${alice.key}"]`)).toMatch(
      /\(owner\).*\(you\)/,
    )
    // A key that is no key is refused on the page; a good one is signed and comes back.
    await page.fill('#json-editors-form textarea[name="add"]', 'not-a-key')
    await page.click('#json-editors-form button[type="submit"]')
    await page.waitForSelector('#message.error', WAIT)
    expect(await page.textContent('#message')).toContain('is not a public key')
    await page.fill('#json-editors-form textarea[name="add"]', carol.key)
    await page.click('#json-editors-form button[type="submit"]')
    await page.waitForSelector(`#json-editor-list li[data-key="${carol.key}"]`, WAIT)
    expect((await ok('GET', `/json/${doc}?meta=1`)).editors).toContain(carol.key)
    // Bob, an editor but not the owner, sees the list without the form or Remove buttons.
    const other = await open(bob)
    await other.waitForSelector(`#json-editor-list li[data-key="${carol.key}"]`, {
      ...WAIT,
      state: 'attached',
    })
    expect(await other.isHidden('#json-editors-form')).toBe(true)
    expect(await other.$$('#json-editor-list button')).toHaveLength(0)
    // The owner removes carol; both pages drop her.
    await page.click(`#json-editor-list button[data-remove="${carol.key}"]`)
    for (const p of [page, other])
      await p.waitForSelector(`#json-editor-list li[data-key="${carol.key}"]`, {
        ...WAIT,
        state: 'detached',
      })
    expect((await ok('GET', `/json/${doc}?meta=1`)).editors).not.toContain(carol.key)
  })

  test('the create form makes a document and opens its page', async () => {
    const page = await open(alice, '/ui/json')
    await page.fill('#json-create-form input[name="name"]', 'Agenda')
    await page.fill('#json-create-form textarea[name="content"]', '{"points": {"$text": "one"}}')
    await page.click('#json-create-form button[type="submit"]')
    await page.waitForURL(/\/ui\/json\/b[a-z2-7]{58}$/, WAIT)
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    expect(await textOf(page, ['points'])).toBe('one')
    const created = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!)
    const meta = await ok('GET', `/json/${created}?meta=1`)
    expect([meta.name, meta.owner, meta.content]).toEqual(['Agenda', alice.key, { points: 'one' }])
    await page.goto(`${node.url}/ui/json`)
    expect(await page.textContent('#json-list')).toContain('Agenda')
    await page.fill('#json-create-form input[name="name"]', 'Broken')
    await page.fill('#json-create-form textarea[name="content"]', '[1, 2]')
    await page.click('#json-create-form button[type="submit"]')
    await page.waitForSelector('#message.error', WAIT)
    expect(await page.textContent('#message')).toContain('The content is a JSON object')
  })
})
