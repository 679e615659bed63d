import { createHash, createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import * as dagCbor from '@ipld/dag-cbor'
import { CID } from 'multiformats/cid'
import { describe, expect, test } from 'vitest'
import { signerFromSeed } from '../src/ledger/keys.ts'
import type { Op } from '../src/ledger/op.ts'
import { decodeOp } from '../src/ledger/op-decode.ts'
import { getOpId, signOp, verifyOp } from '../src/ledger/op-encode.ts'
import type { OpId } from '../src/ledger/op-id.ts'

// The worked example of docs/op-format.md §9, pasted from the output of the reference code.
const SEED_HEX = '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'
const AUTHOR_HEX = '03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8'

type Vector = {
  readonly name: string
  readonly fields: {
    readonly doc: string | null
    readonly seq: number
    readonly deps: readonly string[]
    readonly time: number
    readonly type: string
    readonly body: unknown
  }
  readonly unsignedHex: string
  readonly idHex: string
  readonly id: string
  readonly sigHex: string
  readonly signedHex: string
}

const GENESIS_ID = 'bafyreickiqozzkiwimfirhmevq64gthmcsu3dj3xmtl4h4b227v66uxszm'

const VECTORS: readonly Vector[] = [
  {
    name: 'genesis',
    fields: {
      doc: null,
      seq: 1,
      deps: [],
      time: 1_700_000_000_000,
      type: 'audit.create',
      body: { name: 'street-lights' },
    },
    unsignedHex:
      'a861760163646f63f6637365710164626f6479a1646e616d656d737472656574' +
      '2d6c69676874736464657073806474696d651b0000018bcfe568006474797065' +
      '6c61756469742e63726561746566617574686f72582003a107bff3ce10be1d70' +
      'dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8',
    idHex: '017112204a441d9ca916430a889d84ac3dc34cec14a9b1a77764d7c3f03ad7ebef52f2cb',
    id: GENESIS_ID,
    sigHex:
      'eff7140f9847a9647075dc15e5dba76322aa48c3ed798aa137ef99b6614f2d2c' +
      '5ffc8bfe52839b5b936c4053b9e8ba550fef68625871ab8fd4ee74f125f7fa0e',
    signedHex:
      'a961760163646f63f66373657101637369675840eff7140f9847a9647075dc15' +
      'e5dba76322aa48c3ed798aa137ef99b6614f2d2c5ffc8bfe52839b5b936c4053' +
      'b9e8ba550fef68625871ab8fd4ee74f125f7fa0e64626f6479a1646e616d656d' +
      '7374726565742d6c69676874736464657073806474696d651b0000018bcfe568' +
      '0064747970656c61756469742e63726561746566617574686f72582003a107bf' +
      'f3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8',
  },
  {
    name: 'second op',
    fields: {
      doc: GENESIS_ID,
      seq: 2,
      deps: [GENESIS_ID],
      time: 1_700_000_000_500,
      type: 'audit.item.add',
      body: { text: 'Is the street light on Main St working?', index: 3 },
    },
    unsignedHex:
      'a861760163646f63d82a582500017112204a441d9ca916430a889d84ac3dc34c' +
      'ec14a9b1a77764d7c3f03ad7ebef52f2cb637365710264626f6479a264746578' +
      '74782749732074686520737472656574206c69676874206f6e204d61696e2053' +
      '7420776f726b696e673f65696e64657803646465707381d82a58250001711220' +
      '4a441d9ca916430a889d84ac3dc34cec14a9b1a77764d7c3f03ad7ebef52f2cb' +
      '6474696d651b0000018bcfe569f464747970656e61756469742e6974656d2e61' +
      '646466617574686f72582003a107bff3ce10be1d70dd18e74bc09967e4d6309b' +
      'a50d5f1ddc8664125531b8',
    idHex: '017112202c82218e0e961c5501d8e67f6ef43382a1604fca73d8a150886056a4abe25868',
    id: 'bafyreibmqiqy4duwdrkqdwhgp5xpim4cufqe7stt3cqvbcdak2skxysyna',
    sigHex:
      'c02bde78aa2d6134758e0acee40d9eab525055dfc481e7b802dbcc6404fb0303' +
      '307d6ad24c3a008576e0f222ca47194665ba9b352f834efd41788a740d2d6500',
    signedHex:
      'a961760163646f63d82a582500017112204a441d9ca916430a889d84ac3dc34c' +
      'ec14a9b1a77764d7c3f03ad7ebef52f2cb6373657102637369675840c02bde78' +
      'aa2d6134758e0acee40d9eab525055dfc481e7b802dbcc6404fb0303307d6ad2' +
      '4c3a008576e0f222ca47194665ba9b352f834efd41788a740d2d650064626f64' +
      '79a26474657874782749732074686520737472656574206c69676874206f6e20' +
      '4d61696e20537420776f726b696e673f65696e64657803646465707381d82a58' +
      '2500017112204a441d9ca916430a889d84ac3dc34cec14a9b1a77764d7c3f03a' +
      'd7ebef52f2cb6474696d651b0000018bcfe569f464747970656e61756469742e' +
      '6974656d2e61646466617574686f72582003a107bff3ce10be1d70dd18e74bc0' +
      '9967e4d6309ba50d5f1ddc8664125531b8',
  },
]

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'))

/** An Ed25519 key from the spec's seed, built without src/ledger/keys.ts. */
function independentKey(seedHex: string): { privateKey: KeyObject; publicKey: Uint8Array } {
  const pkcs8 = Buffer.from(`302e020100300506032b657004220420${seedHex}`, 'hex')
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' })
  // The raw key is the last 32 bytes of the SPKI DER (RFC 8410).
  return { privateKey, publicKey: new Uint8Array(spki.subarray(spki.length - 32)) }
}

/** The op of §9 as the spec describes it, encoded with the generic DAG-CBOR and CID libraries only. */
function independentEncode(vector: Vector, key: ReturnType<typeof independentKey>) {
  const { doc, seq, deps, time, type, body } = vector.fields
  const unsignedValue = {
    v: 1,
    doc: doc === null ? null : CID.parse(doc),
    author: key.publicKey,
    seq,
    deps: deps.map((dep) => CID.parse(dep)),
    time,
    type,
    body,
  }
  const unsigned = dagCbor.encode(unsignedValue)
  const digest = createHash('sha256').update(unsigned).digest()
  const idBytes = new Uint8Array(Buffer.concat([Buffer.from([0x01, 0x71, 0x12, 0x20]), digest]))
  const id = CID.decode(idBytes).toString()
  const message = Buffer.concat([Buffer.from('rwa/op/v1', 'utf8'), idBytes])
  const sig = new Uint8Array(sign(null, message, key.privateKey))
  const signed = dagCbor.encode({ ...unsignedValue, sig })
  return { unsigned, idBytes, id, sig, signed }
}

function referenceOp(vector: Vector, author: Uint8Array): Op {
  const { doc, seq, deps, time, type, body } = vector.fields
  return { v: 1, doc: doc as OpId | null, author, seq, deps: deps as OpId[], time, type, body }
}

const key = independentKey(SEED_HEX)
const signer = signerFromSeed(Buffer.from(SEED_HEX, 'hex'))

describe('op format (docs/op-format.md)', () => {
  test('the seed 00..1f yields the documented author key, independently and via signerFromSeed', () => {
    expect(hex(key.publicKey)).toBe(AUTHOR_HEX)
    expect(hex(signer.publicKey)).toBe(AUTHOR_HEX)
  })

  test.each(VECTORS)(
    'an independent encoder produces the documented bytes and id ($name)',
    (vector) => {
      const out = independentEncode(vector, key)
      expect(hex(out.unsigned)).toBe(vector.unsignedHex)
      expect(hex(out.idBytes)).toBe(vector.idHex)
      expect(out.id).toBe(vector.id)
      expect(out.id).toHaveLength(59)
      expect(out.id.startsWith('bafyrei')).toBe(true)
      expect(hex(out.sig)).toBe(vector.sigHex)
      expect(hex(out.signed)).toBe(vector.signedHex)
    },
  )

  test.each(VECTORS)(
    'signOp and getOpId agree byte for byte with the independent encoder ($name)',
    (vector) => {
      const expected = independentEncode(vector, key)
      const op = referenceOp(vector, signer.publicKey)
      const signed = signOp(op, signer)
      expect(hex(signed.bytes)).toBe(hex(expected.signed))
      expect(hex(signed.idBytes)).toBe(hex(expected.idBytes))
      expect(signed.id).toBe(expected.id)
      expect(hex(signed.op.sig)).toBe(hex(expected.sig))
      expect(getOpId(op)).toBe(expected.id)
    },
  )

  test.each(VECTORS)(
    'decodeOp of the documented bytes yields the documented op, and its signature verifies ($name)',
    (vector) => {
      const decoded = decodeOp(fromHex(vector.signedHex))
      expect(decoded.id).toBe(vector.id)
      expect(hex(decoded.idBytes)).toBe(vector.idHex)
      expect(decoded.op).toEqual({
        ...referenceOp(vector, fromHex(AUTHOR_HEX)),
        sig: fromHex(vector.sigHex),
      })
      expect(getOpId(decoded.op)).toBe(vector.id)
      expect(verifyOp(decoded)).toBe(true)
    },
  )

  test.each(VECTORS)(
    'the unsigned encoding is the signed map with the sig entry removed ($name)',
    (vector) => {
      const signed = Buffer.from(vector.signedHex, 'hex')
      expect(Object.keys(dagCbor.decode(signed) as object)).toEqual([
        'v',
        'doc',
        'seq',
        'sig',
        'body',
        'deps',
        'time',
        'type',
        'author',
      ])
      // "sig" key (63 736967), byte-string head (58 40) and 64 signature bytes.
      const sigEntry = Buffer.from(`637369675840${vector.sigHex}`, 'hex')
      const at = signed.indexOf(sigEntry)
      expect(at).toBeGreaterThan(0)
      const unsigned = Buffer.concat([
        Buffer.from([0xa8]),
        signed.subarray(1, at),
        signed.subarray(at + sigEntry.length),
      ])
      expect(unsigned.toString('hex')).toBe(vector.unsignedHex)
    },
  )

  test('a signature over the documented message does not verify once the body changes', () => {
    const vector = VECTORS[1]!
    const tampered = Buffer.from(
      vector.signedHex.replace(
        Buffer.from('Main St').toString('hex'),
        Buffer.from('Elm St!').toString('hex'),
      ),
      'hex',
    )
    const decoded = decodeOp(tampered)
    expect(decoded.id).not.toBe(vector.id)
    expect(verifyOp(decoded)).toBe(false)
  })

  test('the document lists every vector verbatim', () => {
    const doc = readFileSync(new URL('../docs/op-format.md', import.meta.url), 'utf8').replace(
      /\s+/g,
      '',
    )
    for (const vector of VECTORS) {
      for (const value of [
        vector.unsignedHex,
        vector.idHex,
        vector.id,
        vector.sigHex,
        vector.signedHex,
      ]) {
        expect(doc).toContain(value)
      }
    }
    expect(doc).toContain(AUTHOR_HEX)
  })
})
