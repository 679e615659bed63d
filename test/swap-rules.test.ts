import { describe, expect, test } from 'vitest'
import {
  createSwapBookReducer,
  type SwapBookReducer,
  type SwapBookState,
  type SwapBookSummary,
  swapDomain,
} from '../src/core/swap/domain.ts'
import { shortPeerId } from '../src/core/swap/machine.ts'
import { MAX_PEER_ID, SWAP_OP } from '../src/core/swap/ops.ts'
import type { Signer } from '../src/ledger/keys.ts'
import type { Ledger } from '../src/ledger/ledger.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { createDocIndex, type DocIndex } from '../src/node/doc-index.ts'
import { makeOp, memoryLedger, testSigner } from './helpers.ts'

// The rules of a chequebook binding on its own causal past: a strict genesis, the owner's
// changes, retirement, and concurrent changes settled by the log's order.

const OWNER = testSigner(1)
const STRANGER = testSigner(2)
const T0 = 1_800_000_000_000
// A real Ed25519 peer id, and the same peer as a CIDv1 (base32), as @libp2p/peer-id prints them.
const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const PEER_CID = 'bafzaajaiaejcal72gwuz2or47oyxxn6b3rkwdmmkrxgkjxzy3rqt5kczyn7lcm3l'
// Anvil's first accounts, checksummed (EIP-55).
const CHEQUEBOOK = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
const BENEFICIARY = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
const OTHER = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'
const lower = (a: string) => a.toLowerCase()

const keyOf = (signer: Signer) => Buffer.from(signer.publicKey).toString('hex')

function book(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    peerId: PEER,
    chainId: 31337,
    chequebook: CHEQUEBOOK,
    beneficiary: BENEFICIARY,
    mode: 'hard',
    ...overrides,
  }
}

/** One binding's ops, applied to a reducer as they are made. */
class BookDoc {
  readonly ops: EncodedOp[] = []
  readonly reducer: SwapBookReducer
  readonly id: OpId
  private readonly seqs = new Map<string, number>()

  constructor(body: unknown = book()) {
    const genesis = makeOp(OWNER, {
      doc: null,
      seq: 1,
      deps: [],
      type: SWAP_OP.book,
      body,
      time: T0,
    })
    this.ops.push(genesis)
    this.id = genesis.id
    this.reducer = createSwapBookReducer(genesis)
    this.seqs.set(keyOf(OWNER), 1)
  }

  heads(): OpId[] {
    const cited = new Set(this.ops.flatMap((o) => o.op.deps))
    return this.ops.filter((o) => !cited.has(o.id)).map((o) => o.id)
  }

  /** Signs an op (not applied); `deps` default: the heads. */
  make(signer: Signer, type: string, body: unknown, deps?: OpId[]): EncodedOp {
    const key = keyOf(signer)
    const seq = (this.seqs.get(key) ?? 0) + 1
    this.seqs.set(key, seq)
    return makeOp(signer, { doc: this.id, seq, deps: deps ?? this.heads(), type, body, time: T0 })
  }

  /** Makes and applies an op; answers it. */
  add(signer: Signer, type: string, body: unknown, deps?: OpId[]): EncodedOp {
    const op = this.make(signer, type, body, deps)
    this.apply(op)
    return op
  }

  apply(op: EncodedOp): void {
    this.ops.push(op)
    this.reducer.apply(op)
  }
}

const genesisError = (body: unknown) => {
  try {
    new BookDoc(body)
  } catch (error) {
    return error as Error & { name: string; shortMessage: string; kind: string }
  }
  return undefined
}

describe('swap.book', () => {
  test('a valid binding opens with lowercase addresses and a default name from the peer id', () => {
    const doc = new BookDoc()
    expect(doc.reducer.state()).toEqual({
      id: doc.id,
      name: '…weQAJU5SA',
      owner: keyOf(OWNER),
      peerId: PEER,
      chainId: 31337,
      chequebook: lower(CHEQUEBOOK),
      beneficiary: lower(BENEFICIARY),
      mode: 'hard',
      state: 'open',
      changes: 0,
    })
    expect(swapDomain.summary(doc.reducer)).toEqual({
      name: '…weQAJU5SA',
      state: 'open',
      peerId: PEER,
      mode: 'hard',
    })
    expect(doc.reducer.orderSensitive).toBe(false)
  })

  test('a lowercase address and a checksummed one are the same binding', () => {
    const a = new BookDoc(book({ chequebook: lower(CHEQUEBOOK), name: 'node a' }))
    const b = new BookDoc(book({ beneficiary: lower(BENEFICIARY), name: 'node a' }))
    const { id: _a, ...stateA } = a.reducer.state()
    const { id: _b, ...stateB } = b.reducer.state()
    expect(stateA).toEqual(stateB)
    expect(stateA.name).toBe('node a')
  })

  test('the domain names its genesis first among its op types', () => {
    expect(swapDomain.name).toBe('swap')
    expect(swapDomain.genesisType).toBe('swap.book')
    expect(swapDomain.opTypes.map((t) => t.type)).toEqual([
      'swap.book',
      'swap.update',
      'swap.retire',
    ])
    const notFound = swapDomain.notFound('nope')
    expect(notFound.name).toBe('SwapNotFoundError')
    expect(notFound.kind).toBe('not-found')
    const ambiguous = swapDomain.ambiguous('x', ['a' as OpId, 'b' as OpId])
    expect(ambiguous.name).toBe('SwapRefusedError')
    expect(ambiguous.message).toMatch(/2 chequebook bindings are named "x".*\(a, b\)/)
  })

  test('the bounds themselves, a CID peer id and mock mode are accepted', () => {
    const longest = `12D3KooW${'z'.repeat(MAX_PEER_ID - 8)}`
    const doc = new BookDoc(
      book({
        peerId: longest,
        name: 'n'.repeat(80),
        chainId: Number.MAX_SAFE_INTEGER,
        mode: 'mock',
      }),
    )
    expect(doc.reducer.state()).toMatchObject({
      peerId: longest,
      name: 'n'.repeat(80),
      chainId: Number.MAX_SAFE_INTEGER,
      mode: 'mock',
    })
    const cid = new BookDoc(book({ peerId: PEER_CID, chainId: 1 }))
    expect(swapDomain.summary(cid.reducer)).toMatchObject({ peerId: PEER_CID, name: '…zyn7lcm3l' })
  })

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['an empty peer id', { peerId: '' }, /"peerId" must have 1 to 128/],
    [
      'a peer id of 129 characters',
      { peerId: `12D3KooW${'z'.repeat(121)}` },
      /"peerId" must have 1 to 128/,
    ],
    [
      'a peer id with "0" (not base58btc)',
      { peerId: PEER.replace('D3', '0D') },
      /"peerId" must be a libp2p peer id/,
    ],
    [
      'a peer id with "l" (not base58btc)',
      { peerId: `${PEER.slice(0, -1)}l` },
      /"peerId" must be a libp2p peer id/,
    ],
    ['a peer id with a slash', { peerId: `/p2p/${PEER}` }, /"peerId" must be a libp2p peer id/],
    ['a peer id with a space', { peerId: `${PEER} ` }, /"peerId" must be a libp2p peer id/],
    ['a peer id with a line break', { peerId: `${PEER}\n` }, /"peerId" must be a libp2p peer id/],
    ['a multiaddr', { peerId: '/ip4/127.0.0.1/tcp/9001' }, /"peerId"/],
    ['a peer id that is no string', { peerId: 12 }, /"peerId"/],
    ['chain id 0', { chainId: 0 }, /"chainId" must be at least 1/],
    ['a negative chain id', { chainId: -1 }, /"chainId" must be at least 1/],
    ['a fractional chain id', { chainId: 1.5 }, /"chainId" must be an integer/],
    ['a chain id as text', { chainId: '1' }, /"chainId"/],
    ['a chain id past 2^53', { chainId: 2 ** 53 }, /"chainId"/],
    [
      'a chequebook with a broken checksum',
      { chequebook: CHEQUEBOOK.replace('Fb', 'fB') },
      /"chequebook" .*EIP-55/,
    ],
    [
      'the zero chequebook',
      { chequebook: `0x${'0'.repeat(40)}` },
      /"chequebook" must be a non-zero/,
    ],
    ['a short chequebook', { chequebook: CHEQUEBOOK.slice(0, 41) }, /"chequebook"/],
    ['a chequebook without 0x', { chequebook: CHEQUEBOOK.slice(2) }, /"chequebook"/],
    [
      'a beneficiary with a broken checksum',
      { beneficiary: BENEFICIARY.replace('C8', 'c8') },
      /"beneficiary" .*EIP-55/,
    ],
    [
      'an upper-case beneficiary',
      { beneficiary: `0x${BENEFICIARY.slice(2).toUpperCase()}` },
      /"beneficiary"/,
    ],
    ['a beneficiary that is no string', { beneficiary: 1 }, /"beneficiary"/],
    ['mode "soft" (no cheques to bind)', { mode: 'soft' }, /"mode" must be one of "mock", "hard"/],
    ['mode "off"', { mode: 'off' }, /"mode" must be one of/],
    ['an upper-case mode', { mode: 'HARD' }, /"mode" must be one of/],
    ['an empty name', { name: '' }, /"name" must have 1 to 80/],
    ['a name of 81 characters', { name: 'n'.repeat(81) }, /"name" must have 1 to 80/],
    ['a name with a line break', { name: 'a\nb' }, /"name" must not .*control/],
    ['a name with an escape sequence', { name: 'a\u001b[2J' }, /"name" must not .*control/],
    ['a name with leading spaces', { name: ' node' }, /"name" must not start or end/],
    ['a null name', { name: null }, /"name"/],
    ['an unknown field', { owner: 'me' }, /unrecognized key/i],
  ]

  test.each(bad)('refuses %s', (_, overrides, message) => {
    const error = genesisError(book(overrides))
    expect(error?.name).toBe('InvalidSwapInputError')
    expect(error?.kind).toBe('invalid')
    expect(error?.shortMessage).toMatch(/^swap\.book: /)
    expect(error?.shortMessage).toMatch(message)
  })

  test('refuses a body that is no object, or misses a field', () => {
    for (const body of [null, [], 'book', 42]) {
      expect(genesisError(body)?.shortMessage).toMatch(/^swap\.book: the body /)
    }
    for (const field of ['peerId', 'chainId', 'chequebook', 'beneficiary', 'mode']) {
      const { [field]: _, ...missing } = book()
      expect(genesisError(missing)?.shortMessage).toMatch(new RegExp(`^swap\\.book: "${field}"`))
    }
  })

  test('refuses a genesis of another type', () => {
    const genesis = makeOp(OWNER, {
      doc: null,
      seq: 1,
      deps: [],
      type: 'channel.create',
      body: book(),
    })
    expect(() => createSwapBookReducer(genesis)).toThrow(
      /starts with "swap.book", not "channel.create"/,
    )
  })
})

describe('shortPeerId', () => {
  test('keeps the end of a long peer id, and a short one whole', () => {
    expect(shortPeerId(PEER)).toBe('…weQAJU5SA')
    expect(shortPeerId('QmShort')).toBe('QmShort')
  })
})

describe('swap.update', () => {
  test('the owner replaces the fields it gives and keeps the others', () => {
    const doc = new BookDoc()
    const op = doc.add(OWNER, SWAP_OP.update, { beneficiary: OTHER })
    expect(doc.reducer.verdict(op.id)).toBeUndefined()
    expect(doc.reducer.state()).toMatchObject({
      beneficiary: lower(OTHER),
      chequebook: lower(CHEQUEBOOK),
      mode: 'hard',
      changes: 1,
    })
    doc.add(OWNER, SWAP_OP.update, { chequebook: OTHER, mode: 'mock' })
    expect(doc.reducer.state()).toMatchObject({
      beneficiary: lower(OTHER),
      chequebook: lower(OTHER),
      mode: 'mock',
      changes: 2,
      peerId: PEER,
      chainId: 31337,
    })
    expect(swapDomain.summary(doc.reducer).mode).toBe('mock')
  })

  test("a stranger's update is refused outright and changes nothing", () => {
    const doc = new BookDoc()
    const before = swapDomain.stateHash(doc.reducer.state())
    const op = doc.make(STRANGER, SWAP_OP.update, { beneficiary: OTHER })
    const judgement = doc.reducer.judge(op)
    expect(judgement?.name).toBe('SwapForbiddenError')
    expect(judgement?.tieBreak).toBe(false)
    doc.apply(op)
    expect(doc.reducer.verdict(op.id)?.message).toMatch(
      /Only the owner of binding "…weQAJU5SA" may swap.update/,
    )
    expect(swapDomain.stateHash(doc.reducer.state())).toBe(before)
    expect(doc.reducer.state().beneficiary).toBe(lower(BENEFICIARY))
  })

  const badUpdates: [string, unknown, RegExp][] = [
    ['an empty update', {}, /the body must change at least one of beneficiary, chequebook, mode/],
    ['a new peer id (fixed by the genesis)', { peerId: PEER_CID }, /unrecognized key/i],
    ['a new chain (fixed by the genesis)', { chainId: 1 }, /unrecognized key/i],
    ['a new name (fixed by the genesis)', { name: 'other' }, /unrecognized key/i],
    ['a bad beneficiary', { beneficiary: '0x1234' }, /"beneficiary"/],
    [
      'the zero chequebook',
      { chequebook: `0x${'0'.repeat(40)}` },
      /"chequebook" must be a non-zero/,
    ],
    ['a bad mode', { mode: 'soft' }, /"mode" must be one of/],
    ['a body that is no object', 'mode', /the body/],
  ]

  test.each(badUpdates)('refuses %s', (_, body, message) => {
    const doc = new BookDoc()
    const op = doc.make(OWNER, SWAP_OP.update, body)
    const judgement = doc.reducer.judge(op)
    expect(judgement?.name).toBe('InvalidSwapInputError')
    expect(judgement?.tieBreak).toBe(false)
    expect(judgement?.message).toMatch(/^swap\.update: /)
    expect(judgement?.message).toMatch(message)
    doc.apply(op)
    expect(doc.reducer.state().changes).toBe(0)
  })

  test('a draft that breaks a rule is refused before it is signed', () => {
    const doc = new BookDoc()
    const draft = (author: Signer, body: unknown) => () =>
      doc.reducer.check({ author: author.publicKey, type: SWAP_OP.update, body, time: T0 })
    expect(draft(STRANGER, { mode: 'mock' })).toThrow(/Only the owner/)
    expect(draft(OWNER, { mode: 'soft' })).toThrow(/"mode" must be one of/)
    expect(draft(OWNER, { mode: 'mock' })).not.toThrow()
  })

  test('a second swap.book and an unknown op type are refused', () => {
    const doc = new BookDoc()
    const again = doc.make(OWNER, SWAP_OP.book, book())
    expect(doc.reducer.judge(again)?.name).toBe('SwapRefusedError')
    expect(doc.reducer.judge(again)?.message).toMatch(/has its "swap.book" already/)
    const unknown = doc.make(OWNER, 'swap.cash', {})
    expect(doc.reducer.judge(unknown)?.name).toBe('InvalidSwapInputError')
    expect(doc.reducer.judge(unknown)?.message).toMatch(/"swap.cash" is not a swap op/)
  })
})

describe('swap.retire', () => {
  test('the owner retires the binding; no later change counts', () => {
    const doc = new BookDoc(book({ name: 'node a' }))
    const retire = doc.add(OWNER, SWAP_OP.retire, {})
    expect(doc.reducer.verdict(retire.id)).toBeUndefined()
    expect(doc.reducer.retired).toBe(true)
    expect(swapDomain.summary(doc.reducer)).toEqual({
      name: 'node a',
      state: 'retired',
      peerId: PEER,
      mode: 'hard',
    })
    const hash = swapDomain.stateHash(doc.reducer.state())
    for (const [type, body] of [
      [SWAP_OP.update, { mode: 'mock' }],
      [SWAP_OP.retire, {}],
    ] as const) {
      const op = doc.make(OWNER, type, body)
      const judgement = doc.reducer.judge(op)
      expect(judgement?.name).toBe('SwapRefusedError')
      expect(judgement?.message).toMatch(/Binding "node a" is retired/)
      // Refused whatever else arrives: a ledger refuses it at ingest.
      expect(judgement?.tieBreak).toBe(false)
      doc.apply(op)
      expect(doc.reducer.verdict(op.id)?.name).toBe('SwapRefusedError')
    }
    expect(swapDomain.stateHash(doc.reducer.state())).toBe(hash)
    expect(doc.reducer.state()).toMatchObject({ state: 'retired', mode: 'hard', changes: 1 })
  })

  test("a stranger's retire and a retire with a body are refused", () => {
    const doc = new BookDoc()
    expect(doc.reducer.judge(doc.make(STRANGER, SWAP_OP.retire, {}))?.name).toBe(
      'SwapForbiddenError',
    )
    expect(doc.reducer.judge(doc.make(OWNER, SWAP_OP.retire, { reason: 'x' }))?.name).toBe(
      'InvalidSwapInputError',
    )
    expect(doc.reducer.retired).toBe(false)
  })
})

/** Every order of `ops` in which each op comes after those of its deps that are among them. */
function topologicalOrders(ops: readonly EncodedOp[]): EncodedOp[][] {
  if (ops.length === 0) return [[]]
  const ids = new Set(ops.map((o) => o.id))
  const ready = ops.filter((o) => !o.op.deps.some((d) => ids.has(d)))
  return ready.flatMap((first) =>
    topologicalOrders(ops.filter((o) => o !== first)).map((rest) => [first, ...rest]),
  )
}

type SwapIndex = DocIndex<SwapBookState, SwapBookReducer, SwapBookSummary>

async function openIndexed(): Promise<{ ledger: Ledger; index: SwapIndex }> {
  let index: SwapIndex | undefined
  const ledger = await memoryLedger({ admit: (doc, op) => index?.admit(doc, op) })
  index = createDocIndex(ledger, swapDomain)
  await index.start()
  return { ledger, index }
}

describe('concurrent changes of the owner', () => {
  /** Genesis; updates a, b and a retire r made on it concurrently; d made after a only. */
  function concurrentHistory() {
    const doc = new BookDoc()
    const base = doc.heads()
    const a = doc.make(OWNER, SWAP_OP.update, { beneficiary: OTHER }, base)
    const b = doc.make(OWNER, SWAP_OP.update, { chequebook: OTHER, mode: 'mock' }, base)
    const r = doc.make(OWNER, SWAP_OP.retire, {}, base)
    const d = doc.make(OWNER, SWAP_OP.update, { mode: 'mock' }, [a.id])
    return { genesis: doc.ops[0]!, a, b, r, d }
  }

  test('the first applied counts; the other loses a tie-break and says so', () => {
    const { genesis, a, b } = concurrentHistory()
    const reducer = createSwapBookReducer(genesis)
    reducer.apply(a)
    const judgement = reducer.judge(b)
    expect(judgement?.name).toBe('SwapRefusedError')
    expect(judgement?.tieBreak).toBe(true)
    reducer.apply(b)
    expect(reducer.tieBreaks).toBe(1)
    expect(reducer.orderSensitive).toBe(true)
    expect(reducer.verdict(b.id)?.message).toMatch(/made concurrently/)
    expect(reducer.state()).toMatchObject({
      beneficiary: lower(OTHER),
      chequebook: lower(CHEQUEBOOK),
      mode: 'hard',
      changes: 1,
    })
  })

  test('every apply order gives one canonical state, and its hash, on every node', async () => {
    const { genesis, a, b, r, d } = concurrentHistory()
    const orders = topologicalOrders([a, b, r, d])
    expect(orders).toHaveLength(12)
    const hashes = new Set<string>()
    const arrivalHashes = new Set<string>()
    let logOrder: OpId[] | undefined
    for (const order of orders) {
      const { ledger, index } = await openIndexed()
      for (const op of [genesis, ...order]) {
        const [result] = await ledger.ingest([op.bytes])
        expect(result?.ok).toBe(true)
      }
      // A reducer fed in arrival order, before the node puts it in the log's order.
      const arrival = createSwapBookReducer(genesis)
      for (const op of order) arrival.apply(op)
      arrivalHashes.add(swapDomain.stateHash(arrival.state()))
      hashes.add(await index.stateHash(genesis.id))
      logOrder ??= ledger.log.order(genesis.id)
      expect(ledger.log.order(genesis.id)).toEqual(logOrder)
      index.stop()
      await ledger.close()
    }
    // Arrival order alone would disagree between nodes; the log's order settles it.
    expect(arrivalHashes.size).toBeGreaterThan(1)
    expect(hashes.size).toBe(1)
    // The counted change is the first of a, b, r in the log's order (d only follows a).
    const byId = new Map([a, b, r, d].map((op) => [op.id, op]))
    const inLog = logOrder!.flatMap((id) => byId.get(id) ?? [])
    const canonical = createSwapBookReducer(genesis)
    for (const op of inLog) canonical.apply(op)
    expect(hashes).toEqual(new Set([swapDomain.stateHash(canonical.state())]))
    const first = inLog.find((op) => op !== d)!
    expect(canonical.verdict(first.id)).toBeUndefined()
    for (const op of [a, b, r].filter((op) => op !== first))
      expect(canonical.verdict(op.id)?.name).toBe('SwapRefusedError')
    // d saw a: it counts exactly when a did.
    expect(canonical.verdict(d.id)?.name).toBe(first === a ? undefined : 'SwapRefusedError')
    expect(canonical.state().changes).toBe(first === a ? 2 : 1)
  })

  test('a node refuses at ingest what no order could accept', async () => {
    const doc = new BookDoc()
    const { ledger, index } = await openIndexed()
    await ledger.ingest([doc.ops[0]!.bytes])
    const stranger = doc.make(STRANGER, SWAP_OP.update, { mode: 'mock' })
    const retire = doc.make(OWNER, SWAP_OP.retire, {})
    const late = doc.make(OWNER, SWAP_OP.update, { mode: 'mock' }, [retire.id])
    const [refused] = await ledger.ingest([stranger.bytes])
    expect(refused?.ok).toBe(false)
    const [retired, after] = await ledger.ingest([retire.bytes, late.bytes])
    expect(retired?.ok).toBe(true)
    expect(after?.ok).toBe(false)
    expect(await index.state(doc.id)).toMatchObject({ state: 'retired', mode: 'hard' })
    expect(index.resolve('…weQAJU5SA')).toBe(doc.id)
    index.stop()
    await ledger.close()
  })
})
