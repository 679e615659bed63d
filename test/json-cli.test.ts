import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { until } from './impact-api.ts'
import { RWA_BIN, TestNode } from './node-fixture.ts'

// `rwa doc …` end to end: the real command against a real node. `edit` runs an editor that is a
// small script: it rewrites the file as the test says and, for one case, has another client
// edit the same text meanwhile (the CLI's splices are rebased onto that edit).

let t: TestNode
let dir: string
beforeAll(async () => {
  t = await TestNode.start()
  dir = t.root
  writeFileSync(join(dir, 'editor.mjs'), EDITOR)
})
afterAll(async () => {
  await t?.stop()
})

/**
 * The editor: replaces `from` with `to` in the file (RWA_TEST_EDIT, JSON); with
 * RWA_TEST_BEFORE_SAVE, first POSTs that JSON body to the node's /text route as another client.
 */
const EDITOR = `
import { readFileSync, writeFileSync } from 'node:fs'
const file = process.argv[2]
const { from, to } = JSON.parse(process.env.RWA_TEST_EDIT)
const before = process.env.RWA_TEST_BEFORE_SAVE
if (before) {
  const { url, token, doc, body } = JSON.parse(before)
  const response = await fetch(url + '/json/' + doc + '/text', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + token },
    body: JSON.stringify(body),
  })
  if (!response.ok) process.exit(3)
}
writeFileSync(file, readFileSync(file, 'utf8').replace(from, to) + '\\n')
`

/** Runs `rwa` with extra environment; answers its exit code and output. */
async function rwa(env: Record<string, string>, ...args: string[]) {
  const all = [RWA_BIN, ...args, '--node', t.url, '--data-dir', t.dataDir]
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, all, {
      env: { ...process.env, ...env },
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

const editor = (from: string, to: string, before?: unknown) => ({
  EDITOR: `"${process.execPath}" "${join(dir, 'editor.mjs')}"`,
  VISUAL: '',
  RWA_TEST_EDIT: JSON.stringify({ from, to }),
  ...(before ? { RWA_TEST_BEFORE_SAVE: JSON.stringify(before) } : {}),
})

describe('rwa doc', () => {
  test('create, list, get, patch and history against a node', async () => {
    const other = '11'.repeat(32)
    const content = join(dir, 'content.json')
    writeFileSync(
      content,
      JSON.stringify({ title: 'Minutes', body: { $text: 'hello world' }, n: 1 }),
    )
    const created = await t.rwa(
      'doc',
      'create',
      'minutes',
      '--content',
      content,
      '--editor',
      other,
      '--json',
    )
    expect(created.code, created.stderr).toBe(0)
    const { doc, editors } = JSON.parse(created.stdout)
    expect(editors).toContain(other)
    expect(editors).toHaveLength(2)

    const list = await t.rwa('doc', 'list')
    expect(list.stdout).toMatch(
      new RegExp(`^minutes  ${doc}  2 editor\\(s\\)  0 change\\(s\\)$`, 'm'),
    )
    expect((await t.rwa('doc', 'get', 'minutes', '/body')).stdout).toBe('hello world\n')
    expect(JSON.parse((await t.rwa('doc', 'get', doc)).stdout)).toEqual({
      body: 'hello world',
      n: 1,
      title: 'Minutes',
    })
    const missing = await t.rwa('doc', 'get', 'minutes', '/nope')
    expect([missing.code, missing.stderr]).toEqual([
      1,
      expect.stringContaining('Nothing is at "/nope"'),
    ])

    const patch = join(dir, 'patch.json')
    writeFileSync(patch, JSON.stringify([{ op: 'replace', path: '/n', value: 2 }]))
    const patched = await t.rwa('doc', 'patch', 'minutes', patch)
    expect(patched.stdout).toMatch(/^Changed "minutes": op b[a-z2-7]{58}, version 2\.$/m)
    writeFileSync(patch, '{ not json')
    const bad = await t.rwa('doc', 'patch', 'minutes', patch)
    expect([bad.code, bad.stderr]).toEqual([
      1,
      expect.stringContaining('The JSON Patch is not JSON'),
    ])
    expect((await t.rwa('doc', 'get', 'minutes', 'n')).stdout).toBe('2\n')

    const history = (await t.rwa('doc', 'history', 'minutes')).stdout.trim().split('\n')
    expect(history).toHaveLength(2)
    expect(history[0]).toMatch(new RegExp(`json\\.create  3 edit\\(s\\)  ${doc}$`))
    expect(history[1]).toMatch(/json\.change {2}1 edit\(s\) {2}b[a-z2-7]{58}$/)
  })

  test('editors lists who may edit, and the owner adds and removes keys', async () => {
    const [ann, bob] = ['aa'.repeat(32), 'bb'.repeat(32)]
    const created = await t.rwa('doc', 'create', 'agenda', '--editor', ann, '--json')
    expect(created.code, created.stderr).toBe(0)
    const owner = (JSON.parse(created.stdout).editors as string[]).find((k) => k !== ann)!
    const changed = await t.rwa('doc', 'editors', 'agenda', '--add', bob, '--remove', ann)
    expect(changed.code, changed.stderr).toBe(0)
    expect(changed.stdout).toMatch(
      /^Changed the editors of "agenda" \(op b[a-z2-7]{58}\): 2 editor\(s\)\.$/m,
    )
    const listed = await t.rwa('doc', 'editors', 'agenda')
    expect(listed.stdout.trim().split('\n').sort()).toEqual([bob, `${owner}  (owner)`].sort())
    const owners = await t.rwa('doc', 'editors', 'agenda', '--remove', owner)
    expect([owners.code, owners.stderr]).toEqual([1, expect.stringContaining('always edits')])
  })

  test('edit sends a text as splices rebased over an edit made meanwhile, and JSON as a replace', async () => {
    const content = join(dir, 'notes.json')
    writeFileSync(
      content,
      JSON.stringify({ body: { $text: 'hello world' }, meta: { tags: ['a'] } }),
    )
    const { doc } = JSON.parse(
      (await t.rwa('doc', 'create', 'notes', '--content', content, '--json')).stdout,
    )
    // While the editor is open, another client puts "Oh, " in front (on version 1).
    const meanwhile = {
      url: t.url,
      token: t.operatorToken,
      doc,
      body: { path: '/body', base: 1, splices: [[0, 0, 'Oh, ']] },
    }
    const edited = await rwa(editor('world', 'there', meanwhile), 'doc', 'edit', 'notes', '/body')
    expect(edited.code, edited.stderr).toBe(0)
    expect(edited.stdout).toMatch(/^Changed "notes": op b[a-z2-7]{58}, version 3\.$/m)
    expect((await t.rwa('doc', 'get', 'notes', '/body')).stdout).toBe('Oh, hello there\n')

    const json = await rwa(editor('"a"', '"a", "b"'), 'doc', 'edit', 'notes', '/meta')
    expect(json.code, json.stderr).toBe(0)
    expect(JSON.parse((await t.rwa('doc', 'get', 'notes', '/meta')).stdout)).toEqual({
      tags: ['a', 'b'],
    })
    const same = await rwa(editor('nothing', 'here'), 'doc', 'edit', 'notes', '/body')
    expect(same.stdout).toBe('No change to "/body".\n')
    const broken = await rwa(editor('{', '{{'), 'doc', 'edit', 'notes', '/meta')
    expect([broken.code, broken.stderr]).toEqual([
      1,
      expect.stringContaining('The edited value is not JSON'),
    ])
  })

  test('watch prints a line per change as the document changes', async () => {
    const { doc } = JSON.parse((await t.rwa('doc', 'create', 'watched', '--json')).stdout)
    const child: ChildProcess = spawn(process.execPath, [
      RWA_BIN,
      'doc',
      'watch',
      'watched',
      '--node',
      t.url,
      '--data-dir',
      t.dataDir,
    ])
    let out = ''
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
    })
    try {
      await until('the snapshot', () => out.includes('\n'), 30_000)
      expect(out).toBe('v1 snapshot {}\n')
      const patch = join(dir, 'watch.json')
      writeFileSync(patch, JSON.stringify([{ op: 'add', path: '/title', value: 'Watched' }]))
      await t.rwa('doc', 'patch', doc, patch)
      await until('the change', () => out.split('\n').length > 2, 30_000)
      expect(out.split('\n')[1]).toMatch(/^v2 [0-9a-f]{8} put \/title "Watched"$/)
    } finally {
      child.kill()
    }
  })
})
