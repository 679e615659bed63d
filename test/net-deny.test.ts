import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import {
  DENIED_PEERS_FILE,
  editDeniedPeers,
  MAX_DENIED_PEERS_BYTES,
  parseDeniedPeers,
  parsePeerId,
  readDeniedPeers,
} from '../src/net/denied-peers.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { RWA_BIN } from './node-fixture.ts'

const roots: string[] = []
const running: RwaNode[] = []

afterEach(async () => {
  for (const node of running.splice(0)) await node.stop().catch(() => undefined)
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

function tempRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'rwa-deny-test-'))
  roots.push(root)
  return root
}

function dataDirs(n: number): string[] {
  const root = tempRoot()
  return Array.from({ length: n }, (_, i) => {
    const dir = join(root, `n${i + 1}`)
    initNode({ name: `n${i + 1}`, dataDir: dir })
    return dir
  })
}

type LogLine = { level: number; msg: string; [key: string]: unknown }

/** A node replicating on loopback, no chain; its log lines are kept in `logs` when given. */
function makeNode(dataDir: string, peers: string[] = [], logs?: LogLine[]): RwaNode {
  const logger = logs
    ? pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) })
    : pino({ level: 'silent' })
  const node = createNode(loadConfig(dataDir), {
    port: 0,
    logger,
    verifyPool: false,
    chain: { mode: 'none' },
    net: { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], peers },
  })
  running.push(node)
  return node
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const address = (node: RwaNode) => node.replicator!.multiaddrs()[0]!
const peerOf = (node: RwaNode) => node.replicator!.peerId
const denyFile = (node: RwaNode) => join(node.config.dataDir, DENIED_PEERS_FILE)

/** Creates an audit on `node` (one op), answering its id. */
async function createAudit(node: RwaNode, name: string): Promise<string> {
  const admin = node.accounts.get(OPERATOR)!
  return (await node.actions.create(admin, { name, bond: '10' })).id
}

const holds = (node: RwaNode, doc: string) => node.audits.list().some((a) => a.id === doc)

async function deniedCount(node: RwaNode): Promise<number> {
  const status = (await (await fetch(`${node.url}/status`)).json()) as { net: { denied: number } }
  return status.net.denied
}

async function newPeerId(): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

describe('the operator deny list partitions the network', () => {
  test('three nodes split {A} | {B, C} by their files: ops stay on their side; allowed again, they converge', async () => {
    const [da, db, dc] = dataDirs(3)
    const a = makeNode(da!)
    await a.start()
    const b = makeNode(db!, [address(a)])
    await b.start()
    const c = makeNode(dc!, [address(a), address(b)])
    await c.start()
    await until('a full mesh', () => [a, b, c].every((n) => n.replicator!.peerCount() === 2))

    writeFileSync(denyFile(a), `# the far side\n${peerOf(b)}\n${peerOf(c)} # node c\n`)
    writeFileSync(denyFile(b), `${peerOf(a)}\n`)
    writeFileSync(denyFile(c), `${peerOf(a)}\n`)
    await until(
      'the split',
      () =>
        [a, b, c].every((n) => n.replicator!.denied().length > 0) &&
        a.replicator!.peerCount() === 0 &&
        b.replicator!.peerCount() === 1 &&
        c.replicator!.peerCount() === 1,
    )
    expect(a.replicator!.denied()).toEqual([peerOf(b), peerOf(c)].sort())
    expect(b.replicator!.denied()).toEqual([peerOf(a)])
    expect(await deniedCount(a)).toBe(2)
    // A dial across the split is refused (by the dialler's own gater here).
    await expect(c.replicator!.connect(address(a))).rejects.toThrow()

    const onA = await createAudit(a, 'West')
    const onB = await createAudit(b, 'East 1')
    const onC = await createAudit(c, 'East 2')
    await until('B and C to exchange their ops', () => holds(b, onC) && holds(c, onB))
    // Everyone syncs with everyone it can reach: nothing crosses the split.
    await Promise.all([a, b, c].map((n) => n.replicator!.syncAll()))
    expect([holds(a, onB), holds(a, onC), holds(b, onA), holds(c, onA)]).toEqual([
      false,
      false,
      false,
      false,
    ])
    expect(a.replicator!.peerCount()).toBe(0)

    editDeniedPeers(denyFile(a), { allow: [peerOf(b), peerOf(c)] })
    editDeniedPeers(denyFile(b), { allow: [peerOf(a)] })
    editDeniedPeers(denyFile(c), { allow: [peerOf(a)] })
    await until('every node to hold every op', () =>
      [a, b, c].every((n) => [onA, onB, onC].every((doc) => holds(n, doc))),
    )
    await until('a full mesh again', () => [a, b, c].every((n) => n.replicator!.peerCount() === 2))
    expect(await deniedCount(a)).toBe(0)
    expect(a.replicator!.denied()).toEqual([])
  }, 90_000)

  test('a deny on one side is enough; lifting it, that side dials the peer back', async () => {
    const [da, db] = dataDirs(2)
    const a = makeNode(da!)
    await a.start()
    const b = makeNode(db!, [address(a)])
    await b.start()
    await until('the pair to connect', () => a.replicator!.peerCount() === 1)
    writeFileSync(denyFile(a), `${peerOf(b)}\n`)
    await until('the pair to part', () => b.replicator!.peerCount() === 0)
    // B denies nothing, but A's gater refuses B's connection once B's id is known.
    await b.replicator!.connect(address(a)).catch(() => undefined)
    await new Promise((r) => setTimeout(r, 300))
    expect(a.replicator!.node.getPeers().map(String)).not.toContain(peerOf(b))
    const onB = await createAudit(b, 'Unheard')
    await b.replicator!.syncAll()
    expect(holds(a, onB)).toBe(false)

    rmSync(denyFile(a)) // no file: nobody denied
    await until('A to hold B’s op', () => holds(a, onB))
    expect(a.replicator!.denied()).toEqual([])
  }, 60_000)

  test('a node started with a deny list never connects to the peers on it', async () => {
    const [da, db] = dataDirs(2)
    const a = makeNode(da!)
    await a.start()
    writeFileSync(join(db!, DENIED_PEERS_FILE), `${peerOf(a)}\n`)
    const b = makeNode(db!, [address(a)])
    await b.start()
    const onA = await createAudit(a, 'Never')
    await Promise.all([a, b].map((n) => n.replicator!.syncAll()))
    expect(b.replicator!.peerCount()).toBe(0)
    expect(a.replicator!.peerCount()).toBe(0)
    expect(holds(b, onA)).toBe(false)
  }, 60_000)
})

describe('hostile deny list files', () => {
  test('junk lines are skipped with their line numbers; ids are read in canonical form, once', async () => {
    const [p1, p2, p3] = [await newPeerId(), await newPeerId(), await newPeerId()]
    const text = [
      '# comment',
      '',
      `  ${p1}  # spaces and a comment`,
      'not-a-peer',
      `${p2}\r`,
      `${p1}`,
      'x'.repeat(5000),
      'Qm\u0000\u0007',
      'http://example.test/ipns',
      `${p3}#tight comment`,
    ].join('\n')
    const read = parseDeniedPeers(text)
    expect(read.peers).toEqual([p1, p2, p3])
    expect(read.skipped.map((s) => s.line)).toEqual([4, 7, 8, 9])
    expect(read.skipped.every((s) => s.reason === 'not a libp2p peer id')).toBe(true)
    expect(read.skipped[2]!.text).toBe(JSON.stringify('Qm\u0000\u0007'))
    expect(parsePeerId(p1.slice(0, -1))).toBeUndefined()
  })

  test('a file past the size bound is read up to it, the cut line not taken for a peer', async () => {
    const root = tempRoot()
    const path = join(root, DENIED_PEERS_FILE)
    const peer = await newPeerId()
    const comment = `# ${'c'.repeat(98)}\n`
    const filler = comment.repeat(Math.ceil(MAX_DENIED_PEERS_BYTES / comment.length))
    writeFileSync(path, `${peer}\n${filler}${await newPeerId()}\n`)
    const read = readDeniedPeers(path)
    expect(read.peers).toEqual([peer])
    expect(read.skipped.at(-1)!.reason).toMatch(/over 1048576 bytes/)
    expect(readDeniedPeers(join(root, 'missing.txt'))).toEqual({ peers: [], skipped: [] })
    expect(() => editDeniedPeers(path, { deny: [peer] })).toThrow(/trim it by hand/)
  })

  test('a running node logs junk lines and an unreadable file, keeps its list and keeps serving', async () => {
    const [dir] = dataDirs(1)
    const good = await newPeerId()
    const path = join(dir!, DENIED_PEERS_FILE)
    writeFileSync(path, `${good}\nnonsense here\n\u00ff\u00fe garbage\n`)
    const logs: LogLine[] = []
    const node = makeNode(dir!, [], logs)
    await node.start()
    expect(node.replicator!.denied()).toEqual([good])
    const skipped = logs.filter((l) => l.msg === 'skipped a line of the deny list')
    expect(skipped.map((l) => l.line)).toEqual([2, 3])
    // Through the API too, what is no peer id is left out, not stored.
    node.replicator!.deny(['junk', `${good}x`])
    node.replicator!.allow(['junk'])
    expect(node.replicator!.denied()).toEqual([good])
    // A directory where the file was: logged, and the list read last stays in force.
    rmSync(path)
    mkdirSync(path)
    await until('the node to log the unreadable list', () =>
      logs.some((l) => l.msg.startsWith('cannot read the deny list')),
    )
    expect(node.replicator!.denied()).toEqual([good])
    expect(await deniedCount(node)).toBe(1)
  }, 30_000)
})

describe('rwa net deny / allow / denied', () => {
  const rwa = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [RWA_BIN, ...args])
      return { code: 0, stdout, stderr }
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string }
      return { code: e.code, stdout: e.stdout, stderr: e.stderr }
    }
  }

  test('edit the file in place, keeping the operator’s comments, and refuse what is no peer id', async () => {
    const [dir] = dataDirs(1)
    const path = join(dir!, DENIED_PEERS_FILE)
    const [p1, p2] = [await newPeerId(), await newPeerId()]
    writeFileSync(path, '# lab partition\n')
    const denied = await rwa('net', 'deny', p1, p2, p1, '--data-dir', dir!)
    expect(denied.code).toBe(0)
    expect(denied.stdout).toContain('Denied 2 more peer(s); 2 denied in all.')
    const listed = await rwa('net', 'denied', '--json', '--data-dir', dir!)
    expect(JSON.parse(listed.stdout)).toEqual({ peers: [p1, p2], skipped: [] })
    const allowed = await rwa('net', 'allow', p1, '--data-dir', dir!)
    expect(allowed.stdout).toContain('Allowed 1 peer(s); 1 denied in all.')
    expect(readFileSync(path, 'utf8')).toBe(`# lab partition\n${p2}\n`)

    const bad = await rwa('net', 'deny', 'not-a-peer', '--data-dir', dir!)
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/"not-a-peer" is not a libp2p peer id/)
    expect(readFileSync(path, 'utf8')).toBe(`# lab partition\n${p2}\n`)
    const nowhere = await rwa('net', 'denied', '--data-dir', join(dir!, 'none'))
    expect(nowhere.code).toBe(1)
    expect(nowhere.stderr).toMatch(/There is no node in/)
  }, 60_000)
})
