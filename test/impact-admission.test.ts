import { describe, expect, test } from 'vitest'
import { impactDomain } from '../src/core/impact/domain.ts'
import { IMPACT_OP } from '../src/core/impact/ops.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import { compareOpIds } from '../src/ledger/op-id.ts'
import { createDocIndex, type DocIndex } from '../src/node/doc-index.ts'
import { memoryLedger } from './helpers.ts'
import { Community, ROLES } from './impact-fixture.ts'

// Admission judges an op on the document's reducer as the ops arrived. After a tie-break that
// reducer is in arrival order, not the log's, so a refusal it gives may be one the canonical
// state would not: the ledger must not drop the op for it.

describe('impact admission after a tie-break', () => {
  test("a decision counted on the log's order is admitted by a node that got the auditor's two votes the other way round", async () => {
    const c = new Community().setup({ auditors: 3 })
    const req = c.request(ROLES.requester(0))
    const { op: assign, auditors } = c.assign(req.id)
    const [a, b] = auditors.map(Community.auditorSigner)
    // The equivocating auditor's Y is first in the log's order (the smaller id), its N second.
    let yes: EncodedOp
    let no: EncodedOp
    let n = 0
    do {
      const note = `visit ${n++}`
      yes = c.make(
        a!,
        IMPACT_OP.vote,
        { request: req.id, vote: JSON.stringify({ vote: 'Y', otherinfo: note }) },
        [assign.id],
      )
      no = c.make(
        a!,
        IMPACT_OP.vote,
        { request: req.id, vote: JSON.stringify({ vote: 'N', otherinfo: note }) },
        [assign.id],
      )
    } while (compareOpIds(yes.id, no.id) > 0)
    const other = c.make(b!, IMPACT_OP.vote, { request: req.id, vote: '{"vote":"Y"}' }, [assign.id])
    const decide = c.make(ROLES.proxy, IMPACT_OP.decide, { request: req.id, block: 1000 }, [
      yes.id,
      no.id,
      other.id,
    ])

    let index: DocIndex | undefined
    const ledger = await memoryLedger({ admit: (doc, op) => index?.admit(doc, op) })
    index = createDocIndex(ledger, impactDomain) as unknown as DocIndex
    await index.start()
    // This node gets the N first: its reducer counts N for the auditor until it is rebuilt.
    for (const op of [...c.ops, no, yes, other]) await ledger.ingest([op.bytes])
    const [result] = await ledger.ingest([decide.bytes])
    expect(result).toMatchObject({ ok: true, status: 'accepted' })
    // In the log's order the Y counts: two Y of three seats decide.
    const state = await index.state(c.id)
    const request = (state as ReturnType<typeof c.reducer.state>).requests.find(
      (r) => r.id === req.id,
    )!
    expect(request.status).toBe('APPROVED')
    index.stop()
  })
})
