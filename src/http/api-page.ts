import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Hono } from 'hono'

// The interactive API page: Swagger UI from the `swagger-ui-dist` package, served by the node
// itself, so it works offline and asks nothing of any other host. Its assets sit under a path
// with the package's version, so browsers may keep them for good; the page itself is tiny.

const require = createRequire(import.meta.url)
const DIST = dirname(require.resolve('swagger-ui-dist/package.json'))
const VERSION = (require('swagger-ui-dist/package.json') as { version: string }).version

/** The files of the page, by name under `/api/<version>/`, with their content types. */
const ASSETS: ReadonlyMap<string, string> = new Map([
  ['swagger-ui.css', 'text/css; charset=utf-8'],
  ['swagger-ui-bundle.js', 'text/javascript; charset=utf-8'],
  ['favicon-32x32.png', 'image/png'],
])

// Our initializer, instead of the package's (which loads the petstore from the internet).
// validatorUrl null: no badge fetched from validator.swagger.io.
const INITIALIZER = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: 'BaseLayout',
  defaultModelsExpandDepth: 0,
})
`

// Only this node: a page that tried any other host would be refused by the browser.
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

const page = (base: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rwa node API</title>
<link rel="icon" type="image/png" href="${base}/favicon-32x32.png">
<link rel="stylesheet" href="${base}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${base}/swagger-ui-bundle.js"></script>
<script src="${base}/init.js"></script>
</body>
</html>
`

/**
 * The interactive API page at `/api`: Swagger UI on the node's `/openapi.json`, its files from
 * the installed `swagger-ui-dist`, nothing from the network. Mount with `app.route('/api', apiPage())`.
 */
export function apiPage(): Hono {
  const app = new Hono()
  const base = `/api/${VERSION}`
  const cache = new Map<string, Buffer>()
  const immutable = 'public, max-age=31536000, immutable'
  app.get('/', (c) =>
    c.html(page(base), 200, { 'cache-control': 'no-cache', 'content-security-policy': CSP }),
  )
  app.get(`/${VERSION}/init.js`, (c) =>
    c.body(INITIALIZER, 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': immutable,
    }),
  )
  app.get(`/${VERSION}/:name`, (c) => {
    const name = c.req.param('name')
    const type = ASSETS.get(name)
    if (!type) return c.notFound()
    let bytes = cache.get(name)
    if (!bytes) {
      bytes = readFileSync(join(DIST, name))
      cache.set(name, bytes)
    }
    return c.body(new Uint8Array(bytes), 200, {
      'content-type': type,
      'cache-control': immutable,
    })
  })
  return app
}
