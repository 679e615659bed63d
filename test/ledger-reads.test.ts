import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { openLedger } from '../src/ledger/ledger.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { sqliteStore } from '../src/store/sqlite-store.ts'
import { makeGenesis, makeOp, testSigner } from './helpers.ts'

describe('Ledger.getBytesOfDocs', () => {
  test('reads interleaved documents from small segments exactly as getBytes does, per document and in order', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rwa-ledger-reads-'))
    try {
      // Segments of 4 ops and 200 documents of 6 ops interleaved: each document spans 6 segments,
      // more than the store keeps unpacked.
      const ledger = await openLedger({
        store: sqliteStore({ path: join(dir, 'rwa.sqlite'), segmentSize: 4 }),
      })
      const signer = testSigner(5)
      const heads = Array.from({ length: 200 }, (_, d) => makeGenesis(signer, { name: `d${d}` }))
      const ids = new Map<OpId, OpId[]>(heads.map((g) => [g.id, [g.id]]))
      await ledger.ingest(heads.map((g) => g.bytes))
      for (let seq = 2; seq <= 6; seq++) {
        const round = heads.map((head, d) => {
          const doc = heads[d]!.op.doc ?? heads[d]!.id
          return makeOp(signer, { doc, seq, deps: [head.id], body: { seq } })
        })
        await ledger.ingest(round.map((op) => op.bytes))
        round.forEach((op, d) => {
          ids.get(op.op.doc!)!.push(op.id)
          heads[d] = op
        })
      }
      const requests = [...ids].reverse().map(([doc, list]) => ({ doc, ids: list.slice(1) }))
      const many = await ledger.getBytesOfDocs(requests)
      const one = await Promise.all(requests.map(({ doc, ids }) => ledger.getBytes(doc, ids)))
      expect(many).toEqual(one)
      expect(many.every((ops) => ops.length === 5)).toBe(true)
      // Again, now from what the store keeps unpacked: the same bytes.
      expect(await ledger.getBytesOfDocs(requests)).toEqual(one)
      await ledger.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
