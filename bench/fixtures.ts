import { generateKeyPairSync, verify } from 'node:crypto'
import { createPublicKeyCache, type Signer, signerFromPrivateKey } from '../src/ledger/keys.ts'
import { type Ledger, openLedger } from '../src/ledger/ledger.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import { decodeOp } from '../src/ledger/op-decode.ts'
import { signingMessage } from '../src/ledger/op-encode.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { memoryStore } from '../src/store/memory-store.ts'

/** Creates `count` fresh Ed25519 signers. */
export function makeSigners(count: number): Signer[] {
  return Array.from({ length: count }, () =>
    signerFromPrivateKey(generateKeyPairSync('ed25519').privateKey),
  )
}

/**
 * Builds a realistic stream of signed answers: `docs` documents, each created by the first signer,
 * then ops from round-robin authors, each depending on its document's heads. Returned in creation
 * order (a valid delivery order for a peer).
 */
export async function makeOpStream({
  count,
  authors = 8,
  docs = 1,
  ledger,
}: {
  count: number
  authors?: number
  docs?: number
  ledger?: Ledger
}): Promise<EncodedOp[]> {
  const signers = makeSigners(authors)
  const source = ledger ?? (await openLedger({ store: memoryStore() }))
  const out: EncodedOp[] = []
  const docIds: OpId[] = []
  for (let d = 0; d < docs && out.length < count; d++) {
    const genesis = await source.append(signers[0]!, {
      doc: null,
      type: 'bench.create',
      body: { n: d },
      time: 0,
    })
    docIds.push(genesis.id)
    out.push(genesis)
  }
  for (let i = out.length; i < count; i++) {
    const doc = docIds[i % docIds.length]!
    const body = { item: i % 100, answer: i % 3 !== 0 }
    out.push(
      await source.append(signers[i % authors]!, {
        doc,
        type: 'audit.vote',
        body,
        time: 1_763_720_000_000 + i,
      }),
    )
  }
  if (!ledger) await source.close()
  return out
}

/**
 * Raw node:crypto Ed25519 verifies per second on one core over these ops' signatures, keys
 * parsed once (what ledger.verify_raw measures): the best of `rounds` after a warm-up.
 */
export function rawVerifyRate(ops: readonly Uint8Array[], rounds = 3): number {
  const keys = createPublicKeyCache()
  const items = ops.map((bytes) => {
    const op = decodeOp(bytes)
    return { key: keys.get(op.op.author), message: signingMessage(op.idBytes), sig: op.op.sig }
  })
  for (const item of items.slice(0, 2000)) verify(null, item.message, item.key, item.sig)
  let best = 0
  for (let round = 0; round < rounds; round++) {
    const start = process.hrtime.bigint()
    let ok = 0
    for (const item of items) if (verify(null, item.message, item.key, item.sig)) ok++
    if (ok !== items.length) throw new Error('rawVerifyRate: a valid signature failed to verify')
    best = Math.max(best, items.length / (Number(process.hrtime.bigint() - start) / 1e9))
  }
  return best
}
