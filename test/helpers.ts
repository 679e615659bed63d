import { type Signer, signerFromSeed } from '../src/ledger/keys.ts'
import { type Ledger, openLedger } from '../src/ledger/ledger.ts'
import type { EncodedOp, Op } from '../src/ledger/op.ts'
import { signOp } from '../src/ledger/op-encode.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { memoryStore } from '../src/store/memory-store.ts'

/** A deterministic signer: seed bytes all equal to `n`. */
export function testSigner(n: number): Signer {
  return signerFromSeed(new Uint8Array(32).fill(n))
}

/** Signs an op with explicit fields (for building ops a ledger would not, e.g. forks). */
export function makeOp(
  signer: Signer,
  fields: {
    doc: OpId | null
    seq: number
    deps: OpId[]
    type?: string
    body?: unknown
    time?: number
  },
): EncodedOp {
  const op: Op = {
    v: 1,
    doc: fields.doc,
    author: signer.publicKey,
    seq: fields.seq,
    deps: fields.deps,
    time: fields.time ?? 0,
    type: fields.type ?? 'test.op',
    body: 'body' in fields ? fields.body : {},
  }
  return signOp(op, signer)
}

/** Builds a genesis op. */
export function makeGenesis(signer: Signer, body: unknown = { name: 'test' }): EncodedOp {
  return makeOp(signer, { doc: null, seq: 1, deps: [], type: 'test.create', body })
}

/** A ledger on a memory store. */
export function memoryLedger(
  options: Partial<Parameters<typeof openLedger>[0]> = {},
): Promise<Ledger> {
  return openLedger({ store: memoryStore(), ...options })
}

/** Ingests ops and returns the one result each, throwing on unexpected rejections. */
export async function ingestOne(ledger: Ledger, op: EncodedOp | Uint8Array) {
  const [result] = await ledger.ingest([op instanceof Uint8Array ? op : op.bytes])
  return result!
}

/** A valid audit genesis (a node admits it): the smallest audit a test can spam or build on. */
export function makeAuditGenesis(signer: Signer, name = 'test'): EncodedOp {
  return makeOp(signer, {
    doc: null,
    seq: 1,
    deps: [],
    type: 'audit.create',
    body: { name, bond: '1' },
  })
}

/** A merge op (valid in any document whose deps it names): a test's cheap valid op. */
export function makeMerge(
  signer: Signer,
  fields: { doc: OpId; seq: number; deps: OpId[]; time?: number },
): EncodedOp {
  return makeOp(signer, { ...fields, type: 'merge', body: null })
}
