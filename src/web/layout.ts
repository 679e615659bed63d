import type { Context } from 'hono'

/** Escapes text for HTML. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/**
 * Until the page's script knows the token's account, controls for accounts and admins are
 * hidden (the script then shows those the account may use).
 */
const HIDDEN_WITHOUT_ACCOUNT = '[data-needs-account], [data-admins] { display: none !important; }'

/** A whole page: header with the token box, a message area, the main content; domains' pages use it too. */
export function layout({
  title,
  node,
  body,
  page,
  live,
  noun,
}: {
  title: string
  /** The node's name, in the header and the title. */
  node: string
  /** The page's content, inside <main>. */
  body: string
  /** The page's name, for the scripts' page hooks (`rwa.onPage`). */
  page: string
  /** Whether the page refreshes itself while something may change. */
  live: boolean
  /** What the page's actions change ("audit"), for their messages: "Done: the audit is now OPEN." */
  noun?: string | undefined
}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} · rwa ${esc(node)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/app.css">
<style id="rwa-access">${HIDDEN_WITHOUT_ACCOUNT}</style>
<script>window.rwaPage = ${JSON.stringify(page)}; window.rwaLive = ${live}</script>
<script src="/ui/app.js" defer></script>
</head>
<body${noun ? ` data-noun="${esc(noun)}"` : ''}>
<header>
<a class="home" href="/">rwa · ${esc(node)}</a>
<form id="token-form" autocomplete="off"><input name="token" type="password" placeholder="account token (keys/&lt;account&gt;.token)" aria-label="account token"><button type="submit">Use token</button></form>
</header>
<main>
<div id="message" role="status"></div>
${body}
</main>
<footer><a href="/api">API</a> · <a href="/openapi.json">openapi.json</a></footer>
</body>
</html>`
}

/** Answers a page (never cached: it shows live state). */
export const htmlPage = (c: Context, page: string) =>
  c.html(page, 200, { 'cache-control': 'no-store' })
