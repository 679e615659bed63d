// The json pages' browser code (served in /ui/app.js after the shell's APP_JS, whose `$`, `esc`,
// `show`, `api`, `onPage`, `whoAmI` and `TOKEN` it uses). Plain script, no framework, no build.
//
// A document's page follows `GET /json/:doc/events` (SSE) and shows the content as a tree; each
// text container is a <textarea>. Typing is sent as `POST /json/:doc/text` { path, base, splices }
// at most every ~150 ms per text, one request in flight: the splice is the common prefix/suffix
// diff of the server's text (at version `base`) against the textarea. Others' splices arriving
// meanwhile are transformed (as ot.js's TextOperation: retain / insert / delete over the whole
// text) through the request in flight and what is not sent yet, and so is the caret. The echo of
// the page's own change (the POST answer's `op` is the event's `op`) is not applied again: the
// server's text after it replaces the page's guess, what was typed since being carried over.

/**
 * Pure text helpers of the live editor (no DOM): `diffText(a, b)` → [pos, del, ins] (common
 * prefix and suffix, never splitting a surrogate pair); `textOp(length, pos, del, ins)` → an
 * operation; `applyText(text, op)`; `transformOps(a, b)` → [a', b'] with a's insertions first at
 * one place; `transformIndex(index, op)` for a caret (an insertion at the caret goes after it).
 * An operation is an array of retains (n > 0), deletions (n < 0) and insertions (strings).
 */
export const TEXT_SYNC_JS = `
const isHighSurrogate = (code) => code >= 0xd800 && code <= 0xdbff
const isLowSurrogate = (code) => code >= 0xdc00 && code <= 0xdfff

function diffText(a, b) {
  const min = Math.min(a.length, b.length)
  let start = 0
  while (start < min && a.charCodeAt(start) === b.charCodeAt(start)) start++
  if (start > 0 && start < min && isHighSurrogate(a.charCodeAt(start - 1))) start--
  let end = 0
  while (end < min - start && a.charCodeAt(a.length - 1 - end) === b.charCodeAt(b.length - 1 - end)) end++
  if (end > 0 && isLowSurrogate(a.charCodeAt(a.length - end))) end--
  return [start, a.length - start - end, b.slice(start, b.length - end)]
}

function pushComponent(op, c) {
  if (c === 0 || c === '') return
  const last = op.length - 1
  if (last >= 0 && typeof op[last] === typeof c && (typeof c === 'string' || op[last] > 0 === c > 0)) op[last] += c
  else op.push(c)
}

function textOp(length, pos, del, ins) {
  if (!(pos >= 0 && del >= 0 && pos + del <= length)) throw new Error('A splice ' + pos + '+' + del + ' falls outside a text of ' + length + ' characters.')
  const op = []
  pushComponent(op, pos)
  pushComponent(op, -del)
  pushComponent(op, ins)
  pushComponent(op, length - pos - del)
  return op
}

function applyText(text, op) {
  const parts = []
  let at = 0
  for (const c of op) {
    if (typeof c === 'string') parts.push(c)
    else if (c > 0) {
      parts.push(text.slice(at, at + c))
      at += c
    } else at -= c
  }
  if (at !== text.length) throw new Error('The change spans ' + at + ' characters, the text ' + text.length + '.')
  return parts.join('')
}

function transformOps(a, b) {
  const a2 = []
  const b2 = []
  let i = 0
  let j = 0
  let x = a[i++]
  let y = b[j++]
  while (x !== undefined || y !== undefined) {
    if (typeof x === 'string') {
      pushComponent(a2, x)
      pushComponent(b2, x.length)
      x = a[i++]
      continue
    }
    if (typeof y === 'string') {
      pushComponent(a2, y.length)
      pushComponent(b2, y)
      y = b[j++]
      continue
    }
    if (x === undefined || y === undefined) throw new Error('The two changes span texts of different lengths.')
    let n
    if (x > 0 && y > 0) {
      n = Math.min(x, y)
      pushComponent(a2, n)
      pushComponent(b2, n)
      x -= n
      y -= n
    } else if (x < 0 && y < 0) {
      n = Math.min(-x, -y)
      x += n
      y += n
    } else if (x < 0) {
      n = Math.min(-x, y)
      pushComponent(a2, -n)
      x += n
      y -= n
    } else {
      n = Math.min(x, -y)
      pushComponent(b2, -n)
      x -= n
      y += n
    }
    if (x === 0) x = a[i++]
    if (y === 0) y = b[j++]
  }
  return [a2, b2]
}

function transformIndex(index, op) {
  let at = 0
  let out = index
  for (const c of op) {
    if (at > index) break
    if (typeof c === 'string') {
      if (at < index) out += c.length
    } else if (c > 0) at += c
    else {
      out -= Math.min(-c, index - at)
      at -= c
    }
  }
  return out
}
`

/**
 * The json domain's page script: the create form of `/ui/json`, and the live view and text
 * editors of `/ui/json/:doc` (see the file's comment).
 */
export const JSON_JS = String.raw`
(() => {
${TEXT_SYNC_JS}
// Wait after a keystroke before sending: keystrokes of a burst go in one request.
const BATCH_MS = 150
// Inserted characters per request: a change stays far below an op's 64 KiB (3 bytes a character
// at most); a longer paste goes in several requests.
const MAX_SENT = 8192
const FIRST_RETRY_MS = 1000
const MAX_RETRY_MS = 30000
const REQUEST_MS = 30000
// Values drawn in the tree; the rest of a huge document is elided (the raw JSON shows it all).
const MAX_DRAWN = 5000

const docApi = (doc, tail) => '/json/' + encodeURIComponent(doc) + (tail || '')
const pathKey = (path) => JSON.stringify(path)
const pathText = (path) => path.length === 0 ? '(root)' : path.map(String).join(' › ')

function valueAt(content, path) {
  let value = content
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, key)) return undefined
    value = value[key]
  }
  return value
}

function setAt(content, path, value) {
  const parent = valueAt(content, path.slice(0, -1))
  if (parent !== null && typeof parent === 'object' && path.length > 0) parent[path[path.length - 1]] = value
}

// A request with the account's token; answers the status and the JSON body (never throws for a
// status, only when the node cannot be reached or takes too long).
async function call(method, path, body) {
  const token = localStorage.getItem(TOKEN)
  const response = await fetch(path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: 'Bearer ' + token } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_MS),
  })
  return { status: response.status, json: await response.json().catch(() => ({})) }
}

// ---- the create form of /ui/json ----

function parseCreateForm(form) {
  const data = new FormData(form)
  const name = String(data.get('name') || '').trim()
  if (!name) throw new Error('Give the document a name.')
  const editors = String(data.get('editors') || '').split(/[\s,]+/).filter(Boolean)
  const bad = editors.find((key) => !/^[0-9a-f]{64}$/.test(key))
  if (bad) throw new Error('"' + bad.slice(0, 70) + '" is not a public key: an editor is 64 hex digits (lowercase).')
  const audit = String(data.get('audit') || '').trim()
  const text = String(data.get('content') || '').trim()
  let content
  try {
    content = text ? JSON.parse(text) : {}
  } catch (error) {
    throw new Error('The content is not JSON: ' + error.message)
  }
  if (content === null || typeof content !== 'object' || Array.isArray(content)) throw new Error('The content is a JSON object, such as {"text": {"$text": ""}}.')
  return { name, ...(editors.length ? { editors } : {}), ...(audit ? { audit } : {}), content }
}

function bindCreateForm() {
  const form = $('#json-create-form')
  if (!form || form.dataset.bound) return
  form.dataset.bound = '1'
  form.onsubmit = async (event) => {
    event.preventDefault()
    const button = form.querySelector('button')
    button.disabled = true
    try {
      const body = parseCreateForm(form)
      const created = await api('POST', '/json', body)
      location.href = '/ui/json/' + encodeURIComponent(created.doc || created.id || body.name)
    } catch (error) {
      show(error.message, 'error')
    } finally {
      button.disabled = false
    }
  }
}

// ---- a document's live page ----

// One text container's editor: the server's text at the page's version, the request in flight
// (its change transformed as others' arrive, and the text it makes), and the textarea.
function createEditor(live, path, text) {
  const area = document.createElement('textarea')
  area.className = 'json-textarea'
  area.spellcheck = false
  area.value = text
  area.dataset.textPath = pathKey(path)
  area.setAttribute('aria-label', 'text ' + pathText(path))
  const editor = { path, area, doc: text, inflight: null, timer: null, composing: false }
  area.addEventListener('input', () => {
    if (!editor.timer) editor.timer = setTimeout(() => live.flush(editor), BATCH_MS)
    live.updateStatus()
  })
  area.addEventListener('compositionstart', () => { editor.composing = true })
  area.addEventListener('compositionend', () => {
    editor.composing = false
    live.schedule(editor, 0)
  })
  return editor
}

// Sets a textarea's text after a change not typed here, moving the caret and selection with it.
function setArea(area, value, op) {
  if (value === area.value) return
  const focused = document.activeElement === area
  const { selectionStart, selectionEnd, selectionDirection } = area
  const top = area.scrollTop
  area.value = value
  if (focused) area.setSelectionRange(transformIndex(selectionStart, op), transformIndex(selectionEnd, op), selectionDirection)
  area.scrollTop = top
}

// Carries what was typed over from text 'base' (the editor's idea of the server's text) to the
// server's actual text 'fresh': the typing as one change, transformed through base → fresh.
function carryOver(editor, base, fresh) {
  const value = editor.area.value
  editor.doc = fresh
  if (base === fresh) return
  const local = textOp(base.length, ...diffText(base, value))
  const remote = textOp(base.length, ...diffText(base, fresh))
  const [local2, remote2] = transformOps(local, remote)
  setArea(editor.area, applyText(fresh, local2), remote2)
}

// Applies others' change 'op' (on the editor's server text) to the editor. The node applied it
// before the request in flight, whose splices it rebases after it: where both insert at one
// place, the change in flight goes second. What is not sent yet goes first (it is sent later, on
// top of 'op'), so typing at a place where another person types stays in one piece.
function applyRemote(editor, op) {
  let remote = op
  const sent = editor.inflight ? editor.inflight.sent : editor.doc
  if (editor.inflight) {
    const [remote2, inflight2] = transformOps(remote, editor.inflight.ops)
    editor.inflight.ops = inflight2
    remote = remote2
    editor.inflight.sent = applyText(sent, remote)
  }
  editor.doc = applyText(editor.doc, op)
  const value = editor.area.value
  const unsent = textOp(sent.length, ...diffText(sent, value))
  const [, remote3] = transformOps(unsent, remote)
  setArea(editor.area, applyText(value, remote3), remote3)
}

function liveDoc(section) {
  const doc = section.dataset.doc
  const live = {
    version: -1,
    content: undefined,
    editors: new Map(),
    queue: [],
    loading: false,
    source: null,
    link: 'connecting',
    retryMs: FIRST_RETRY_MS,
    timers: {},
    saved: false,
    editorsKeys: [],
    owner: '',
    canEdit: false,
  }

  const setStatus = (state, text) => {
    const line = $('#json-status')
    if (!line) return
    line.dataset.state = state
    line.textContent = text
  }

  const pending = () => [...live.editors.values()].some((e) => e.inflight || e.area.value !== e.doc)

  live.updateStatus = () => {
    if (live.link === 'connecting') return setStatus('connecting', 'Connecting…')
    if (live.link === 'reconnecting') return setStatus('reconnecting', 'Connection lost; reconnecting in ' + Math.round(live.retryMs / 1000) + ' s…')
    if (pending()) return setStatus('saving', 'Saving…')
    setStatus(live.saved ? 'saved' : 'connected', live.saved ? 'Saved (version ' + live.version + ').' : 'Connected (version ' + live.version + ').')
  }

  live.schedule = (editor, ms) => {
    if (editor.timer) clearTimeout(editor.timer)
    editor.timer = setTimeout(() => live.flush(editor), ms)
  }

  // Sends what was typed into a text since the server's text, unless a request is in flight.
  live.flush = async (editor) => {
    editor.timer = null
    if (editor.inflight || editor.composing || live.loading || live.version < 0 || live.editors.get(pathKey(editor.path)) !== editor) return
    let [pos, del, ins] = diffText(editor.doc, editor.area.value)
    if (del === 0 && ins === '') return live.updateStatus()
    if (ins.length > MAX_SENT) ins = ins.slice(0, isHighSurrogate(ins.charCodeAt(MAX_SENT - 1)) ? MAX_SENT - 1 : MAX_SENT)
    const ops = textOp(editor.doc.length, pos, del, ins)
    const inflight = { ops, sent: applyText(editor.doc, ops), state: 'sending', op: null, version: null }
    editor.inflight = inflight
    live.updateStatus()
    let answer
    try {
      answer = await call('POST', docApi(doc, '/text'), { path: editor.path, base: live.version, splices: [[pos, del, ins]] })
    } catch (error) {
      answer = { status: 0, json: { message: 'The node cannot be reached (' + error.message + ').' } }
    }
    if (answer.status === 200 && typeof answer.json.op === 'string') {
      inflight.state = 'acked'
      inflight.op = answer.json.op
      inflight.version = answer.json.version
      return live.pump()
    }
    if (answer.status === 409) {
      // The node no longer holds the changes since 'base': start again from its text.
      inflight.state = 'refused'
      return live.reload()
    }
    if (answer.status >= 400 && answer.status < 500) {
      // Refused (not an editor, no token, a text gone): what was typed is not in the document.
      editor.inflight = null
      setArea(editor.area, editor.doc, textOp(editor.area.value.length, ...diffText(editor.area.value, editor.doc)))
      show('Not saved: ' + (answer.json.message || 'the node answered ' + answer.status + '.'), 'error')
      live.updateStatus()
      return live.pump()
    }
    // Unreachable or failing: the change may or may not have been applied; the text the node
    // holds tells, once it answers again.
    inflight.state = 'unknown'
    show('Not saved yet: ' + (answer.json.message || 'the node answered ' + answer.status + '.') + ' Retrying.', 'error')
    live.later('reload', live.reload)
  }

  live.flushAll = () => {
    for (const editor of live.editors.values()) if (!editor.inflight && editor.area.value !== editor.doc) live.schedule(editor, 0)
  }

  // Until a request is answered (or its fate read from the node) its echo cannot be told apart.
  live.blocked = () => live.loading || [...live.editors.values()].some((e) => e.inflight && e.inflight.state !== 'acked')

  // Handles what the stream sent, in order; waits while a request is unanswered (its echo must
  // be told from others' changes) and while the document is being read.
  live.pump = () => {
    while (!live.blocked() && live.queue.length > 0) {
      const message = live.queue.shift()
      if (message.event === 'snapshot') {
        live.link = 'connected'
        live.reload()
      } else live.change(message.data)
    }
    live.updateStatus()
  }

  // Reads the document (content, version, which strings are texts) and carries each text's
  // typing over to it.
  live.reload = async () => {
    // One read at a time: the one under way settles every editor's request as well.
    if (live.loading) return
    live.loading = true
    try {
      const response = await fetch(docApi(doc, '?meta=1'), { cache: 'no-store', signal: AbortSignal.timeout(REQUEST_MS) })
      const meta = await response.json().catch(() => ({}))
      if (!response.ok) throw new Error(meta.message || 'The node answered ' + response.status + '.')
      live.load(meta)
    } catch (error) {
      show('The document cannot be read: ' + error.message, 'error')
      live.loading = false
      return live.later('reload', live.reload)
    }
    live.loading = false
    live.pump()
    live.flushAll()
  }

  live.load = (meta) => {
    live.version = meta.version
    live.content = meta.content
    live.editorsKeys = Array.isArray(meta.editors) ? meta.editors : []
    live.owner = typeof meta.owner === 'string' ? meta.owner : ''
    const title = $('#json-title')
    if (title && typeof meta.name === 'string') title.textContent = meta.name
    const info = $('#json-info')
    if (info) info.innerHTML = esc(live.editorsKeys.length) + ' editor(s) · owner <span class="addr" title="' + esc(meta.owner || '') + '">' + esc(String(meta.owner || '').slice(0, 12)) + '…</span> · <a href="' + docApi(doc, '?meta=1') + '">JSON</a> · <a href="' + docApi(doc, '/history') + '">history</a>'
    const editors = new Map()
    for (const path of Array.isArray(meta.texts) ? meta.texts : []) {
      if (!Array.isArray(path)) continue
      const key = pathKey(path)
      const text = valueAt(meta.content, path)
      if (typeof text !== 'string') continue
      const editor = live.editors.get(key) || createEditor(live, path, text)
      live.rebase(editor, text, meta.version)
      editors.set(key, editor)
    }
    live.editors = editors
    live.render()
    live.access()
  }

  // The editor's server text is now 'fresh' (at 'version'): settle the request in flight.
  live.rebase = (editor, fresh, version) => {
    const inflight = editor.inflight
    if (inflight && inflight.state === 'acked' && version < inflight.version) return applyRemote(editor, textOp(editor.doc.length, ...diffText(editor.doc, fresh)))
    let base = editor.doc
    // Applied (the node said so, or its text is what the change made): typing since goes on top.
    if (inflight && (inflight.state === 'acked' || (inflight.state === 'unknown' && fresh === inflight.sent))) base = inflight.sent
    editor.inflight = null
    carryOver(editor, base, fresh)
  }

  // One applied op of the stream: others' splices go into the texts; the page's own echo only
  // confirms; anything else (a change of shape, or of the editors) and the document is read again.
  live.change = (change) => {
    if (!change || typeof change.version !== 'number' || change.version <= live.version) return
    const patches = Array.isArray(change.patches) ? change.patches : []
    // A missed event, a change of shape, or the page's own change gone by unseen: read it again.
    if (live.version >= 0 && change.version !== live.version + 1) return live.reload()
    // Who may edit changed: read the editors (and the page's access) again.
    if (change.type === 'json.editors') return live.reload()
    if (patches.some((p) => !p || p.action !== 'splice' || !Array.isArray(p.path))) return live.reload()
    const editors = [...live.editors.values()]
    if (editors.some((e) => e.inflight && e.inflight.state === 'acked' && e.inflight.op !== change.op && e.inflight.version <= change.version)) return live.reload()
    const own = editors.find((e) => e.inflight && e.inflight.state === 'acked' && e.inflight.op === change.op)
    let ownText = own ? own.doc : ''
    let drawn = false
    try {
      for (const p of patches) {
        const key = pathKey(p.path)
        const editor = live.editors.get(key)
        const before = editor ? editor.doc : valueAt(live.content, p.path)
        if (typeof before !== 'string') return live.reload()
        if (editor === own) ownText = applyText(ownText, textOp(ownText.length, p.index, p.remove, p.insert))
        else if (editor) applyRemote(editor, textOp(editor.doc.length, p.index, p.remove, p.insert))
        else {
          // A text this page did not know was one: it gets an editor.
          const text = applyText(before, textOp(before.length, p.index, p.remove, p.insert))
          live.editors.set(key, createEditor(live, p.path, text))
          drawn = true
        }
      }
    } catch (error) {
      // The page's idea of the text went wrong: read it again.
      return live.reload()
    }
    if (own) {
      const base = own.inflight.sent
      own.inflight = null
      carryOver(own, base, ownText)
      live.saved = true
      if (own.area.value !== own.doc) live.schedule(own, 0)
    }
    live.version = change.version
    for (const editor of live.editors.values()) setAt(live.content, editor.path, editor.doc)
    if (drawn) live.render()
    else live.drawRaw()
  }

  live.render = () => {
    const tree = $('#json-tree')
    if (!tree) return
    const focused = document.activeElement
    const selection = focused && focused.tagName === 'TEXTAREA' ? [focused.selectionStart, focused.selectionEnd, focused.selectionDirection] : null
    const budget = { left: MAX_DRAWN }
    tree.innerHTML = treeHtml(live.content, [], live.editors, budget)
    for (const slot of tree.querySelectorAll('[data-text-slot]')) {
      const editor = live.editors.get(slot.dataset.textSlot)
      if (editor) slot.appendChild(editor.area)
    }
    if (selection && focused.isConnected) {
      focused.focus()
      focused.setSelectionRange(...selection)
    }
    live.drawRaw()
  }

  live.drawRaw = () => {
    const raw = $('#json-raw')
    if (raw && raw.closest('details').open) raw.textContent = JSON.stringify(live.content, null, 2)
  }

  // Textareas are read-only unless the token's account is one of the editors (the node checks
  // every change anyway).
  live.access = async () => {
    const account = await whoAmI().catch(() => null)
    live.canEdit = Boolean(account && live.editorsKeys.includes(account.key))
    for (const editor of live.editors.values()) editor.area.readOnly = !live.canEdit
    const note = $('#json-readonly')
    if (note) note.hidden = live.canEdit
    live.drawEditors(account)
  }

  // The editors, marked owner and you; the owner gets a Remove button on each other key and the
  // form to add keys or an audit's auditors. A change comes back on the feed, and the page reads
  // the editors again.
  live.drawEditors = (account) => {
    const list = $('#json-editor-list')
    if (!list) return
    const mine = account ? account.key : ''
    const owns = Boolean(mine && mine === live.owner)
    list.innerHTML = live.editorsKeys.map((key) => '<li data-key="' + esc(key) + '"><span class="addr" title="' + esc(key) + '">' + esc(key) + '</span>' +
      (key === live.owner ? ' <span class="muted">(owner)</span>' : '') + (key === mine ? ' <span class="muted">(you)</span>' : '') +
      (owns && key !== live.owner ? ' <button type="button" data-remove="' + esc(key) + '">Remove</button>' : '') + '</li>').join('')
    for (const button of list.querySelectorAll('button[data-remove]'))
      button.onclick = () => live.changeEditors({ remove: [button.dataset.remove] }, button)
    const form = $('#json-editors-form')
    if (!form) return
    form.hidden = !owns
    form.onsubmit = (event) => {
      event.preventDefault()
      const data = new FormData(form)
      const add = String(data.get('add') || '').split(/[\s,]+/).filter(Boolean)
      const bad = add.find((key) => !/^[0-9a-f]{64}$/.test(key))
      if (bad) return show('"' + bad.slice(0, 70) + '" is not a public key: an editor is 64 hex digits (lowercase).', 'error')
      const audit = String(data.get('audit') || '').trim()
      if (!add.length && !audit) return show('Give keys to add, or an audit whose auditors to add.', 'error')
      live.changeEditors({ ...(add.length ? { add } : {}), ...(audit ? { audit } : {}) }, form.querySelector('button'), form)
    }
  }

  live.changeEditors = async (body, button, form) => {
    button.disabled = true
    try {
      const changed = await api('POST', docApi(doc, '/editors'), body)
      show(changed.op ? 'The editors are changed: ' + changed.editors.length + ' editor(s).' : 'Nothing to change: the editors were so already.', 'ok')
      if (form) form.reset()
    } catch (error) {
      show(error.message, 'error')
    } finally {
      button.disabled = false
    }
  }

  // Runs 'fn' after the current wait (1 s, doubling up to 30 s until a snapshot comes); one
  // timer per purpose.
  live.later = (purpose, fn) => {
    if (live.timers[purpose]) return
    const wait = live.retryMs
    live.retryMs = Math.min(wait * 2, MAX_RETRY_MS)
    live.timers[purpose] = setTimeout(() => {
      live.timers[purpose] = null
      fn()
    }, wait)
  }

  // Follows the document's events; on a lost connection, waits (1 s, doubling to 30 s) and
  // starts again from a fresh snapshot.
  live.connect = () => {
    if (live.source) live.source.close()
    const source = new EventSource(docApi(doc, '/events'))
    live.source = source
    const take = (event) => (message) => {
      if (live.source !== source) return
      let data
      try {
        data = JSON.parse(message.data)
      } catch {
        return
      }
      if (event === 'snapshot') live.retryMs = FIRST_RETRY_MS
      live.queue.push({ event, data })
      live.pump()
    }
    source.addEventListener('snapshot', take('snapshot'))
    source.addEventListener('change', take('change'))
    source.onerror = () => {
      if (live.source !== source) return
      source.close()
      live.source = null
      live.link = 'reconnecting'
      live.updateStatus()
      live.later('connect', live.connect)
    }
  }

  live.connect()
  return live
}

function treeHtml(value, path, editors, budget) {
  if (budget.left-- <= 0) return '<span class="muted">…</span>'
  const key = pathKey(path)
  if (typeof value === 'string' && editors.has(key)) return '<div class="json-text" data-text-slot="' + esc(key) + '"></div>'
  if (Array.isArray(value)) {
    if (value.length === 0) return '<code>[]</code>'
    return '<ol class="json-list" start="0">' + value.map((v, i) => '<li>' + treeHtml(v, path.concat(i), editors, budget) + '</li>').join('') + '</ol>'
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value)
    if (keys.length === 0) return '<code>{}</code>'
    return '<dl class="json-map">' + keys.map((k) => '<dt>' + esc(k) + '</dt><dd>' + treeHtml(value[k], path.concat(k), editors, budget) + '</dd>').join('') + '</dl>'
  }
  return '<code>' + esc(JSON.stringify(value)) + '</code>'
}

let current = null
onPage('json-list', bindCreateForm)
onPage('json-doc', () => {
  const section = $('#json-doc')
  if (!section) return
  // The hook runs again when the token changes: the page keeps its stream, and re-checks access.
  if (current) return current.access()
  current = liveDoc(section)
  const raw = $('#json-raw')
  if (raw) raw.closest('details').addEventListener('toggle', () => current.drawRaw())
})
})()
`
