import { execFile, execFileSync } from 'node:child_process'
import {
  cpSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'

// Start-up is what every command pays. These tests hold the two things that keep it small: a
// command loads only what it uses, and the CLI runs a build of the current sources.

const root = join(import.meta.dirname, '..')
const bin = join(root, 'bin', 'rwa.js')
const recorder = join(import.meta.dirname, 'fixtures', 'load-recorder.mjs')
const exec = promisify(execFile)

/** Packages a command that does not use them must not load. */
const HEAVY = ['viem', 'solc', 'libp2p', '@libp2p', '@chainsafe', 'zod', 'pino', 'hono', 'tsx']

/** The packages (by name) a run of `rwa …args` loads, and its output. */
async function packagesLoaded(...args: string[]): Promise<{ packages: string[]; stdout: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rwa-cli-start-'))
  try {
    const record = join(dir, 'loaded.txt')
    writeFileSync(record, '')
    const { stdout } = await exec(process.execPath, ['--import', recorder, bin, ...args], {
      env: { ...process.env, RWA_LOAD_RECORD: record },
    })
    const packages = new Set<string>()
    for (const url of readFileSync(record, 'utf8').split('\n')) {
      const match = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
      if (match) packages.add(match[1]!)
      // A file of the CLI's build: the packages bundled into it, as its manifest lists them.
      const built = /\/dist\/cli\/([0-9a-f]+)\/([^/]+\.js)$/.exec(url)
      if (built) for (const name of bundledIn(built[1]!, built[2]!)) packages.add(name)
    }
    return { packages: [...packages].sort(), stdout }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The packages the build `id` bundled into its output `file`. */
function bundledIn(id: string, file: string): string[] {
  const manifest = JSON.parse(readFileSync(join(root, 'dist', 'cli', id, 'manifest.json'), 'utf8'))
  return (manifest as { chunks: Record<string, string[]> }).chunks[file] ?? []
}

const heavyAmong = (packages: readonly string[]) =>
  packages.filter((name) => HEAVY.some((heavy) => name === heavy || name.startsWith(`${heavy}/`)))

describe('rwa start-up', () => {
  let node: RwaNode
  let dataDir: string

  beforeAll(async () => {
    dataDir = join(mkdtempSync(join(tmpdir(), 'rwa-cli-start-node-')), 'n')
    initNode({ name: 'n', dataDir })
    node = createNode(loadConfig(dataDir), {
      port: 0,
      logger: pino({ level: 'silent' }),
      chain: { mode: 'none' },
      net: { enabled: false },
    })
    await node.start()
    await node.actions.create(node.accounts.get(OPERATOR)!, { name: 'lights', bond: '10' })
  })

  afterAll(async () => {
    await node?.stop()
    rmSync(join(dataDir, '..'), { recursive: true, force: true })
  })

  test('rwa --version loads commander and nothing heavy (no viem, solc, libp2p, zod, pino, tsx)', async () => {
    const { packages, stdout } = await packagesLoaded('--version')
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
    expect(packages).toContain('commander')
    expect(heavyAmong(packages)).toEqual([])
  })

  test('rwa audit list talks to a node without loading viem, solc, libp2p, zod, pino or tsx', async () => {
    // Through the data dir (its run.json), as people run it, and through --node.
    for (const where of [
      ['--data-dir', dataDir],
      ['--node', node.url],
    ]) {
      const { packages, stdout } = await packagesLoaded('audit', 'list', ...where)
      expect(stdout).toMatch(/^lights {2}INITIALIZATION/)
      expect(heavyAmong(packages)).toEqual([])
    }
  })

  test('a command that needs viem loads it when it runs', async () => {
    // The recorder sees what an action imports: without this, the tests above could pass on a
    // recorder that sees nothing.
    const dir = mkdtempSync(join(tmpdir(), 'rwa-cli-start-key-'))
    try {
      const { packages, stdout } = await packagesLoaded('key', 'new-eth', join(dir, 'me.eth'))
      expect(stdout).toMatch(/^0x[0-9a-fA-F]{40}\n$/)
      expect(packages).toContain('viem')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('the CLI build', () => {
  test('an edited source is what the next command runs, also when several start at once', async () => {
    // A copy of the repository's sources (its own dist/), so the edit touches no shared file.
    const copy = mkdtempSync(join(tmpdir(), 'rwa-cli-build-'))
    const moved = `${copy}-moved`
    try {
      for (const part of ['bin', 'src', 'package.json'])
        cpSync(join(root, part), join(copy, part), { recursive: true })
      symlinkSync(realpathSync(join(root, 'node_modules')), join(copy, 'node_modules'))
      const copyBin = join(copy, 'bin', 'rwa.js')
      const help = async () => (await exec(process.execPath, [copyBin, '--help'])).stdout
      expect(await help()).toContain('Real World Auditor: pay independent people')
      const builtFirst = readFileSync(join(copy, 'dist', 'cli', 'current'), 'utf8')

      const program = join(copy, 'src', 'cli', 'program.ts')
      writeFileSync(
        program,
        readFileSync(program, 'utf8').replace(
          'Real World Auditor: pay independent people',
          'Edited: pay independent people',
        ),
      )
      const outputs = await Promise.all([help(), help(), help(), help()])
      for (const output of outputs) expect(output).toContain('Edited: pay independent people')
      expect(readFileSync(join(copy, 'dist', 'cli', 'current'), 'utf8')).not.toBe(builtFirst)
      // Unchanged sources: the build is reused (a rebuild would rewrite the pointer, even with
      // the same id).
      const current = join(copy, 'dist', 'cli', 'current')
      const pointer = statSync(current)
      expect(await help()).toContain('Edited: pay independent people')
      expect(statSync(current).ino).toBe(pointer.ino)
      expect(statSync(current).mtimeMs).toBe(pointer.mtimeMs)

      // A checkout moved or copied with its dist/ and its files' times (cp -a, rsync -a) runs
      // its own sources, not those the build was made from.
      execFileSync('cp', ['-a', copy, moved])
      const pkg = join(moved, 'package.json')
      const text = readFileSync(pkg, 'utf8')
      const [, version] = /"version": "([^"]+)"/.exec(text)!
      // Another version of the same length, and the same times (to the nanosecond): only the
      // checkout's place tells the builds apart.
      const other = version!.replace(/\d/g, (d) => String((Number(d) + 1) % 10))
      writeFileSync(pkg, text.replace(`"version": "${version}"`, `"version": "${other}"`))
      execFileSync('touch', ['-r', join(copy, 'package.json'), pkg])
      rmSync(copy, { recursive: true, force: true })
      const shown = await exec(process.execPath, [join(moved, 'bin', 'rwa.js'), '--version'])
      expect(shown.stdout.trim()).toBe(other)
    } finally {
      rmSync(copy, { recursive: true, force: true })
      rmSync(moved, { recursive: true, force: true })
    }
  })
})
