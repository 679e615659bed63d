import '../src/net/polyfill.ts'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterEach, describe, expect, test } from 'vitest'
import { auditEscrowAbi } from '../src/chain/artifacts.ts'
import { NATIVE } from '../src/chain/escrow.ts'
import { depositToPool, impactPoolId, NO_MEMO } from '../src/chain/pools.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { type ChainConfig, loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { type Json, until } from './impact-api.ts'
import { actionConfig, auditorConfig, requestInfo } from './impact-fixture.ts'

// Three replicating nodes on one chain: the first holds the community's governor and proxy keys
// and runs the devnet; auditors and the requester are accounts of the other two. The escrow needs
// two of the three nodes' signatures, so a batch settles only with another node's signature.

const roots: string[] = []
const running: RwaNode[] = []
afterEach(async () => {
  for (const node of running.splice(0).reverse()) await node.stop().catch(() => undefined)
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true })
})

async function startNode(root: string, name: string, chain: ChainConfig, peers: string[]) {
  const dataDir = join(root, name)
  initNode({ name, dataDir })
  const node = createNode(loadConfig(dataDir), {
    port: 0,
    logger: pino({ level: 'silent' }),
    verifyPool: false,
    chain,
    net: { enabled: true, listen: ['/ip4/127.0.0.1/tcp/0'], peers },
  })
  running.push(node)
  await node.start()
  return node
}

const tokenOf = (node: RwaNode) => readFileSync(node.accounts.tokenPath(OPERATOR), 'utf8').trim()

/** A JSON request to a node, as `token` (default: its operator); throws unless 200. */
async function call(node: RwaNode, method: string, path: string, body?: unknown, token?: string) {
  const response = await fetch(`${node.url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token ?? tokenOf(node)}`,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const json = (await response.json()) as Json
  expect(response.status, `${method} ${path}: ${JSON.stringify(json)}`).toBe(200)
  return json
}

describe('impact across three replicating nodes', () => {
  test('run the flow and end with equal state hashes and the same settled batch on every node', async () => {
    const root = mkdtempSync(join(tmpdir(), 'rwa-impact-repl-'))
    roots.push(root)
    const n1 = await startNode(root, 'n1', { mode: 'devnet' }, [])
    const { rpcUrl, escrow } = n1.chain!.info
    const peer = [n1.replicator!.multiaddrs()[0]!]
    const n2 = await startNode(root, 'n2', { mode: 'rpc', rpcUrl, escrow }, peer)
    const n3 = await startNode(root, 'n3', { mode: 'rpc', rpcUrl, escrow }, peer)
    const nodes = [n1, n2, n3]

    // The escrow's owner (n1's operator) makes it take two of the three nodes' signatures.
    const chain = n1.chain!
    const write = async (
      functionName: 'addSigner' | 'setThreshold',
      arg: `0x${string}` | bigint,
    ) => {
      const hash = await chain.wallet.writeContract({
        address: escrow,
        abi: auditEscrowAbi,
        functionName,
        args: [arg] as never,
      })
      await chain.client.waitForTransactionReceipt({ hash })
    }
    await write('addSigner', n2.chain!.info.signer)
    await write('addSigner', n3.chain!.info.signer)
    await write('setThreshold', 2n)

    const create = async (node: RwaNode, name: string) => {
      const made = await call(node, 'POST', '/accounts', { name })
      return made as { key: string; address: string; token: string }
    }
    const no = await create(n3, 'auditor-n3')
    const yes = [await create(n2, 'auditor-n2a'), await create(n2, 'auditor-n2b')]
    const requester = await create(n3, 'requester')
    const operator = await call(n1, 'GET', '/accounts/me')

    const { community } = await call(n1, 'POST', '/impact', { name: 'Replicated' })
    const c = `/impact/${community}`
    await call(n1, 'POST', `${c}/categories`, { uid: 1, description: 'Trees planted' })
    await call(n1, 'POST', `${c}/actions`, { uid: 1, configuration: actionConfig() })
    await call(n1, 'POST', `${c}/proxies`, { uid: 1, account: operator.key })
    for (const a of [no, ...yes])
      await call(n1, 'POST', `${c}/auditors`, {
        account: a.key,
        configuration: auditorConfig(),
        payout: a.address,
      })
    await depositToPool(chain.wallet, chain.client, {
      escrow,
      poolId: impactPoolId(community, 0),
      token: NATIVE,
      amount: 5000n,
      memo: NO_MEMO,
    })
    await until(
      'every node to hold the registry',
      async () =>
        nodes.every((n) => n.impact.has(community)) &&
        (await Promise.all(nodes.map((n) => n.impact.reducer(community)))).every(
          (r) => r.state().auditors.length === 3 && r.pool(0).deposited === 5000n,
        ),
    )

    // The requester asks on n3; n1's proxy assigns every auditor (2 required, 3 seats).
    const { op: request } = await call(
      n3,
      'POST',
      `${c}/requests`,
      { info: requestInfo() },
      requester.token,
    )
    const stateOn = async (node: RwaNode) => (await node.impact.reducer(community)).request(request)
    await until('the assignment everywhere', async () =>
      (await Promise.all(nodes.map(stateOn))).every((r) => r?.status === 'VOTING'),
    )
    await call(n3, 'POST', `${c}/requests/${request}/vote`, { vote: 'N' }, no.token)
    await until('the N vote on n1', async () => (await stateOn(n1))?.votes.length === 1)
    for (const a of yes)
      await call(n2, 'POST', `${c}/requests/${request}/vote`, { vote: 'Y' }, a.token)

    // n1 decides and closes batch 0; two nodes sign it; n1 settles it on the chain.
    await until(
      'the settled batch everywhere',
      async () =>
        (
          await Promise.all(nodes.map(async (n) => (await n.impact.reducer(community)).pool(0)))
        ).every((p) => p.batches[0]?.settled !== undefined),
      90_000,
    )
    const hashes = async () =>
      Promise.all(
        nodes.map(async (n) => {
          const status = await call(n, 'GET', '/status')
          return status.documents[community]?.stateHash as string
        }),
      )
    await until('equal state hashes', async () => new Set(await hashes()).size === 1)
    const pools = await Promise.all(nodes.map((n) => call(n, 'GET', `${c}/pools/0`)))
    const batches = pools.map((p) => {
      const { payees, amounts, total, settled } = p.batches[0]
      return { payees, amounts, total, settled }
    })
    expect(batches[1]).toEqual(batches[0])
    expect(batches[2]).toEqual(batches[0])
    const paid = Object.fromEntries(
      (batches[0]!.payees as string[]).map((to, i) => [to, batches[0]!.amounts[i]]),
    )
    expect(paid).toEqual({
      [requester.address]: '1000',
      [yes[0]!.address]: '25',
      [yes[1]!.address]: '25',
    })
    const decided = await stateOn(n2)
    expect([decided?.status, decided?.decision?.contradicted]).toEqual(['APPROVED', [no.key]])
    // At least two nodes signed (the escrow's threshold), n1 among them.
    const signers = pools[0]!.batches[0].signatures.map((s: Json) => s.signer)
    expect(signers).toEqual(expect.arrayContaining([n1.chain!.info.signer]))
    expect(signers.length).toBeGreaterThanOrEqual(2)
  }, 180_000)
})
