import { esc, layout } from './layout.ts'

/** Titles of the statuses a dashboard page may answer with. */
const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad request',
  403: 'Not allowed',
  404: 'Not found',
  409: 'Conflict',
  422: 'Not valid',
  503: 'Unavailable',
}

/** A dashboard page saying what went wrong (an unknown page or audit), with a way back home. */
export function errorPage({
  node,
  status,
  message,
}: {
  node: string
  status: number
  /** One sentence saying what was wrong (the error's short message). */
  message: string
}): string {
  const title = TITLES[status] ?? 'Something went wrong'
  const body = `<section id="error"><h1>${esc(title)}</h1>
<p>${esc(message)}</p>
<p><a href="/">Back to the node's home page</a>, which lists what this node holds.</p>
</section>`
  return layout({ title, node, body, page: 'error', live: false })
}
