import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest'
import { NodeClient } from '../src/cli/client.ts'
import { createProgram } from '../src/cli/program.ts'
import { impactDomain } from '../src/core/impact/domain.ts'
import { IMPACT_OP } from '../src/core/impact/ops.ts'
import { impactCli } from '../src/domains/impact/cli/commands.ts'
import { DOMAINS } from '../src/domains/index.ts'
import type { AnyPlugin } from '../src/domains/plugin.ts'
import type { Signer } from '../src/ledger/keys.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { generateSigner, readKeyFile, writeKeyFile } from '../src/store/key-file.ts'
import { actionConfig, addressOf, auditorConfig, requestInfo } from './impact-fixture.ts'

// `rwa impact …` end to end: the real command (bundled from src/ with the impact commands, as
// the entry will hold them) against a real node hosting the impact domain's rules, through the
// generic POST /ops and GET /docs/:doc/ops (the impact routes are another part's).

const ROOT = join(import.meta.dirname, '..')
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

/**
 * Bundles `rwa` with the impact commands once (plain JavaScript: each spawn costs no transform).
 * Registers them only when the entry does not already (it will once the domain is wired in).
 */
async function buildImpactCli(dir: string): Promise<string> {
  const esbuild = await import('esbuild')
  await esbuild.build({
    stdin: {
      contents: `
        import { CommanderError } from 'commander'
        import { hoistLeadingOptions } from './src/cli/args.ts'
        import { createProgram } from './src/cli/program.ts'
        import { impactCli } from './src/domains/impact/cli/commands.ts'
        import { BaseError } from './src/errors/base.ts'
        const program = await createProgram()
        if (!program.commands.some((c) => c.name() === 'impact')) impactCli.register(program)
        try {
          const [node, script, ...args] = process.argv
          await program.exitOverride().parseAsync([node, script, ...hoistLeadingOptions(args)])
        } catch (error) {
          if (error instanceof CommanderError) process.exit(error.exitCode)
          if (!(error instanceof BaseError)) throw error
          console.error('error: ' + error.shortMessage)
          process.exit(1)
        }`,
      resolveDir: ROOT,
      loader: 'ts',
    },
    outdir: dir,
    entryNames: 'main',
    outExtension: { '.js': '.mjs' },
    // Chunks: a command loads only what its action imports, as the real build does.
    splitting: true,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
    // Paths relative to a source (package.json) resolve from the source, not the bundle.
    plugins: [
      {
        name: 'source-location',
        setup(build) {
          build.onLoad({ filter: /\.ts$/ }, ({ path }) => ({
            contents: readFileSync(path, 'utf8').replace(
              /\bimport\.meta\.(url|dirname)\b/g,
              (_, key: string) => JSON.stringify(key === 'url' ? `file://${path}` : dirname(path)),
            ),
            loader: 'ts',
          }))
        },
      },
    ],
  })
  return join(dir, 'main.mjs')
}

/** The impact rules alone: a node without the impact routes (no GET /impact). */
const rulesOnly: AnyPlugin = { domain: impactDomain, node: async () => ({ create: () => ({}) }) }

/**
 * A node on a temp data dir (SQLite, its devnet, no network) hosting the impact domain, its
 * proxy service paused so the proxy's commands act by hand; without the impact routes (and
 * without a chain) when `routes` is false.
 */
async function startNode({ routes = true } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'rwa-impact-cli-'))
  const dataDir = join(root, 'n1')
  initNode({ name: 'n1', dataDir })
  const rwaNode: RwaNode = createNode(loadConfig(dataDir), {
    port: 0,
    logger: pino({ level: 'silent' }),
    verifyPool: false,
    chain: routes ? { mode: 'devnet' } : { mode: 'none' },
    net: { enabled: false },
    domains: routes ? DOMAINS : [...DOMAINS.filter((p) => p.domain.name !== 'impact'), rulesOnly],
  })
  await rwaNode.start()
  if (routes) rwaNode.impactProxy.pause()
  return { root, dataDir, node: rwaNode, url: rwaNode.url }
}

let node: Awaited<ReturnType<typeof startNode>>
let cli: string
let buildDir: string

beforeAll(async () => {
  buildDir = join(ROOT, 'dist', `impact-cli-test-${process.pid}`)
  mkdirSync(buildDir, { recursive: true })
  ;[node, cli] = await Promise.all([startNode(), buildImpactCli(buildDir)])
})

let bare: Awaited<ReturnType<typeof startNode>> | undefined

afterAll(async () => {
  for (const n of [node, bare]) {
    await n?.node.stop()
    if (n) rmSync(n.root, { recursive: true, force: true })
  }
  rmSync(buildDir, { recursive: true, force: true })
})

/** Runs `rwa impact …` against the node; answers its exit code and output. */
async function rwa(...args: string[]) {
  const all = [cli, 'impact', ...args, '--node', node.url, '--data-dir', node.dataDir]
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, all)
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** Runs a command that must succeed, and parses its --json output. */
async function json(...args: string[]) {
  const result = await rwa(...args, '--json')
  expect(result.stderr).toBe('')
  expect(result.code).toBe(0)
  return JSON.parse(result.stdout)
}

function keyFile(name: string): { path: string; signer: Signer; key: string } {
  const path = join(node.root, `${name}.key`)
  writeKeyFile(path, generateSigner())
  const signer = readKeyFile(path)
  return { path, signer, key: hex(signer.publicKey) }
}

describe('rwa impact', () => {
  test('a community built, requested, assigned, voted and queried from the command line', async () => {
    const requester = keyFile('requester')
    const auditor = keyFile('auditor')
    const operator = hex(readKeyFile(join(node.dataDir, 'keys', 'operator.key')).publicKey)
    const client = new NodeClient(node.url)
    const opsOf = async (id: string) => (await client.ops(id as OpId)).length

    // Genesis and registry, signed by the operator's key (the governor).
    const created = await json('create', 'Green Barcelona')
    expect(created).toMatchObject({ type: IMPACT_OP.create, name: 'Green Barcelona' })
    const community = created.community as string
    expect(created.op).toBe(community)
    expect(await json('create-category', community, '1', 'Trees planted')).toMatchObject({
      community,
      type: IMPACT_OP.createCategory,
      applied: true,
    })
    const file = join(node.root, 'planting.json')
    writeFileSync(file, actionConfig({ auditors: 1 }))
    expect((await json('create-impact-action', community, '1', `@${file}`)).applied).toBe(true)
    const payout = addressOf(100)
    await json('create-auditor', community, auditor.key, auditorConfig(), '--payout', payout)
    await json('create-proxy', community, '1', operator)

    // Refusals, checked here before anything is sent: the message names the field and the rule.
    const before = await opsOf(community)
    const unknown = await rwa('create-impact-action', community, '2', actionConfig({ category: 9 }))
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/^error: .*"category" names category 9, which does not exist/)
    const missing = await rwa(
      'request-approval',
      community,
      requestInfo({ phonenumber: '' }),
      '--payout',
      addressOf(500),
      '--key',
      requester.path,
    )
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^error: "phonenumber" is mandatory for impact action 1/)
    const badJson = await rwa(
      'request-approval',
      community,
      requestInfo({ impactactionid: 'one' }),
      '--payout',
      addressOf(500),
      '--key',
      requester.path,
    )
    expect(badJson.code).toBe(1)
    expect(badJson.stderr).toMatch(/^error: .*"impactactionid"/)
    const stranger = await rwa(
      'create-category',
      community,
      '2',
      'Plastic recycled',
      '--key',
      requester.path,
    )
    expect(stranger.code).toBe(1)
    expect(stranger.stderr).toMatch(/^error: Only a governor of "Green Barcelona" may/)
    expect(await opsOf(community)).toBe(before)

    // A request by another key, by the community's name.
    const requested = await json(
      'request-approval',
      'Green Barcelona',
      requestInfo(),
      '--payout',
      addressOf(500),
      '--key',
      requester.path,
    )
    const request = requested.op as OpId
    expect(requested.request).toMatchObject({
      id: request,
      requester: requester.key,
      status: 'WAITING_FOR_AUDITORS',
      fields: { namesurname: 'Jhone Smith', phonenumber: '+13489383845' },
    })

    // The node's proxy (the operator's key) draws the auditors, through the route.
    const assigned = await json('assign-auditor', 'Green Barcelona', request, '--maxdays', '3')
    expect(assigned).toMatchObject({ community, type: IMPACT_OP.assignAuditor })
    expect(assigned.request).toMatchObject({
      status: 'VOTING',
      assignments: [{ auditor: auditor.key }],
    })
    // The deadline is maxdays in blocks after the block the proxy claimed (the devnet's latest).
    const [seat] = assigned.request.assignments
    expect(seat.deadline).toBe(seat.block + 3 * 7200)

    // The auditor sees its queue, votes by a prefix of the request id; a second vote is refused.
    const mine = await json('requests', community, '--mine', '--key', auditor.path)
    expect(mine.requests.map((r: { id: string }) => r.id)).toEqual([request])
    const voted = await json('vote', community, request.slice(0, 20), 'Y', '--key', auditor.path)
    expect(voted.request.votes).toMatchObject([{ auditor: auditor.key, vote: 'Y' }])
    const again = await rwa('vote', community, request, 'N', '--key', auditor.path)
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/^error: .*vote/i)
    const decided = await rwa('decide', community, request)
    expect(decided.stdout).toMatch(/^Done: impact.decide \(op .*\)\.\n.*: APPROVED/)

    // Queries: a readable request with its decision and payments in units, and JSON stores.
    const shown = await rwa('request', 'Green Barcelona', request)
    expect(shown.code).toBe(0)
    expect(shown.stdout).toContain(`${request}: APPROVED`)
    expect(shown.stdout).toMatch(
      new RegExp(`deadline\\s[\\s\\S]*block ${seat.block}\\s+block ${seat.deadline}\\s+Y`),
    )
    expect(shown.stdout).toMatch(/requester\s+1000 base units of token 0 \(native\)/)
    expect(shown.stdout).toMatch(/auditor\s+50 base units of token 0 \(native\)/)
    const ranked = await json('auditors', community)
    expect(ranked.auditors).toMatchObject([
      { account: auditor.key, matched: 1, errors: 0, earned: { 0: '50' }, payout },
    ])
    const registry = await json('show', community)
    expect(registry).toMatchObject({
      id: community,
      name: 'Green Barcelona',
      threshold: 1,
      categories: [{ uid: 1, description: 'Trees planted' }],
      proxies: [{ uid: 1, account: operator }],
      counts: { requests: 1, decided: 1, expired: 0 },
    })
    expect(registry.requests).toBeUndefined()
    const pool = await rwa('pool', community)
    expect(pool.stdout).toMatch(/decided, not batched: 1050 base units of token 0 \(native\)/)
  }, 180_000)

  test('every command answers --help with an example', async () => {
    const program = await createProgram()
    if (!program.commands.some((c) => c.name() === 'impact')) impactCli.register(program)
    const impact = program.commands.find((c) => c.name() === 'impact')!
    expect(impact.commands.map((c) => c.name())).toEqual(
      expect.arrayContaining(['create-category', 'request-approval', 'vote', 'pool', 'decide']),
    )
    for (const command of impact.commands) {
      const parts: string[] = []
      command.configureOutput({ writeOut: (text) => void parts.push(text) })
      command.outputHelp()
      expect(parts.join('')).toContain(`Example:\n  $ rwa impact ${command.name()}`)
    }
  })

  test('governors approve a change in process; a node without /impact takes ids only', async () => {
    bare = await startNode({ routes: false })
    const second = join(bare.root, 'second.key')
    writeKeyFile(second, generateSigner())
    const operator = readKeyFile(join(bare.dataDir, 'keys', 'operator.key'))
    const keys = [hex(operator.publicKey), hex(readKeyFile(second).publicKey)]
    const lines: string[] = []
    const spy = vi.spyOn(console, 'log').mockImplementation((line: string) => void lines.push(line))
    const run = async (...args: string[]) => {
      lines.length = 0
      const program = (await createProgram()).exitOverride()
      if (!program.commands.some((c) => c.name() === 'impact')) impactCli.register(program)
      const options = ['--node', bare!.url, '--data-dir', bare!.dataDir]
      await program.parseAsync(['node', 'rwa', 'impact', ...args, ...options])
      return lines.join('\n')
    }
    try {
      const governors = keys.flatMap((k) => ['--governor', k])
      const created = JSON.parse(
        await run('create', 'Two keys', ...governors, '--threshold', '2', '--json'),
      )
      const community = created.community as string
      const proposed = await run('create-category', community, '1', 'Trees planted')
      const proposal = /\(op (\S+)\)/.exec(proposed)![1]!
      expect(proposed).toContain('1 of 2 governors approved')
      expect(await run('show', community)).toMatch(/impact\.category\.create\s+1 of 2/)
      await expect(run('approve', community, proposal)).rejects.toThrow(
        /approved the change already/,
      )
      expect(await run('approve', community, proposal, '--key', second)).toMatch(
        /^Approved: the change is applied/,
      )
      expect(await run('categories', community)).toMatch(/1\s+Trees planted/)
      await expect(run('show', 'Two keys')).rejects.toThrow(/lists no communities by name/)
      await expect(run('list')).rejects.toThrow(/does not list impact communities/)
    } finally {
      spy.mockRestore()
    }
  })
})
