import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, test } from 'vitest'

// STYLE.md: "Core is pure. src/core and src/ledger do no I/O: no files, sockets, databases, viem
// clients or HTTP, no Date.now, no Math.random; time, randomness and keys come in as arguments."
// This guard reads their sources and fails on an import of anything that does I/O, on a local
// import that leaves the pure folders, and on a call that reads the clock or draws randomness.

/** Node built-ins and packages that do I/O (files, sockets, processes, threads, databases). */
const IMPURE_MODULES = [
  /^(node:)?(fs|fs\/promises|net|http|https|http2|dgram|dns|tls|child_process|worker_threads|cluster|readline|inspector|os)$/,
  /^(better-sqlite3|pg|solc|smol-toml|commander|pino|hono|@hono\/.*|libp2p|@libp2p\/.*|@chainsafe\/.*|@xmpp\/.*|playwright-core)$/,
  /^viem\/(actions|node)/,
]
/** viem's clients and transports: pure encoding, hashing and recovery from viem are fine. */
const VIEM_CLIENTS = /^(create\w*Client|http|webSocket|fallback|custom|ipc)$/
/** Calls that read the clock or draw randomness. */
const IMPURE_CALLS: [RegExp, string][] = [
  [/\bDate\.now\s*\(/, 'Date.now()'],
  [/\bnew Date\(\s*\)/, 'new Date()'],
  [/\bperformance\.now\s*\(/, 'performance.now()'],
  [/\bMath\.random\s*\(/, 'Math.random()'],
  [
    /\b(randomBytes|randomInt|randomUUID|getRandomValues|generateKeyPair(Sync)?)\s*\(/,
    'randomness',
  ],
  [/\bprocess\.(env|argv|hrtime|cwd)\b/, 'process state'],
]
/** The folders whose code must be pure, and the only ones it may import from. */
const PURE = ['src/core', 'src/ledger', 'src/errors']
const CHECKED = ['src/core', 'src/ledger']

/** Every `.ts` file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => join(e.parentPath, e.name))
}

/** Removes comments, so a comment that mentions Date.now is no finding. */
const withoutComments = (code: string) =>
  code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1')

/** What a file imports: module specifiers, with the names taken from each. */
function importsOf(code: string): { from: string; names: string[] }[] {
  const found: { from: string; names: string[] }[] = []
  const statement = /(?:import|export)\s+(?:type\s+)?([\s\S]*?)\s*from\s*['"]([^'"]+)['"]/g
  for (const m of code.matchAll(statement)) {
    const names = (m[1]!.match(/\{([\s\S]*)\}/)?.[1] ?? '')
      .split(',')
      .map((n) =>
        n
          .replace(/^\s*type\s+/, '')
          .split(/\s+as\s+/)[0]!
          .trim(),
      )
      .filter(Boolean)
    found.push({ from: m[2]!, names })
  }
  for (const m of code.matchAll(
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm,
  ))
    found.push({ from: (m[1] ?? m[2])!, names: [] })
  return found
}

/** The impurities of the pure folders under `root`, one line each ("file: what"). */
function findImpurities(root: string): string[] {
  const findings: string[] = []
  const pure = PURE.map((dir) => resolve(root, dir))
  for (const dir of CHECKED) {
    for (const file of sources(resolve(root, dir))) {
      const name = relative(root, file)
      const code = withoutComments(readFileSync(file, 'utf8'))
      for (const { from, names } of importsOf(code)) {
        if (from.startsWith('.')) {
          const target = resolve(dirname(file), from)
          if (!pure.some((p) => target.startsWith(`${p}/`)))
            findings.push(`${name}: imports ${from}, outside ${PURE.join(', ')}`)
        } else if (IMPURE_MODULES.some((re) => re.test(from))) {
          findings.push(`${name}: imports ${from}`)
        } else if (from === 'viem') {
          for (const n of names.filter((n) => VIEM_CLIENTS.test(n)))
            findings.push(`${name}: imports the viem client part ${n}`)
        }
      }
      for (const [re, what] of IMPURE_CALLS) if (re.test(code)) findings.push(`${name}: ${what}`)
    }
  }
  return findings
}

describe('the purity rule', () => {
  test('src/core and src/ledger import nothing that does I/O, read no clock and draw no randomness', () => {
    expect(findImpurities(join(import.meta.dirname, '..'))).toEqual([])
  })

  test('the guard finds an I/O import, a viem client, a clock, randomness and an import that leaves the pure folders', () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-purity-'))
    try {
      for (const dir of [...PURE, 'src/node']) mkdirSync(join(root, dir), { recursive: true })
      writeFileSync(
        join(root, 'src/ledger/clean.ts'),
        "import { sha256 } from 'viem'\n// Date.now()\n",
      )
      writeFileSync(
        join(root, 'src/core/dirty.ts'),
        [
          "import { readFileSync } from 'node:fs'",
          "import { createPublicClient, http, keccak256 } from 'viem'",
          "import type { Config } from '../node/config.ts'",
          "const load = () => import('better-sqlite3')",
          'export const stamp = () => Date.now() + Math.random()',
        ].join('\n'),
      )
      expect(findImpurities(root)).toEqual([
        'src/core/dirty.ts: imports node:fs',
        'src/core/dirty.ts: imports the viem client part createPublicClient',
        'src/core/dirty.ts: imports the viem client part http',
        'src/core/dirty.ts: imports ../node/config.ts, outside src/core, src/ledger, src/errors',
        'src/core/dirty.ts: imports better-sqlite3',
        'src/core/dirty.ts: Date.now()',
        'src/core/dirty.ts: Math.random()',
      ])
    } finally {
      rmSync(root, { recursive: true, force: true })
    }
  })
})
