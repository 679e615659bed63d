import type { Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import fc from 'fast-check'
import { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { Child, JsonCrdt, type LocalChange, type Patch, ROOT } from '../src/core/json/crdt.ts'
import type { JsonSummary } from '../src/core/json/domain.ts'
import { JsonConflictError, JsonForbiddenError, JsonNotFoundError } from '../src/core/json/ops.ts'
import { jsonCard, jsonWebPart, LIST_PAGE_SIZE } from '../src/domains/json/pages.ts'
import { TEXT_SYNC_JS } from '../src/domains/json/script.ts'
import type { WebPart } from '../src/domains/plugin.ts'
import { errorResponse, NotFoundError, ValidationError } from '../src/http/errors.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import type { Listed } from '../src/node/doc-index.ts'
import { APP_CSS, APP_JS } from '../src/web/assets.ts'
import { errorPage } from '../src/web/error-page.ts'
import { hasSystemService, launchChromium, SYSTEM_SERVICES } from './system.ts'

// The json domain's dashboard: the live editor's text helpers (property tests), the pages as
// the WebPart's Hono app renders them, and two Chromium pages typing into one text at once.
//
// Until the json node part (routes, live feed) is merged, the browser tests run the pages
// against a small Hono server that fakes the route contract of the design (`GET /json/:doc?meta=1`,
// `GET /json/:doc/events` SSE, `POST /json/:doc/text`, `POST /json`) on a real JsonCrdt (the pure
// core): each change is made by position and applied as an op, its patches streamed. Its rebase
// of a text request shifts the splices over later text patches of that path (an insertion at
// the same place goes after the one applied first). TODO(lead): point these at a real node.

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
// A stand-in for the json node part's routes on a real JsonCrdt.

/** The textarea's members the tests read, as the page has them (the tests have no DOM types). */
type AreaElement = {
  readonly value: string
  readonly selectionStart: number
  readonly selectionEnd: number
  readonly readOnly: boolean
  setSelectionRange(start: number, end: number): void
}

type ChangeEvent = { version: number; op: string; author: string; patches: Patch[] }
type Path = (string | number)[]

const KEYS: Record<string, { name: string; key: string }> = {
  'alice-token': { name: 'alice', key: 'a1'.repeat(32) },
  'bob-token': { name: 'bob', key: 'b2'.repeat(32) },
  'carol-token': { name: 'carol', key: 'c3'.repeat(32) },
}

/** One document: a JsonCrdt, its change events, its open streams. */
class FakeDoc {
  readonly crdt = new JsonCrdt()
  readonly events: ChangeEvent[] = []
  readonly editors: string[]
  version = 1
  private ops = 0
  private readonly listeners = new Set<(event: ChangeEvent) => void>()
  private readonly drops = new Set<() => void>()

  constructor(
    readonly id: string,
    readonly name: string,
    readonly owner: string,
    editors: readonly string[],
    content: Record<string, unknown>,
  ) {
    this.editors = [...new Set([owner, ...editors])].sort()
    const genesis = this.crdt.begin()
    for (const [k, v] of Object.entries(content)) genesis.set(ROOT, k, v)
    genesis.commit(id)
  }

  /** Makes a change by position on the current state and applies it as the next op. */
  change(author: string, make: (change: LocalChange) => void): ChangeEvent {
    const draft = this.crdt.begin()
    try {
      make(draft)
    } finally {
      draft.abort()
    }
    const op = `${this.id}-op${++this.ops}`
    const patches: Patch[] = []
    const stop = this.crdt.observe((patch) => patches.push(patch))
    try {
      this.crdt.applyChange(this.crdt.registerOp(op, this.crdt.maxLamport + 1), draft.edits)
    } finally {
      stop()
    }
    const event = { version: ++this.version, op, author, patches }
    this.events.push(event)
    for (const listener of this.listeners) listener(event)
    return event
  }

  /** The container at `path`, or undefined. */
  containerAt(path: Path): number | undefined {
    let id = ROOT
    for (const key of path) {
      const kind = this.crdt.kind(id)
      let value: unknown
      if (kind === 'map' && typeof key === 'string') value = this.crdt.get(id, key)
      else if (kind === 'list' && typeof key === 'number' && key < this.crdt.length(id))
        value = this.crdt.at(id, key)
      if (!(value instanceof Child)) return undefined
      id = value.id
    }
    return id
  }

  /** Paths of every text container. */
  texts(id = ROOT, path: Path = []): Path[] {
    const kind = this.crdt.kind(id)
    if (kind === 'text') return [path]
    const children: [string | number, unknown][] =
      kind === 'map'
        ? this.crdt.mapKeys(id).map((k) => [k, this.crdt.get(id, k)])
        : kind === 'list'
          ? Array.from({ length: this.crdt.length(id) }, (_, i) => [i, this.crdt.at(id, i)])
          : []
    return children.flatMap(([k, v]) => (v instanceof Child ? this.texts(v.id, [...path, k]) : []))
  }

  meta() {
    return {
      id: this.id,
      name: this.name,
      owner: this.owner,
      editors: this.editors,
      version: this.version,
      content: this.crdt.toJSON(),
      texts: this.texts(),
    }
  }

  text(path: Path): string {
    return this.crdt.text(this.containerAt(path)!)
  }

  follow(listener: (event: ChangeEvent) => void, drop: () => void): () => void {
    this.listeners.add(listener)
    this.drops.add(drop)
    return () => {
      this.listeners.delete(listener)
      this.drops.delete(drop)
    }
  }

  /** Closes every open event stream (as a node restarting would). */
  dropStreams(): number {
    const drops = [...this.drops]
    for (const drop of drops) drop()
    return drops.length
  }
}

/** Splices given on version `base`, shifted over the text patches of `path` applied since. */
function rebase(doc: FakeDoc, path: Path, base: number, splices: [number, number, string][]) {
  const key = JSON.stringify(path)
  const since = doc.events
    .filter((e) => e.version > base)
    .flatMap((e) => e.patches)
    .filter((p) => p.action === 'splice' && JSON.stringify(p.path) === key) as Extract<
    Patch,
    { action: 'splice' }
  >[]
  const shift = (x: number, p: (typeof since)[number]) => {
    if (p.insert.length > 0) return p.index <= x ? x + p.insert.length : x
    return x <= p.index ? x : x >= p.index + p.remove ? x - p.remove : p.index
  }
  return splices.map(([pos, del, ins]): [number, number, string] => {
    let start = pos
    let end = pos + del
    for (const p of since) {
      start = shift(start, p)
      end = Math.max(start, shift(end, p))
    }
    return [start, end - start, ins]
  })
}

type Fake = {
  url: string
  docs: Map<string, FakeDoc>
  /** Statuses the next text requests answer with instead of applying them. */
  refuse: number[]
  refused: number
  textRequests: number
  close(): Promise<void>
}

/** Serves the json pages and the fake routes on 127.0.0.1 (a free port). */
async function startFake(): Promise<Fake> {
  const docs = new Map<string, FakeDoc>()
  const fake = { docs, refuse: [] as number[], refused: 0, textRequests: 0 } as Omit<
    Fake,
    'url' | 'close'
  >
  const index = {
    resolve(ref: string): OpId {
      const doc = docs.get(ref) ?? [...docs.values()].find((d) => d.name === ref)
      if (!doc) throw new JsonNotFoundError(`No JSON document is named "${ref}".`)
      return doc.id as OpId
    },
    page: () => ({
      items: [...docs.values()].map((d) => summary(d.id, d.name, d.editors.length, d.version - 1)),
      next: null,
    }),
  }
  const app = shellApp(jsonWebPart({ node: 'fake', index }), 'fake')
  const account = (authorization: string | undefined) => {
    const found = KEYS[(authorization ?? '').replace(/^Bearer /, '')]
    if (!found) throw new JsonForbiddenError('Send an account token.')
    return found
  }
  const docOf = (ref: string) => {
    const doc = docs.get(index.resolve(ref))
    if (!doc) throw new NotFoundError(`No document "${ref}".`)
    return doc
  }
  app.get('/accounts/me', (c) => c.json(account(c.req.header('authorization'))))
  app.post('/json', async (c) => {
    const who = account(c.req.header('authorization'))
    const body = (await c.req.json()) as { name: string; editors?: string[]; content?: object }
    const id = `bdoc${docs.size + 1}`
    docs.set(
      id,
      new FakeDoc(id, body.name, who.key, body.editors ?? [], (body.content ?? {}) as never),
    )
    return c.json({ id, name: body.name })
  })
  app.get('/json/:doc', (c) => {
    const doc = docOf(c.req.param('doc'))
    return c.json(c.req.query('meta') ? doc.meta() : doc.crdt.toJSON())
  })
  app.get('/json/:doc/events', (c) => {
    const doc = docOf(c.req.param('doc'))
    return streamSSE(c, async (stream) => {
      let writes = stream.writeSSE({
        event: 'snapshot',
        data: JSON.stringify({ version: doc.version, content: doc.crdt.toJSON() }),
      })
      await new Promise<void>((resolve) => {
        const stop = doc.follow(
          (event) => {
            writes = writes.then(() =>
              stream.writeSSE({ event: 'change', data: JSON.stringify(event) }),
            )
          },
          () => {
            stop()
            resolve()
          },
        )
        stream.onAbort(() => {
          stop()
          resolve()
        })
      })
      await writes.catch(() => {})
    })
  })
  app.post('/json/:doc/text', async (c) => {
    fake.textRequests++
    const doc = docOf(c.req.param('doc'))
    const who = account(c.req.header('authorization'))
    if (!doc.editors.includes(who.key))
      throw new JsonForbiddenError(`${who.name} may not edit "${doc.name}".`)
    const { path, base, splices } = (await c.req.json()) as {
      path: Path
      base: number
      splices: [number, number, string][]
    }
    const refusal = fake.refuse.shift()
    if (refusal !== undefined) {
      fake.refused++
      return c.json({ error: 'JsonConflictError', message: 'Too old a base.' }, refusal as 409)
    }
    const text = doc.containerAt(path)
    if (text === undefined || doc.crdt.kind(text) !== 'text')
      throw new ValidationError(`No text at ${JSON.stringify(path)}.`)
    const rebased = rebase(doc, path, base, splices)
    const event = doc.change(who.key, (change) => {
      for (const [pos, del, ins] of rebased) change.splice(text, pos, del, ins)
    })
    return c.json({ op: event.op, version: event.version })
  })
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(fake, {
    url,
    close: async () => {
      for (const doc of docs.values()) doc.dropStreams()
      ;(server as HttpServer).closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }) as Fake
}

// ---------------------------------------------------------------------------------------------
// Chromium.

const run = hasSystemService(SYSTEM_SERVICES.chromium)
/** Long enough for a loaded machine; the conditions are waited for, never slept on. */
const WAIT = { timeout: 20_000 }

describe.runIf(run)('a JSON document typed into from two Chromium pages', () => {
  let fake: Fake
  let browser: Browser
  let doc: FakeDoc
  const problems: string[] = []
  const pages: Page[] = []

  beforeAll(async () => {
    fake = await startFake()
    doc = new FakeDoc('bminutes', 'Minutes', KEYS['alice-token']!.key, [KEYS['bob-token']!.key], {
      title: 'a plain string',
      body: { $text: 'Hello' },
      items: [1, { note: { $text: 'nested' } }],
      votes: { $counter: 2 },
    })
    fake.docs.set(doc.id, doc)
    browser = await launchChromium()
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await fake?.close()
  })

  afterEach(async () => {
    for (const page of pages.splice(0)) await page.context().close()
    const found = problems.splice(0)
    expect(found, 'console errors and page errors').toEqual([])
  })

  async function open(token: string, path = `/ui/json/${doc.id}`): Promise<Page> {
    const context = await browser.newContext()
    await context.addInitScript(`localStorage.setItem('rwa.token', ${JSON.stringify(token)})`)
    const page = await context.newPage()
    pages.push(page)
    page.on('console', (message) => {
      // Chromium itself reports a dropped stream and the 409 a test asks for; the page copes.
      const expected = /net::ERR_|EventSource|status of 409/
      if (message.type() === 'error' && !expected.test(message.text()))
        problems.push(`console: ${message.text()}`)
    })
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`))
    await page.goto(`${fake.url}${path}`)
    return page
  }

  const area = (page: Page, path: Path) =>
    page.locator(`textarea[data-text-path='${JSON.stringify(path)}']`)
  const textOf = (page: Page, path: Path) => area(page, path).inputValue()

  /** Waits until the page's textarea at `path` holds what `check` accepts. */
  async function until(page: Page, path: Path, check: (value: string) => boolean, what: string) {
    const deadline = Date.now() + WAIT.timeout
    for (;;) {
      const value = await textOf(page, path)
      if (check(value)) return value
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
    const page = await open('alice-token')
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
    expect(JSON.parse((await page.textContent('#json-raw')) ?? '')).toEqual(doc.crdt.toJSON())
    expect(await area(page, ['body']).evaluate((el: AreaElement) => el.readOnly)).toBe(false)
  })

  /** Opens the document as alice and as bob, both connected. */
  async function openBoth(): Promise<[Page, Page]> {
    const both = await Promise.all([open('alice-token'), open('bob-token')])
    await Promise.all(
      both.map((p) => p.waitForSelector('#json-status[data-state="connected"]', WAIT)),
    )
    return both as [Page, Page]
  }

  /** Waits until both pages and the node hold one text that `check` accepts, and answers it. */
  async function converged(a: Page, b: Page, check: (value: string) => boolean): Promise<string> {
    const seen = await until(a, ['body'], check, "alice's page to hold both inputs")
    await until(b, ['body'], (v) => v === seen, "bob's page to match alice's")
    await until(a, ['body'], (v) => v === doc.text(['body']), 'the node to hold the same text')
    return doc.text(['body'])
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
    const start = doc.text(['body'])
    const requestsBefore = fake.textRequests
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
    const requests = fake.textRequests - requestsBefore
    expect(requests).toBeGreaterThan(2)
    expect(requests).toBeLessThan(alpha.length + bravo.length)
    await a.waitForSelector('#json-status[data-state="saved"]', WAIT)
    await b.waitForSelector('#json-status[data-state="saved"]', WAIT)
  })

  test('two pages typing at once at one place end with one text holding each input in order', async () => {
    // Whoever's keystroke reaches the node second at a place goes after the other's: words may
    // be cut once where both typed at one spot, but no keystroke is lost or reordered.
    const [a, b] = await openBoth()
    const start = doc.text(['body'])
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
    const page = await open('alice-token')
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    const box = area(page, ['body'])
    const before = await box.inputValue()
    await box.focus()
    await box.evaluate((el: AreaElement) => el.setSelectionRange(el.value.length, el.value.length))
    const response = await fetch(`${fake.url}/json/${doc.id}/text`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer bob-token' },
      body: JSON.stringify({ path: ['body'], base: doc.version, splices: [[0, 0, '[api] ']] }),
    })
    expect(response.status).toBe(200)
    const after = await until(page, ['body'], (v) => v.startsWith('[api] '), 'the API change')
    expect(after).toBe(`[api] ${before}`)
    const caret = await box.evaluate((el: AreaElement) => [el.selectionStart, el.selectionEnd])
    expect(caret).toEqual([after.length, after.length])
    // The nested text follows too.
    doc.change(KEYS['bob-token']!.key, (change) =>
      change.splice(doc.containerAt(['items', 1, 'note'])!, 6, 0, ' and live'),
    )
    await until(page, ['items', 1, 'note'], (v) => v === 'nested and live', 'the nested text')
  })

  test('a stale base (409) makes the page read the document again and send its typing anew', async () => {
    const page = await open('alice-token')
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    const refusedBefore = fake.refused
    fake.refuse.push(409)
    await typeAtEnd(page, ['body'], ' [after-409]')
    await until(
      page,
      ['body'],
      () => doc.text(['body']).endsWith(' [after-409]'),
      'the node to hold the typing',
    )
    expect(fake.refused).toBe(refusedBefore + 1)
    await until(page, ['body'], (v) => v === doc.text(['body']), 'the page to match the node')
  })

  test('a dropped stream is reconnected, and later changes still arrive', async () => {
    const page = await open('alice-token')
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    expect(doc.dropStreams()).toBeGreaterThan(0)
    // Changed while the page is disconnected: the snapshot after reconnecting brings it.
    doc.change(KEYS['bob-token']!.key, (change) =>
      change.splice(doc.containerAt(['body'])!, 0, 0, '(offline) '),
    )
    await until(
      page,
      ['body'],
      (v) => v.startsWith('(offline) '),
      'the change made while disconnected',
    )
    doc.change(KEYS['bob-token']!.key, (change) =>
      change.splice(doc.containerAt(['body'])!, 0, 0, '(back) '),
    )
    await until(
      page,
      ['body'],
      (v) => v.startsWith('(back) (offline) '),
      'a change after reconnecting',
    )
    await typeAtEnd(page, ['body'], '!')
    await until(page, ['body'], () => doc.text(['body']).endsWith('!'), 'typing after reconnecting')
  })

  test('an account that is not an editor gets read-only texts', async () => {
    const page = await open('carol-token')
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    await page.waitForSelector('#json-readonly:not([hidden])', WAIT)
    expect(await area(page, ['body']).evaluate((el: AreaElement) => el.readOnly)).toBe(true)
  })

  test('the create form makes a document and opens its page', async () => {
    const page = await open('alice-token', '/ui/json')
    await page.fill('#json-create-form input[name="name"]', 'Agenda')
    await page.fill('#json-create-form textarea[name="content"]', '{"points": {"$text": "one"}}')
    await page.click('#json-create-form button[type="submit"]')
    await page.waitForURL(/\/ui\/json\/bdoc\d+$/, WAIT)
    await page.waitForSelector('#json-status[data-state="connected"]', WAIT)
    expect(await textOf(page, ['points'])).toBe('one')
    await page.goto(`${fake.url}/ui/json`)
    expect(await page.textContent('#json-list')).toContain('Agenda')
    await page.fill('#json-create-form input[name="name"]', 'Broken')
    await page.fill('#json-create-form textarea[name="content"]', '[1, 2]')
    await page.click('#json-create-form button[type="submit"]')
    await page.waitForSelector('#message.error', WAIT)
    expect(await page.textContent('#message')).toContain('The content is a JSON object')
  })
})
