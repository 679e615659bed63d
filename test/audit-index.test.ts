import { describe, expect, test } from 'vitest'
import { createAuditIndex } from '../src/domains/audit/audit-index.ts'
import { signOp } from '../src/ledger/op-encode.ts'
import { AuditFixture } from './audit-fixture.ts'
import { memoryLedger, testSigner } from './helpers.ts'

describe('audit index', () => {
  test('a reader is not held by ops that keep arriving and keep the audit order-sensitive', async () => {
    const audit = await AuditFixture.create({})
    const index = createAuditIndex(audit.ledger)
    await index.start()
    try {
      const first = await audit.act('audit.item.add', { description: 'Light 1' })
      const genesisOnly = [audit.id]
      // Every read of the store lets another item add arrive that did not see the others: each
      // one makes the audit order-sensitive again (bounded: 30 at most).
      const getOps = audit.ledger.getOps.bind(audit.ledger)
      let reads = 0
      let sent = 0
      audit.ledger.getOps = async (doc, ids) => {
        reads++
        const ops = await getOps(doc, ids)
        if (sent < 30) {
          sent++
          await audit.actOn(genesisOnly, 'audit.item.add', { description: `Stale ${sent}` })
        }
        return ops
      }
      await audit.actOn(genesisOnly, 'audit.item.add', { description: 'Stale 0' })
      const state = await index.state(audit.id)
      // One rebuild for the ops held when asked; the read does not wait out the trickle.
      expect(reads).toBe(1)
      expect(sent).toBe(1)
      const descriptions = state.items.map((i) => i.description)
      expect(descriptions).toEqual(expect.arrayContaining(['Light 1', 'Stale 0']))
      expect(state.items.map((i) => i.id)).toContain(first.id)
      // Once the trickle ends, a read gives the canonical state of everything.
      while (sent < 30) await index.state(audit.id)
      audit.ledger.getOps = getOps
      const final = await index.state(audit.id)
      expect(final.items).toHaveLength(32)
    } finally {
      index.stop()
    }
  })

  test('an item add the audit refuses does not make it order-sensitive', async () => {
    const audit = await AuditFixture.create({})
    const index = createAuditIndex(audit.ledger)
    await index.start()
    try {
      await audit.act('audit.item.add', { description: 'Light 1' })
      const reducer = await index.reducer(audit.id)
      // A stranger's add that did not see the admin's: refused, whatever the order.
      await audit.actOn([audit.id], 'audit.item.add', { description: 'Mine' }, testSigner(77))
      expect(reducer.orderSensitive).toBe(false)
      await audit.act('audit.item.add', { description: 'Light 2' })
      expect(reducer.orderSensitive).toBe(false)
      expect((await index.state(audit.id)).rejected).toHaveLength(1)
    } finally {
      index.stop()
    }
  })

  test('a fault while applying an op loses nothing: other audits get theirs, and the audit is rebuilt from the store', async () => {
    const errors: unknown[] = []
    const ledger = await memoryLedger({ onListenerError: (error) => errors.push(error) })
    const admin = testSigner(1)
    const genesis = async (name: string) =>
      (
        await ledger.append(admin, {
          doc: null,
          type: 'audit.create',
          body: { name, bond: '10' },
          time: 1_700_000_000_000,
        })
      ).id
    const [one, two] = [await genesis('One'), await genesis('Two')]
    const index = createAuditIndex(ledger)
    await index.start()
    try {
      // A bug of ours in the reducer of audit One, once.
      const reducer = await index.reducer(one)
      const apply = reducer.apply.bind(reducer)
      let broken = true
      reducer.apply = (op) => {
        if (broken) {
          broken = false
          throw new Error('a bug')
        }
        apply(op)
      }
      const add = (doc: typeof one, description: string) =>
        signOp(
          {
            v: 1,
            doc,
            author: admin.publicKey,
            seq: ledger.log.lastSeq(doc, admin.publicKey) + 1,
            deps: ledger.log.heads(doc),
            time: 1_700_000_001_000,
            type: 'audit.item.add',
            body: { description },
          },
          admin,
        )
      const results = await ledger.ingest([add(one, 'A').bytes, add(two, 'B').bytes])
      expect(results.every((r) => r.ok)).toBe(true)
      expect(errors).toEqual([new Error('a bug')])
      expect((await index.state(one)).items.map((i) => i.description)).toEqual(['A'])
      expect((await index.state(two)).items.map((i) => i.description)).toEqual(['B'])
    } finally {
      index.stop()
    }
  })
})
