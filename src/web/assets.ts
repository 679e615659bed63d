// The dashboard's stylesheet and script, served as /ui/app.css and /ui/app.js. Plain CSS and a
// small script (no build step, no network at run time): pages are rendered on the server, and the
// script refreshes them while something runs and sends actions to the JSON API with the token.
// Domains add their own code after it (WebPart.script, in the same file): they register what
// their pages need with onPage(page, fn), and use api, show, bind and esc.

export const APP_CSS = `
:root { --fg: #1d2330; --muted: #5d6678; --line: #d9dde5; --bg: #f6f7f9; --accent: #2456d3; --ok: #1f8a4c; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); padding: .75rem 1rem; display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; align-items: center; }
header a.home { font-weight: 700; color: var(--fg); text-decoration: none; }
header form { margin-left: auto; display: flex; gap: .4rem; flex-wrap: wrap; }
main { max-width: 64rem; margin: 0 auto; padding: 1rem; }
footer { max-width: 64rem; margin: 0 auto; padding: 0 1rem 1.5rem; color: var(--muted); font-size: .85rem; }
footer a { color: inherit; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 1rem; margin-bottom: 1rem; overflow-x: auto; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; word-break: break-word; }
h2 { font-size: 1.05rem; margin: 0 0 .6rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: .85rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .addr { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .85em; word-break: break-all; }
.muted { color: var(--muted); }
.states { display: flex; flex-wrap: wrap; gap: .3rem; list-style: none; padding: 0; margin: 0; }
.states li { padding: .2rem .5rem; border-radius: 999px; border: 1px solid var(--line); font-size: .75rem; color: var(--muted); }
.states li.done { color: var(--fg); }
.states li.current { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 700; }
.bar { height: .55rem; background: #e7eaf0; border-radius: 999px; overflow: hidden; min-width: 6rem; }
.bar > span { display: block; height: 100%; background: var(--accent); }
.yes { color: var(--ok); font-weight: 600; } .no { color: var(--bad); font-weight: 600; }
.actions { display: flex; flex-wrap: wrap; gap: .4rem; align-items: center; }
button, input { font: inherit; padding: .4rem .7rem; border-radius: 6px; border: 1px solid var(--line); }
button { background: #fff; cursor: pointer; } button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button.big { font-size: 1.1rem; padding: .6rem 1.4rem; }
input { min-width: 0; flex: 1 1 12rem; }
#message { display: none; padding: .6rem .8rem; border-radius: 6px; margin-bottom: 1rem; }
#message.error { display: block; background: #fdecea; color: var(--bad); border: 1px solid #f5c2bc; }
#message.ok { display: block; background: #e8f5ee; color: var(--ok); border: 1px solid #b7e1c8; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: .5rem 1rem; }
.grid div span { display: block; color: var(--muted); font-size: .8rem; }
.name { font-weight: 600; }
a.addr, a.name { color: var(--accent); }
/* Phones: tables of many columns (class "stack") become one block per row, each cell labelled
   by its data-label, so that no column is squeezed to a word per line. */
@media (max-width: 40rem) {
  header { padding: .6rem .75rem; }
  main { padding: .6rem; }
  section { padding: .75rem; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%; }
  table.stack tr:has(> th) { display: none; }
  table.stack tr { padding: .35rem 0; border-bottom: 1px solid var(--line); }
  table.stack td { position: relative; border: 0; padding: .15rem 0 .15rem 6.5rem; text-align: left; min-height: 1.6rem; }
  table.stack td::before { content: attr(data-label); position: absolute; left: 0; width: 6rem; color: var(--muted); font-size: .85rem; }
  table.stack td .bar { margin-top: .45rem; max-width: 12rem; }
}
`

export const APP_JS = `
const TOKEN = 'rwa.token'
const $ = (selector) => document.querySelector(selector)
const pageHooks = {}

// Runs fn whenever a page named page is shown or re-rendered (after the token changes, too).
function onPage(page, fn) {
  ;(pageHooks[page] = pageHooks[page] || []).push(fn)
}

function runPageHooks() {
  for (const fn of pageHooks[window.rwaPage] || []) fn()
}

function show(text, kind) {
  const box = $('#message')
  if (!box) return
  box.textContent = text
  box.className = kind
}

async function api(method, path, body) {
  const token = localStorage.getItem(TOKEN)
  const response = await fetch(path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: 'Bearer ' + token } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const json = await response.json().catch(() => ({}))
  if (!response.ok) throw new Error(json.message || 'The node answered ' + response.status + '.')
  return json
}

// Re-renders the page's <main> from the server while something may change.
async function refresh() {
  if (document.hidden) return
  const response = await fetch(location.href, { headers: { accept: 'text/html' } })
  if (!response.ok) return
  const page = new DOMParser().parseFromString(await response.text(), 'text/html')
  const fresh = page.querySelector('main')
  const main = $('main')
  if (fresh && main && withoutMessage(fresh) !== withoutMessage(main)) {
    const message = $('#message')
    // What the user is typing survives the re-render (forms are told apart by their action).
    // Only what the user changed: a value the page filled in (the amount a Fund form offers)
    // comes fresh from the new page, so it never offers a sum already paid.
    const typed = new Map()
    for (const field of main.querySelectorAll('form input[name]'))
      if (field.value !== field.defaultValue) typed.set(fieldKey(field), field.value)
    const focused = document.activeElement && fieldKey(document.activeElement)
    main.innerHTML = fresh.innerHTML
    if (message && $('#message')) $('#message').replaceWith(message)
    for (const field of main.querySelectorAll('form input[name]')) {
      const key = fieldKey(field)
      if (typed.has(key)) field.value = typed.get(key)
      if (key === focused) field.focus()
    }
    bind()
    runPageHooks()
  }
}

// <main>'s content without the message area, which only this page writes to.
function withoutMessage(root) {
  const copy = root.cloneNode(true)
  copy.querySelector('#message')?.remove()
  return copy.innerHTML
}

function fieldKey(field) {
  const action = field.closest('form')?.querySelector('button[data-path]')?.dataset.path
  return action + ' ' + field.name
}

async function act(button) {
  const { method, path, body, confirmText } = button.dataset
  if (confirmText && !confirm(confirmText)) return
  button.disabled = true
  try {
    let payload = body ? JSON.parse(body) : undefined
    const form = button.closest('form')
    if (form) payload = Object.fromEntries(new FormData(form))
    const result = await api(method || 'POST', path, payload)
    const noun = button.closest('[data-noun]')?.dataset.noun || 'document'
    show(result.state ? 'Done: the ' + noun + ' is now ' + result.state + '.' : 'Done.', 'ok')
    if (form) form.reset()
    await refresh()
    // A periodic refresh may have re-rendered the form while the action ran, keeping what the
    // user typed: the form as the page has it now goes back to what the page offers (a Fund form
    // must not offer again a sum just paid).
    if (form) document.querySelector('button[data-path="' + CSS.escape(path) + '"]')?.closest('form')?.reset()
  } catch (error) {
    show(error.message, 'error')
  } finally {
    button.disabled = false
  }
}

// Controls that only some accounts may use stay hidden (by the page's #rwa-access style) until
// the token's account is known: [data-needs-account] needs any account, [data-admins] one of
// the keys it lists. Their hints ([data-account-hint], [data-admin-hint]) show to the others.
// The node checks every action anyway; this spares visitors buttons that can only fail.
let known = { token: null, account: null }

async function whoAmI() {
  const token = localStorage.getItem(TOKEN)
  if (!token) return null
  if (known.token !== token) {
    const response = await fetch('/accounts/me', { headers: { authorization: 'Bearer ' + token } })
    known = { token, account: response.ok ? await response.json() : null }
  }
  return known.account
}

function accessRules(account) {
  const hide = ' { display: none !important; }'
  if (!account || !/^[0-9a-f]{64}$/.test(account.key)) return '[data-needs-account], [data-admins]' + hide
  const key = account.key
  return '[data-account-hint], [data-admins]:not([data-admins~="' + key + '"]), [data-admin-hint~="' + key + '"]' + hide
}

async function applyAccess() {
  const account = await whoAmI().catch(() => null)
  const style = $('#rwa-access')
  if (style) style.textContent = accessRules(account)
  return account
}

function bind() {
  for (const button of document.querySelectorAll('[data-path]')) button.onclick = (event) => { event.preventDefault(); act(button) }
}

function esc(text) {
  return String(text).replace(/[&<>"']/g, (c) => '&#' + c.charCodeAt(0) + ';')
}

window.addEventListener('DOMContentLoaded', () => {
  const tokenForm = $('#token-form')
  if (tokenForm) {
    tokenForm.token.value = localStorage.getItem(TOKEN) || ''
    tokenForm.onsubmit = (event) => {
      event.preventDefault()
      const value = tokenForm.token.value.trim()
      if (value) localStorage.setItem(TOKEN, value)
      else localStorage.removeItem(TOKEN)
      applyAccess().then((account) => {
        if (!value) show('Token removed.', 'ok')
        else if (account) show('Token saved in this browser: account "' + account.name + '".', 'ok')
        else show("This token matches no account of this node; copy it from the data dir's keys/<account>.token.", 'error')
        runPageHooks()
      })
    }
  }
  applyAccess()
  bind()
  runPageHooks()
  if (window.rwaLive) setInterval(() => refresh().catch(() => {}), 1500)
})
`
