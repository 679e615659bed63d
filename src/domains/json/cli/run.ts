import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { localNodeUrl, type NodeClient } from '../../../cli/client.ts'
import { bearerClient, contextOf, printJson } from '../../../cli/context.ts'
import type { JsonPatchOp } from '../../../core/json/patch.ts'
import { formatPointer, parsePointer, textDiff } from '../../../core/json/patch.ts'
import type { CreateFlags, DocOptions, EditorsFlags } from './commands.ts'
import { JsonCliError } from './errors.ts'
import { followEvents } from './events.ts'
import { formatChange, formatHistoryLine, formatValue } from './format.ts'

// The actions of `rwa doc …` (commands.ts registers them).

type Changed = { op: string | null; version: number }
type Meta = {
  id: string
  name: string
  version: number
  texts: (string | number)[][]
  content: Record<string, unknown>
}
type HistoryItem = {
  op: string
  type: string
  author: string
  seq: number
  time: number
  edits: number
}

const enc = encodeURIComponent

/**
 * A client of the node's `/json` routes with the bearer token of `--token`, else the data
 * dir's operator token (reads go without one when there is none).
 */
function clientOf(o: DocOptions, writes: boolean): NodeClient {
  return bearerClient(o, {
    token: o.token,
    required: writes,
    whose: "an editor's bearer token",
    fail: (message, cause) => new JsonCliError(message, { cause }),
  })
}

/** A file's text, or stdin's for `-`. */
function readSource(file: string, what: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8')
  } catch (cause) {
    throw new JsonCliError(`Cannot read ${what} from "${file}"; give a readable file, or -.`, {
      cause,
    })
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new JsonCliError(`${what} is not JSON (${(cause as Error).message}).`, { cause })
  }
}

/** A path as a JSON Pointer: "" or "/…" as given; "a/b" gets its leading "/". */
const pointerOf = (path: string) => (path === '' || path.startsWith('/') ? path : `/${path}`)

/** The plain JSON value at `tokens`. */
function valueAt(content: unknown, tokens: readonly string[], doc: string): unknown {
  let value = content
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!
    const here =
      Array.isArray(value) && /^(0|[1-9]\d*)$/.test(token)
        ? value[Number(token)]
        : value !== null &&
            typeof value === 'object' &&
            !Array.isArray(value) &&
            Object.hasOwn(value, token)
          ? (value as Record<string, unknown>)[token]
          : undefined
    if (here === undefined)
      throw new JsonCliError(
        `Nothing is at "${formatPointer(tokens.slice(0, i + 1))}" in document "${doc}"; "rwa doc get ${doc}" shows it.`,
      )
    value = here
  }
  return value
}

/** `rwa doc list`. */
export async function listDocs(o: DocOptions): Promise<void> {
  const client = clientOf(o, false)
  type Line = { id: string; name: string; editors: number; changes: number }
  const documents: Line[] = []
  let after: string | null = null
  do {
    const page: { documents: Line[]; next: string | null } = await client.get(
      `/json?limit=1000${after ? `&after=${after}` : ''}`,
    )
    documents.push(...page.documents)
    after = page.next
  } while (after)
  if (o.json) return printJson({ documents })
  if (documents.length === 0)
    return console.log('No JSON documents yet; "rwa doc create <name>" starts one.')
  const width = Math.max(...documents.map((d) => d.name.length))
  for (const d of documents)
    console.log(`${d.name.padEnd(width)}  ${d.id}  ${d.editors} editor(s)  ${d.changes} change(s)`)
}

/** `rwa doc create <name>`. */
export async function createDoc(name: string, o: DocOptions & CreateFlags): Promise<void> {
  const client = clientOf(o, true)
  let content: unknown
  if (o.content !== undefined) {
    content = parseJson(readSource(o.content, 'the content'), 'The content')
    if (content === null || typeof content !== 'object' || Array.isArray(content))
      throw new JsonCliError('The content is a JSON object: a document is a map at its root.')
  }
  const created: { doc: string; editors: string[] } = await client.post('/json', {
    name,
    ...(o.editor ? { editors: o.editor } : {}),
    ...(o.audit ? { audit: o.audit } : {}),
    ...(content === undefined ? {} : { content }),
  })
  if (o.json) return printJson(created)
  console.log(`Created "${name}": ${created.doc} (${created.editors.length} editor(s)).`)
}

/** `rwa doc get <doc> [path]`. */
export async function getDoc(ref: string, path: string, o: DocOptions): Promise<void> {
  const content = await clientOf(o, false).get(`/json/${enc(ref)}`)
  const value = valueAt(content, parsePointer(pointerOf(path)), ref)
  if (o.json) return printJson(value)
  console.log(typeof value === 'string' ? value : JSON.stringify(value, null, 2))
}

/** `rwa doc patch <doc> <file|->`. */
export async function patchDoc(ref: string, file: string, o: DocOptions): Promise<void> {
  const patch = parseJson(readSource(file, 'the JSON Patch'), 'The JSON Patch')
  if (!Array.isArray(patch))
    throw new JsonCliError('A JSON Patch is an array of operations; see RFC 6902.')
  const changed = await clientOf(o, true).request<Changed>('PATCH', `/json/${enc(ref)}`, patch)
  printChanged(ref, changed, o)
}

function printChanged(ref: string, changed: Changed, o: DocOptions): void {
  if (o.json) {
    printJson(changed)
    return
  }
  console.log(
    changed.op
      ? `Changed "${ref}": op ${changed.op}, version ${changed.version}.`
      : `Nothing to change in "${ref}" (version ${changed.version}).`,
  )
}

/** `rwa doc edit <doc> <path>`. */
export async function editDoc(ref: string, path: string, o: DocOptions): Promise<void> {
  const client = clientOf(o, true)
  const meta: Meta = await client.get(`/json/${enc(ref)}?meta=1`)
  const pointer = pointerOf(path)
  const tokens = parsePointer(pointer)
  const before = valueAt(meta.content, tokens, ref)
  const isText = meta.texts.some(
    (p) => p.length === tokens.length && p.every((t, i) => String(t) === tokens[i]),
  )
  const asText = typeof before === 'string'
  const edited = editInEditor(asText ? before : `${JSON.stringify(before, null, 2)}\n`, asText)
  if (asText) {
    // Editors end a file with a newline the text did not have.
    const after =
      !before.endsWith('\n') && edited.endsWith('\n') ? edited.replace(/\r?\n$/, '') : edited
    if (after === before) return console.log(`No change to "${pointer}".`)
    const changed: Changed = isText
      ? await client.post(`/json/${enc(ref)}/text`, {
          path: pointer,
          base: meta.version,
          splices: [textDiff(before, after)],
        })
      : await client.request('PATCH', `/json/${enc(ref)}`, [
          { op: 'replace', path: pointer, value: after },
        ])
    return printChanged(ref, changed, o)
  }
  const after = parseJson(edited, 'The edited value')
  if (JSON.stringify(after) === JSON.stringify(before))
    return console.log(`No change to "${pointer}".`)
  const patch =
    tokens.length === 0
      ? rootPatch(before, after)
      : [{ op: 'replace', path: pointer, value: after }]
  const changed: Changed = await client.request('PATCH', `/json/${enc(ref)}`, patch)
  printChanged(ref, changed, o)
}

/** The whole document edited: a patch of its top-level keys that changed. */
function rootPatch(before: unknown, after: unknown): JsonPatchOp[] {
  if (after === null || typeof after !== 'object' || Array.isArray(after))
    throw new JsonCliError('A document is a JSON object at its root; nothing was sent.')
  const old = before as Record<string, unknown>
  const patch: JsonPatchOp[] = []
  for (const key of Object.keys(old))
    if (!Object.hasOwn(after, key)) patch.push({ op: 'remove', path: formatPointer([key]) })
  for (const [key, value] of Object.entries(after))
    if (!Object.hasOwn(old, key) || JSON.stringify(old[key]) !== JSON.stringify(value))
      patch.push({
        op: Object.hasOwn(old, key) ? 'replace' : 'add',
        path: formatPointer([key]),
        value,
      })
  return patch
}

/** Opens `text` in $VISUAL, $EDITOR or vi; answers the file once the editor exits. */
function editInEditor(text: string, plain: boolean): string {
  const editor = process.env.VISUAL || process.env.EDITOR || 'vi'
  const dir = mkdtempSync(join(tmpdir(), 'rwa-doc-'))
  const file = join(dir, plain ? 'value.txt' : 'value.json')
  try {
    writeFileSync(file, text, { mode: 0o600 })
    // Through the shell, as git runs it: $EDITOR may carry arguments ("code --wait").
    const run = spawnSync('/bin/sh', ['-c', `${editor} "$1"`, 'editor', file], { stdio: 'inherit' })
    if (run.error || run.status !== 0)
      throw new JsonCliError(
        `The editor (${editor}) ${run.error ? `did not start (${run.error.message})` : `exited with ${run.status}`}; nothing was sent.`,
      )
    return readFileSync(file, 'utf8')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** `rwa doc watch <doc>`. */
export async function watchDoc(ref: string, o: DocOptions): Promise<void> {
  const ctx = contextOf(o)
  const url = o.node ?? (await localNodeUrl(ctx.dataDir))
  await followEvents(new URL(`/json/${enc(ref)}/events`, url), (event, data) => {
    if (o.json) return console.log(JSON.stringify({ event, ...(data as object) }))
    if (event === 'snapshot') {
      const { version, content } = data as { version: number; content: unknown }
      return console.log(`v${version} snapshot ${formatValue(content, 200)}`)
    }
    if (event === 'change') console.log(formatChange(data as Parameters<typeof formatChange>[0]))
  })
  if (!o.json) console.error('The node closed the change feed.')
}

/** `rwa doc editors <doc> [--add …] [--remove …] [--audit …]`. */
export async function editorsDoc(ref: string, o: DocOptions & EditorsFlags): Promise<void> {
  const changing = Boolean(o.add?.length || o.remove?.length || o.audit)
  const client = clientOf(o, changing)
  const meta: { owner: string; editors: string[] } = await client.get(`/json/${enc(ref)}?meta=1`)
  if (!changing) {
    if (o.json) return printJson({ owner: meta.owner, editors: meta.editors })
    for (const key of meta.editors) console.log(key === meta.owner ? `${key}  (owner)` : key)
    return
  }
  const changed: { op: string | null; editors: string[]; version: number } = await client.post(
    `/json/${enc(ref)}/editors`,
    {
      ...(o.add?.length ? { add: o.add } : {}),
      ...(o.remove?.length ? { remove: o.remove } : {}),
      ...(o.audit ? { audit: o.audit } : {}),
    },
  )
  if (o.json) return printJson(changed)
  console.log(
    changed.op === null
      ? `Nothing to change: "${ref}" has these ${changed.editors.length} editor(s) already.`
      : `Changed the editors of "${ref}" (op ${changed.op}): ${changed.editors.length} editor(s).`,
  )
  for (const key of changed.editors) console.log(key === meta.owner ? `${key}  (owner)` : key)
}

/** `rwa doc history <doc>`. */
export async function historyDoc(ref: string, o: DocOptions): Promise<void> {
  const client = clientOf(o, false)
  const items: HistoryItem[] = []
  let after: string | null = null
  do {
    const page: { items: HistoryItem[]; next: string | null } = await client.get(
      `/json/${enc(ref)}/history?limit=1000${after ? `&after=${after}` : ''}`,
    )
    items.push(...page.items)
    after = page.next
  } while (after)
  if (o.json) return printJson({ items })
  for (const item of items) console.log(formatHistoryLine(item))
}
