import { Hono } from 'hono'
import type { DocSummary } from '../../core/domain.ts'
import type { JsonSummary } from '../../core/json/domain.ts'
import { MAX_NAME } from '../../core/json/ops.ts'
import { ValidationError } from '../../http/errors.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { Listed } from '../../node/doc-index.ts'
import { esc, htmlPage, layout } from '../../web/layout.ts'
import type { WebPart } from '../plugin.ts'
import { JSON_JS } from './script.ts'

// JSON documents on the dashboard (issue 23): a card on the home page, the list with a form to
// create one at /ui/json, and a document's live page at /ui/json/:doc. The pages are shells
// rendered from the index; the document itself comes from the node's JSON routes (its events,
// its meta) in the browser, where script.ts shows it and edits its texts.

/** Documents a page of the list shows. */
export const LIST_PAGE_SIZE = 50

/** What the pages read of the documents (the json domain's `DocIndex` is one). */
export interface JsonDocuments {
  /** A document's id from its name or id (the domain's not-found or ambiguous error otherwise). */
  resolve(ref: string): OpId
  /** Up to `limit` documents after `after`, and the id to go on after (null on the last page). */
  page(
    after: OpId | undefined,
    limit: number,
  ): { items: readonly Listed<JsonSummary>[]; next: OpId | null }
}

/** What the json pages are built from. */
export type JsonWebContext = {
  /** The node's name, in the pages' header. */
  readonly node?: string
  /** The node's JSON documents (`components.index`). */
  readonly index: JsonDocuments
}

/**
 * The json domain's part of the dashboard: its home card, its pages and its page script.
 * @example parts.web = jsonWebPart({ node: components.config.name, index: components.index })
 */
export function jsonWebPart({ node = 'node', index }: JsonWebContext): WebPart {
  return {
    card: (documents) => jsonCard(documents),
    pages: { prefix: '/ui/json', app: jsonPages(node, index), docs: [] },
    script: JSON_JS,
  }
}

/** A document's page. */
const docUrl = (id: string) => `/ui/json/${encodeURIComponent(id)}`

/** A summary's count, or a dash for a summary that lacks it. */
const count = (value: unknown) => (typeof value === 'number' ? String(value) : '—')

/** The documents' section of the home page: each with its editors and changes. */
export function jsonCard(documents: readonly Listed<DocSummary>[]): string {
  const rows = documents
    .map(
      (d) =>
        `<tr><td><a href="${docUrl(d.id)}">${esc(d.name)}</a></td><td class="num">${count(d.editors)}</td><td class="num">${count(d.changes)}</td></tr>`,
    )
    .join('')
  return `<section id="json" data-noun="document"><h2>JSON documents</h2>
${rows ? `<table id="json-card"><tr><th>document</th><th class="num">editors</th><th class="num">changes</th></tr>${rows}</table>` : '<p class="muted">No JSON document yet.</p>'}
<p class="muted"><a href="/ui/json">All documents, and a form to create one</a> · <code>rwa doc</code> on the command line</p>
</section>`
}

/** The styles of the json pages (the shell's stylesheet has no textareas or trees). */
const STYLE = `<style>
#json-create-form { display: grid; gap: .5rem; }
#json-create-form textarea, textarea.json-textarea { font: 14px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace; width: 100%; padding: .4rem .6rem; border-radius: 6px; border: 1px solid var(--line); resize: vertical; }
textarea.json-textarea { min-height: 5rem; }
textarea.json-textarea[readonly] { background: var(--bg); }
#json-status { font-size: .85rem; color: var(--muted); }
#json-status[data-state="reconnecting"], #json-status[data-state="connecting"] { color: var(--bad); }
#json-status[data-state="saved"] { color: var(--ok); }
#json-tree dl.json-map { margin: 0; padding-left: .8rem; border-left: 2px solid var(--line); }
#json-tree dt { font-weight: 600; margin-top: .3rem; word-break: break-word; }
#json-tree dd { margin: 0 0 .2rem .6rem; }
#json-tree ol.json-list { margin: 0; padding-left: 2rem; }
#json-raw { white-space: pre-wrap; word-break: break-word; font-size: .85rem; }
#json-editors-form { display: grid; gap: .5rem; margin-top: .5rem; }
#json-editors-form textarea { font: 14px/1.45 ui-monospace, SFMono-Regular, Menlo, monospace; width: 100%; }
#json-editor-list li { margin: .2rem 0; word-break: break-all; }
#json-editor-list button { margin-left: .5rem; }
</style>`

/** The list of documents (a page of it), and the form to create one. */
export function jsonListPage(
  node: string,
  { items, next }: { items: readonly Listed<JsonSummary>[]; next: OpId | null },
): string {
  const rows = items
    .map(
      (d) =>
        `<tr data-doc="${esc(d.id)}"><td data-label="document"><a href="${docUrl(d.id)}">${esc(d.name)}</a></td><td class="num" data-label="editors">${count(d.editors)}</td><td class="num" data-label="changes">${count(d.changes)}</td><td data-label="id"><span class="addr">${esc(d.id)}</span></td></tr>`,
    )
    .join('')
  const more = next
    ? ` · <a id="json-next" href="/ui/json?after=${encodeURIComponent(next)}">Next documents</a>`
    : ''
  const body = `${STYLE}
<section id="json-docs" data-noun="document"><h1>JSON documents</h1>
${rows ? `<table id="json-list" class="stack"><tr><th>document</th><th class="num">editors</th><th class="num">changes</th><th>id</th></tr>${rows}</table>` : '<p class="muted" id="json-list-empty">No JSON document yet.</p>'}
<p class="muted"><a href="/json">JSON</a>${more}</p>
</section>
<section id="json-create" data-noun="document" data-needs-account><h2>Create a document</h2>
<form id="json-create-form" autocomplete="off">
<input name="name" required maxlength="${MAX_NAME}" placeholder="name" aria-label="name">
<textarea name="editors" rows="2" placeholder="editors besides you: Ed25519 public keys (hex), one a line" aria-label="editors"></textarea>
<input name="audit" placeholder="or an audit (name or id): its auditors become editors" aria-label="audit">
<textarea name="content" rows="5" aria-label="content">{ "text": { "$text": "" } }</textarea>
<p class="muted">Content is a JSON object: <code>{"$text": "…"}</code> makes a text several people can type into, <code>{"$counter": 0}</code> a counter; other strings are plain values.</p>
<div class="actions"><button class="primary" type="submit">Create</button></div>
</form>
</section>
<p class="muted" id="json-create-hint" data-account-hint>To create a document, use an account token above.</p>`
  return layout({ title: 'JSON documents', node, body, page: 'json-list', live: false })
}

/** A document's page: filled and kept live by the page script from the node's events. */
export function jsonDocPage(node: string, id: OpId): string {
  const body = `${STYLE}
<section id="json-doc" data-doc="${esc(id)}" data-noun="document">
<h1 id="json-title">${esc(id)}</h1>
<p class="muted" id="json-info"></p>
<p id="json-status" data-state="connecting" role="status">Connecting…</p>
<p class="muted" id="json-readonly" hidden>Only the document's editors may change it: use an editor's account token above to type into its texts.</p>
<div id="json-tree"><p class="muted">Loading the document…</p></div>
</section>
<section><details><summary>The document as JSON</summary><pre id="json-raw"></pre></details></section>
<section id="json-editors"><details><summary>Editors</summary>
<ul id="json-editor-list"></ul>
<form id="json-editors-form" autocomplete="off" hidden>
<textarea name="add" rows="2" placeholder="keys to add: Ed25519 public keys (hex), one a line" aria-label="keys to add"></textarea>
<input name="audit" placeholder="or an audit (name or id): add its registered auditors" aria-label="audit">
<div class="actions"><button class="primary" type="submit">Add editors</button></div>
</form>
<p class="muted" id="json-editors-hint">The owner adds and removes editors (<code>rwa doc editors</code>); a change made before seeing a removal still counts.</p>
</details></section>`
  return layout({ title: 'JSON document', node, body, page: 'json-doc', live: false })
}

function jsonPages(node: string, index: JsonDocuments): Hono {
  const app = new Hono()
  app.get('/', (c) => {
    const after = c.req.query('after')
    if (after !== undefined && (after.length === 0 || after.length > 200))
      throw new ValidationError('"after" is the id of a document of the list.')
    return htmlPage(c, jsonListPage(node, index.page(after as OpId | undefined, LIST_PAGE_SIZE)))
  })
  app.get('/:doc', (c) => htmlPage(c, jsonDocPage(node, index.resolve(c.req.param('doc')))))
  return app
}
