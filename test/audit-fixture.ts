import { privateKeyToAccount } from 'viem/accounts'
import { type Audit, loadAudit } from '../src/core/audit/reduce.ts'
import { identityMessage } from '../src/core/identity.ts'
import type { Signer } from '../src/ledger/keys.ts'
import type { Ledger } from '../src/ledger/ledger.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import { signOp } from '../src/ledger/op-encode.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { memoryLedger, testSigner } from './helpers.ts'

/** An auditor of the tests: an Ed25519 signer and the Ethereum account that receives its pay. */
export type TestAuditor = {
  signer: Signer
  key: string
  account: ReturnType<typeof privateKeyToAccount>
}

export function testAuditor(n: number): TestAuditor {
  const signer = testSigner(100 + n)
  const account = privateKeyToAccount(`0x${(n + 1).toString(16).padStart(64, '0')}`)
  return { signer, key: Buffer.from(signer.publicKey).toString('hex'), account }
}

/** Signs the EIP-191 proof that binds an auditor's payout address to its Ed25519 key. */
export function registrationBody(auditor: TestAuditor): Promise<{ payout: string; proof: string }> {
  return auditor.account
    .signMessage({ message: identityMessage(auditor.signer.publicKey) })
    .then((proof) => ({ payout: auditor.account.address, proof }))
}

/** A running audit on a memory ledger, with helpers to act as admin or auditor. */
export class AuditFixture {
  readonly admin = testSigner(1)
  time = 1_700_000_000_000
  constructor(
    readonly ledger: Ledger,
    readonly id: OpId,
  ) {}

  static async create(body: Record<string, unknown>): Promise<AuditFixture> {
    const ledger = await memoryLedger()
    const admin = testSigner(1)
    const genesis = await ledger.append(admin, {
      doc: null,
      type: 'audit.create',
      body: { name: 'Downtown Street Lights', bond: '1000', ...body },
      time: 1_700_000_000_000,
    })
    return new AuditFixture(ledger, genesis.id)
  }

  /** Appends an op signed by `signer` (the admin by default), built on the current heads. */
  act(
    type: string,
    body: Record<string, unknown> = {},
    signer: Signer = this.admin,
  ): Promise<EncodedOp> {
    this.time += 1000
    return this.ledger.append(signer, { doc: this.id, type, body, time: this.time })
  }

  /** Appends an op with explicit deps (to make it concurrent with later ops), via ingest. */
  async actOn(
    deps: OpId[],
    type: string,
    body: Record<string, unknown> = {},
    signer: Signer = this.admin,
  ): Promise<EncodedOp> {
    this.time += 1000
    const seq = this.ledger.log.lastSeq(this.id, signer.publicKey) + 1
    const op = signOp(
      { v: 1, doc: this.id, author: signer.publicKey, seq, deps, time: this.time, type, body },
      signer,
    )
    const [result] = await this.ledger.ingest([op.bytes])
    if (!result?.ok) throw result?.error ?? new Error('ingest failed')
    return op
  }

  heads(): OpId[] {
    return this.ledger.log.heads(this.id)
  }

  async ops(): Promise<EncodedOp[]> {
    return (await this.ledger.getOps(this.id, this.ledger.log.order(this.id))) as EncodedOp[]
  }

  async state(): Promise<Audit> {
    return loadAudit(await this.ops())
  }

  /** Adds items, registers auditors, closes and starts. */
  async runToAuditing({
    items,
    auditors,
  }: {
    items: string[]
    auditors: TestAuditor[]
  }): Promise<Audit> {
    for (const description of items) await this.act('audit.item.add', { description })
    await this.act('audit.open')
    for (const auditor of auditors)
      await this.act('audit.register', await registrationBody(auditor), auditor.signer)
    await this.act('audit.close')
    await this.act('audit.start')
    return this.state()
  }

  /** Answers every open inspection of `auditor` with `answer(itemDescription)`. */
  async answerAll(auditor: TestAuditor, answer: (description: string) => boolean): Promise<void> {
    const state = await this.state()
    for (const inspection of state.inspections.filter(
      (i) => i.auditor === auditor.key && i.status === 'outstanding',
    )) {
      const description = state.items.find((item) => item.id === inspection.item)!.description
      await this.act(
        'audit.answer',
        { item: inspection.item, answer: answer(description) },
        auditor.signer,
      )
    }
  }
}
