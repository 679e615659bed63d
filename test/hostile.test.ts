// A stranger with nothing but the HTTP API, against a real node on loopback: each test is one
// finding of the hostile review, asserting the property it broke (ARCHITECTURE §1, §4).
import { afterEach, describe, expect, test } from 'vitest'
import { NodeClient } from '../src/cli/client.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { generateSigner } from '../src/store/key-file.ts'
import { makeMerge, makeOp } from './helpers.ts'
import { TestNode } from './node-fixture.ts'

let node: TestNode | undefined
afterEach(async () => {
  await node?.stop()
  node = undefined
})

const hex = (ops: readonly EncodedOp[]) => ops.map((op) => Buffer.from(op.bytes).toString('hex'))

/** Posts ops through the unauthenticated `POST /ops`, 1,000 per request; answers the results. */
async function post(t: TestNode, ops: readonly EncodedOp[]) {
  const results: { ok: boolean; status?: string; error?: string }[] = []
  for (let i = 0; i < ops.length; i += 1000) {
    const { status, json } = await t.call('POST', '/ops', {
      body: { ops: hex(ops.slice(i, i + 1000)) },
    })
    expect(status).toBe(200)
    results.push(...json.results)
  }
  return results
}

/**
 * A stranger's head flood: `valid` merge ops and `invalid` admin commands, each citing only
 * `deps` (the genesis, say), so every valid one is a new head of the document.
 */
function flood(doc: OpId, deps: OpId[], valid: number, invalid: number): EncodedOp[] {
  const ops: EncodedOp[] = []
  for (let i = 0; i < valid; i++)
    ops.push(makeMerge(generateSigner(), { doc, seq: 1, deps, time: i }))
  for (let i = 0; i < invalid; i++)
    ops.push(makeOp(generateSigner(), { doc, seq: 1, deps, type: 'audit.open', body: {}, time: i }))
  return ops
}

async function accountTokens(t: TestNode, names: string[]): Promise<string[]> {
  const tokens: string[] = []
  for (const name of names) {
    const { status, json } = await t.call('POST', '/accounts', {
      token: t.operatorToken,
      body: { name },
    })
    expect(status).toBe(200)
    tokens.push(json.token)
  }
  return tokens
}

describe('a stranger cannot freeze, bloat or clog a document', () => {
  test('finding 1: an honest audit under a head flood still completes with every honest op counted', async () => {
    node = await TestNode.start()
    const t = node
    const admin = t.operatorToken
    const auditors = await accountTokens(t, ['a1', 'a2', 'a3'])
    const created = await t.call('POST', '/audits', {
      token: admin,
      body: { name: 'Flooded', bond: '900' },
    })
    expect(created.status).toBe(200)
    const id = created.json.audit as OpId
    const genesis = [id]
    // 1,000 concurrent valid heads and 1,000 refused ops before every step: honest ops cited only
    // the first 64 heads by id, so they stopped seeing each other.
    let refused = 0
    let steps = 0
    const step = async () => {
      steps++
      const results = await post(t, flood(id, genesis, 1000, 1000))
      expect(results.slice(0, 1000).every((r) => r.ok)).toBe(true)
      refused += results.filter((r) => r.error === 'OpRefusedError').length
    }
    await step()
    expect(
      (await t.call('POST', `/audits/${id}/items`, { token: admin, body: { description: 'x' } }))
        .status,
    ).toBe(200)
    await step()
    expect((await t.call('POST', `/audits/${id}/open`, { token: admin })).json.state).toBe(
      'AUDITOR_REGISTRATION',
    )
    for (const token of auditors) {
      await step()
      expect((await t.call('POST', `/audits/${id}/register`, { token })).status).toBe(200)
    }
    await step()
    expect((await t.call('POST', `/audits/${id}/close`, { token: admin })).status).toBe(200)
    await step()
    expect((await t.call('POST', `/audits/${id}/start`, { token: admin })).json.state).toBe(
      'AUDITING',
    )
    for (const token of auditors) {
      const { json } = await t.call('GET', `/audits/${id}/next`, { token })
      if (!json.inspection) continue
      await step()
      const answered = await t.call('POST', `/audits/${id}/answer`, {
        token,
        body: { answer: 'yes' },
      })
      expect(answered.status).toBe(200)
    }
    await step()
    const stopped = await t.call('POST', `/audits/${id}/stop`, { token: admin })
    expect(stopped.json.state).toBe('WAITING_FOR_CONTRACT')
    const { json: view } = await t.call('GET', `/audits/${id}`)
    // Every honest op counted: nothing in the document was refused (the stranger's admin
    // commands were refused at ingest, never part of it).
    expect(view.rejected ?? []).toEqual([])
    expect(refused).toBe(1000 * steps)
    expect(view.items).toHaveLength(1)
  }, 180_000)

  test('finding 1: a client-signed op follows every op the node holds, however many heads', async () => {
    node = await TestNode.start()
    const client = new NodeClient(node.url)
    const admin = generateSigner()
    const genesis = await client.submit(admin, {
      doc: null,
      type: 'audit.create',
      body: { name: 'Client under flood', bond: '9' },
    })
    expect((await post(node, flood(genesis.id, [genesis.id], 3000, 0))).every((r) => r.ok)).toBe(
      true,
    )
    expect(node.node.ledger.log.heads(genesis.id)).toHaveLength(3000)
    // The heads route folds them: an op citing its answer follows all 3,000.
    const { json } = await node.call('GET', `/docs/${genesis.id}/heads`)
    expect(json.heads.length).toBeLessThanOrEqual(64)
    await client.submit(admin, {
      doc: genesis.id,
      type: 'audit.item.add',
      body: { description: 'x' },
    })
    const opened = await client.submit(admin, { doc: genesis.id, type: 'audit.open', body: {} })
    const ledger = node.node.ledger
    expect(ledger.log.heads(genesis.id)).toEqual([opened.id])
    expect(ledger.log.causalPast(genesis.id, opened.id)).toHaveLength(
      ledger.log.size(genesis.id) - 1,
    )
    expect((await node.call('GET', `/audits/${genesis.id}`)).json.state).toBe(
      'AUDITOR_REGISTRATION',
    )
  }, 120_000)

  test('finding 9: refused junk does not bloat an honest document', async () => {
    node = await TestNode.start()
    const t = node
    const created = await t.call('POST', '/audits', {
      token: t.operatorToken,
      body: { name: 'Clean', bond: '10' },
    })
    const id = created.json.audit as OpId
    const before = JSON.stringify((await t.call('GET', `/audits/${id}`)).json).length
    const size = t.node.ledger.log.size(id)
    const results = await post(t, flood(id, [id], 0, 5000))
    expect(results.every((r) => r.error === 'OpRefusedError')).toBe(true)
    expect(t.node.ledger.log.size(id)).toBe(size)
    expect(t.node.ledger.log.heads(id)).toEqual([id])
    expect(JSON.stringify((await t.call('GET', `/audits/${id}`)).json).length).toBe(before)
    // Resent, they are answered from the refusal memory, and still refused.
    const again = await post(t, flood(id, [id], 0, 1))
    expect(again[0]!.error).toBe('OpRefusedError')
  }, 120_000)

  test('finding 6: a flooding author never blocks another author’s out-of-order op, and the buffer stays bounded', async () => {
    node = await TestNode.start()
    const t = node
    const created = await t.call('POST', '/audits', {
      token: t.operatorToken,
      body: { name: 'Parked', bond: '10' },
    })
    const id = created.json.audit as OpId
    // 12,000 ops of one author waiting for a dep that never comes (more than a document's buffer).
    const flooder = generateSigner()
    const ghost = makeMerge(flooder, { doc: id, seq: 1, deps: [id] })
    const parked = Array.from({ length: 12_000 }, (_, i) =>
      makeMerge(flooder, { doc: id, seq: i + 2, deps: [ghost.id] }),
    )
    const results = await post(t, parked)
    const stats = t.node.ledger.log.stats()
    expect(results.filter((r) => r.ok).length).toBeLessThan(12_000)
    expect(stats.pending).toBe(results.filter((r) => r.ok).length)
    // An honest author's op, sent before its dep (out of order), still waits, then joins.
    const honest = generateSigner()
    const first = makeMerge(honest, { doc: id, seq: 1, deps: [id] })
    const second = makeMerge(honest, { doc: id, seq: 2, deps: [first.id] })
    expect((await post(t, [second]))[0]).toMatchObject({ ok: true, status: 'pending' })
    expect((await post(t, [first]))[0]).toMatchObject({ ok: true, status: 'accepted' })
    expect(t.node.ledger.log.has(id, second.id)).toBe(true)
  }, 120_000)
})
