import { describe, expect, test } from 'vitest'
import { auditDomain } from '../src/core/audit/domain.ts'
import { signOp } from '../src/ledger/op-encode.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { AuditFixture, registrationBody, testAuditor } from './audit-fixture.ts'
import { testSigner } from './helpers.ts'

describe('the audit reducer judges an op on its own causal past (what a ledger asks at ingest)', () => {
  test('a stranger, a wrong phase and a lost tie-break are told apart, and nothing is applied', async () => {
    const audit = await AuditFixture.create({})
    await audit.act('audit.item.add', { description: 'Light 1' })
    const open = await audit.act('audit.open')
    const a1 = testAuditor(1)
    const registered = await audit.act('audit.register', await registrationBody(a1), a1.signer)
    const ops = await audit.ops()
    const reducer = auditDomain.createReducer(ops[0]!)
    for (const op of ops.slice(1)) reducer.apply(op)
    const hash = auditDomain.stateHash(reducer.state())
    const sign = (signer: ReturnType<typeof testSigner>, deps: OpId[], type: string, body = {}) =>
      signOp(
        {
          v: 1,
          doc: audit.id,
          author: signer.publicKey,
          seq: audit.ledger.log.lastSeq(audit.id, signer.publicKey) + 1,
          deps,
          time: audit.time + 1000,
          type,
          body,
        },
        signer,
      )

    const stranger = sign(testSigner(77), [registered.id], 'audit.close')
    expect(reducer.judge(stranger)).toMatchObject({ name: 'AuditPermissionError', tieBreak: false })
    const latePhase = sign(audit.admin, [registered.id], 'audit.item.add', { description: 'X' })
    expect(reducer.judge(latePhase)).toMatchObject({ name: 'AuditOpRefusedError', tieBreak: false })
    // The same key registering again without seeing its first registration: a tie-break.
    const twin = sign(a1.signer, [open.id], 'audit.register', await registrationBody(a1))
    expect(reducer.judge(twin)).toMatchObject({ name: 'AuditOpRefusedError', tieBreak: true })
    // Having seen it, the second registration is refused on its own past.
    const again = sign(a1.signer, [registered.id], 'audit.register', await registrationBody(a1))
    expect(reducer.judge(again)).toMatchObject({ tieBreak: false })
    const a2 = testAuditor(2)
    const fine = sign(a2.signer, [registered.id], 'audit.register', await registrationBody(a2))
    expect(reducer.judge(fine)).toBeUndefined()

    expect([reducer.size, reducer.tieBreaks]).toEqual([ops.length, 0])
    expect(auditDomain.stateHash(reducer.state())).toBe(hash)
  })

  test('the verdict of an applied op is the note it was refused or excluded with', async () => {
    const audit = await AuditFixture.create({})
    const good = await audit.act('audit.item.add', { description: 'Light 1' })
    await audit.act('audit.open')
    const late = await audit.act('audit.item.add', { description: 'too late' })
    const ops = await audit.ops()
    const reducer = auditDomain.createReducer(ops[0]!)
    for (const op of ops.slice(1)) reducer.apply(op)
    expect(reducer.verdict(good.id)).toBeUndefined()
    expect(reducer.verdict(late.id)).toEqual(reducer.state().rejected[0])
    expect(reducer.verdict(late.id)?.name).toBe('AuditOpRefusedError')
  })

  test('an op whose type names a member of every object ("constructor") is no audit op', async () => {
    const audit = await AuditFixture.create({})
    const odd = await audit.act('constructor', {})
    const state = await audit.state()
    expect(state.rejected).toEqual([
      expect.objectContaining({ id: odd.id, name: 'InvalidAuditInputError' }),
    ])
    expect(state.rejected[0]!.message).toContain('"constructor" is not an audit op')
    const draft = { author: audit.admin.publicKey, type: 'constructor', body: {}, time: 0 }
    expect(() => state.check(draft)).toThrow('"constructor" is not an audit op')
  })
})
