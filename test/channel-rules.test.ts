import { describe, expect, test } from 'vitest'
import {
  type ChannelReducer,
  type ChannelState,
  type ChannelSummary,
  channelDomain,
  createChannelReducer,
} from '../src/core/channel/domain.ts'
import { CHANNEL_OP, MAX_PRICE, MAX_PRICES } from '../src/core/channel/ops.ts'
import type { Signer } from '../src/ledger/keys.ts'
import type { Ledger } from '../src/ledger/ledger.ts'
import type { EncodedOp } from '../src/ledger/op.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { createDocIndex, type DocIndex } from '../src/node/doc-index.ts'
import { makeOp, memoryLedger, testSigner } from './helpers.ts'

// The rules of a service offer on its own causal past: a strict genesis, the operator's changes,
// retirement, and concurrent changes settled by the log's order.

const OPERATOR = testSigner(1)
const STRANGER = testSigner(2)
const T0 = 1_800_000_000_000
// Anvil's first accounts and the MPE's devnet address, checksummed (EIP-55).
const RECIPIENT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8'
const OTHER = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'
const ESCROW = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
const GROUP = `0x${'ab'.repeat(32)}`

const keyOf = (signer: Signer) => Buffer.from(signer.publicKey).toString('hex')

function offer(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'echo service',
    recipient: RECIPIENT,
    groupId: GROUP,
    escrow: ESCROW,
    chainId: 31337,
    expirationThreshold: 20,
    prices: [
      { route: 'GET /feed/*', price: '1' },
      { route: '* /call/echo/*', price: '10' },
    ],
    endpoint: 'http://127.0.0.1:8080',
    ...overrides,
  }
}

/** One offer's ops, applied to a reducer as they are made. */
class OfferDoc {
  readonly ops: EncodedOp[] = []
  readonly reducer: ChannelReducer
  readonly id: OpId
  private readonly seqs = new Map<string, number>()

  constructor(body: unknown = offer()) {
    const genesis = makeOp(OPERATOR, {
      doc: null,
      seq: 1,
      deps: [],
      type: CHANNEL_OP.create,
      body,
      time: T0,
    })
    this.ops.push(genesis)
    this.id = genesis.id
    this.reducer = createChannelReducer(genesis)
    this.seqs.set(keyOf(OPERATOR), 1)
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
    const op = makeOp(signer, {
      doc: this.id,
      seq,
      deps: deps ?? this.heads(),
      type,
      body,
      time: T0,
    })
    return op
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
    new OfferDoc(body)
  } catch (error) {
    return error as Error & { name: string; shortMessage: string }
  }
  return undefined
}

describe('channel.create', () => {
  test('a valid offer opens with canonical addresses, group id and bigint prices', () => {
    const doc = new OfferDoc(
      offer({
        recipient: RECIPIENT.toLowerCase(),
        groupId: GROUP.toUpperCase().replace('0X', '0x'),
      }),
    )
    const state = doc.reducer.state()
    expect(state).toEqual({
      id: doc.id,
      name: 'echo service',
      owner: keyOf(OPERATOR),
      state: 'open',
      escrow: ESCROW,
      chainId: 31337,
      recipient: RECIPIENT,
      groupId: GROUP,
      expirationThreshold: 20,
      prices: [
        { route: 'GET /feed/*', price: 1n },
        { route: '* /call/echo/*', price: 10n },
      ],
      endpoint: 'http://127.0.0.1:8080',
      changes: 0,
    })
    expect(channelDomain.summary(doc.reducer)).toEqual({
      name: 'echo service',
      state: 'open',
      routes: 2,
    })
    expect(doc.reducer.orderSensitive).toBe(false)
  })

  test('the domain names its genesis first among its op types', () => {
    expect(channelDomain.name).toBe('channel')
    expect(channelDomain.genesisType).toBe('channel.create')
    expect(channelDomain.opTypes.map((t) => t.type)).toEqual([
      'channel.create',
      'channel.update',
      'channel.retire',
    ])
    expect(channelDomain.notFound('nope').name).toBe('ChannelNotFoundError')
    expect(channelDomain.ambiguous('x', ['a' as OpId, 'b' as OpId]).message).toMatch(/2 service/)
  })

  test('the bounds themselves are accepted', () => {
    const prices = Array.from({ length: MAX_PRICES }, (_, i) => ({
      route: `GET /r/${i}`,
      price: i === 0 ? MAX_PRICE.toString() : '0',
    }))
    const doc = new OfferDoc(
      offer({
        name: 'n'.repeat(80),
        prices,
        expirationThreshold: 0,
        chainId: 1,
        endpoint: `https://example.org/${'p'.repeat(300 - 20)}`,
      }),
    )
    expect(doc.reducer.terms.prices).toHaveLength(64)
    expect(doc.reducer.terms.prices[0]!.price).toBe(2n ** 256n - 1n)
    const bare = offer({ prices: [] })
    delete bare.endpoint
    expect(new OfferDoc(bare).reducer.state().endpoint).toBeNull()
  })

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['an empty name', { name: '' }, /"name" must have 1 to 80/],
    ['a name of 81 characters', { name: 'n'.repeat(81) }, /"name" must have 1 to 80/],
    ['a name with a line break', { name: 'a\nb' }, /"name" must not .*control/],
    ['a name with leading spaces', { name: ' echo' }, /"name" must not start or end/],
    [
      'a recipient with a broken checksum',
      { recipient: RECIPIENT.replace('C8', 'c8') },
      /"recipient" .*EIP-55/,
    ],
    ['the zero recipient', { recipient: `0x${'0'.repeat(40)}` }, /"recipient" must be a non-zero/],
    ['a short recipient', { recipient: RECIPIENT.slice(0, 41) }, /"recipient"/],
    ['a recipient that is no string', { recipient: 1 }, /"recipient"/],
    [
      'an escrow with a broken checksum',
      { escrow: ESCROW.replace('Fb', 'fB') },
      /"escrow" .*EIP-55/,
    ],
    [
      'a group id of 31 bytes',
      { groupId: `0x${'ab'.repeat(31)}` },
      /"groupId" must be 0x and 64 hex/,
    ],
    ['a group id without 0x', { groupId: 'ab'.repeat(32) }, /"groupId"/],
    ['a group id with junk', { groupId: `0x${'ab'.repeat(31)}zz` }, /"groupId"/],
    ['chain id 0', { chainId: 0 }, /"chainId" must be at least 1/],
    ['a fractional chain id', { chainId: 1.5 }, /"chainId" must be an integer/],
    ['a chain id as text', { chainId: '1' }, /"chainId"/],
    [
      'a negative threshold',
      { expirationThreshold: -1 },
      /"expirationThreshold" must not be negative/,
    ],
    [
      'a fractional threshold',
      { expirationThreshold: 0.5 },
      /"expirationThreshold" must be an integer/,
    ],
    [
      'a price with a leading zero',
      { prices: [{ route: 'GET /a', price: '01' }] },
      /"prices.0.price" must be a decimal/,
    ],
    ['a negative price', { prices: [{ route: 'GET /a', price: '-1' }] }, /"prices.0.price"/],
    [
      'a price with a leading space',
      { prices: [{ route: 'GET /a', price: ' 1' }] },
      /"prices.0.price"/,
    ],
    [
      'a price in exponent form',
      { prices: [{ route: 'GET /a', price: '1e3' }] },
      /"prices.0.price"/,
    ],
    ['a hex price', { prices: [{ route: 'GET /a', price: '0x10' }] }, /"prices.0.price"/],
    ['a fractional price', { prices: [{ route: 'GET /a', price: '1.5' }] }, /"prices.0.price"/],
    [
      'a price over uint256',
      { prices: [{ route: 'GET /a', price: (MAX_PRICE + 1n).toString() }] },
      /"prices.0.price" must fit a uint256/,
    ],
    ['a price as a number', { prices: [{ route: 'GET /a', price: 1 }] }, /"prices.0.price"/],
    [
      'an empty route',
      { prices: [{ route: '', price: '1' }] },
      /"prices.0.route" must have 1 to 200/,
    ],
    [
      'a route of 201 characters',
      { prices: [{ route: `GET /${'a'.repeat(196)}`, price: '1' }] },
      /"prices.0.route" must have 1 to 200/,
    ],
    [
      'a route without a method',
      { prices: [{ route: '/feed/*', price: '1' }] },
      /"prices.0.route" must be an upper-case HTTP method/,
    ],
    [
      'a route with a lower-case method (not the one spelling the gateway prints)',
      { prices: [{ route: 'get /feed/*', price: '1' }] },
      /"prices.0.route" must be an upper-case HTTP method/,
    ],
    [
      'a route with a wildcard inside its path (the gateway prices prefixes only)',
      { prices: [{ route: 'GET /feed/*/latest', price: '1' }] },
      /"prices.0.route"/,
    ],
    [
      'a route with a space in its path',
      { prices: [{ route: 'GET /a b', price: '1' }] },
      /"prices.0.route"/,
    ],
    [
      'a route with a control character',
      { prices: [{ route: 'GET /a\u001b[2J', price: '1' }] },
      /"prices.0.route"/,
    ],
    ['a lowercase method', { prices: [{ route: 'get /a', price: '1' }] }, /"prices.0.route"/],
    [
      'a route listed twice',
      {
        prices: [
          { route: 'GET /a', price: '1' },
          { route: 'GET /a', price: '2' },
        ],
      },
      /"prices" must list each route once/,
    ],
    [
      '65 routes',
      { prices: Array.from({ length: 65 }, (_, i) => ({ route: `GET /${i}`, price: '1' })) },
      /"prices" may list at most 64/,
    ],
    [
      'a price entry with an extra key',
      { prices: [{ route: 'GET /a', price: '1', note: 'x' }] },
      /"prices.0"/,
    ],
    ['a price entry that is null', { prices: [null] }, /"prices.0"/],
    ['an ftp endpoint', { endpoint: 'ftp://example.org' }, /"endpoint" must be an http\(s\) URL/],
    ['an endpoint with credentials', { endpoint: 'https://user:pw@example.org' }, /"endpoint"/],
    ['an endpoint with a space', { endpoint: 'https://example.org/a b' }, /"endpoint"/],
    ['an endpoint with a tab', { endpoint: 'https://exam\tple.org' }, /"endpoint"/],
    [
      'an endpoint of 301 characters',
      { endpoint: `https://example.org/${'p'.repeat(281)}` },
      /"endpoint" must have at most 300/,
    ],
    ['a relative endpoint', { endpoint: '/call' }, /"endpoint"/],
    ['an unknown field', { owner: 'me' }, /unrecognized key/i],
  ]

  test.each(bad)('refuses %s', (_, overrides, message) => {
    const error = genesisError(offer(overrides))
    expect(error?.name).toBe('InvalidChannelInputError')
    expect(error?.shortMessage).toMatch(/^channel\.create: /)
    expect(error?.shortMessage).toMatch(message)
  })

  test('refuses a body that is no object, or misses a field', () => {
    for (const body of [null, [], 'offer', 42]) {
      expect(genesisError(body)?.name).toBe('InvalidChannelInputError')
    }
    const { groupId: _, ...noGroup } = offer()
    expect(genesisError(noGroup)?.shortMessage).toMatch(/"groupId"/)
  })

  test('refuses a genesis of another type', () => {
    const genesis = makeOp(OPERATOR, {
      doc: null,
      seq: 1,
      deps: [],
      type: 'feed.create',
      body: offer(),
    })
    expect(() => createChannelReducer(genesis)).toThrow(/starts with "channel.create"/)
  })
})

describe('channel.update', () => {
  test('the operator replaces the fields it gives and keeps the others', () => {
    const doc = new OfferDoc()
    const op = doc.add(OPERATOR, CHANNEL_OP.update, {
      prices: [{ route: 'POST /call/echo/*', price: '25' }],
      recipient: OTHER,
      expirationThreshold: 40,
    })
    expect(doc.reducer.verdict(op.id)).toBeUndefined()
    const state = doc.reducer.state()
    expect(state.prices).toEqual([{ route: 'POST /call/echo/*', price: 25n }])
    expect(state.recipient).toBe(OTHER)
    expect(state.expirationThreshold).toBe(40)
    expect(state.groupId).toBe(GROUP)
    expect(state.endpoint).toBe('http://127.0.0.1:8080')
    expect(state.changes).toBe(1)
    const group = `0x${'cd'.repeat(32)}`
    doc.add(OPERATOR, CHANNEL_OP.update, { endpoint: null, groupId: group })
    expect(doc.reducer.state()).toMatchObject({ endpoint: null, groupId: group, changes: 2 })
  })

  test("a stranger's update is refused outright and changes nothing", () => {
    const doc = new OfferDoc()
    const before = channelDomain.stateHash(doc.reducer.state())
    const op = doc.make(STRANGER, CHANNEL_OP.update, { expirationThreshold: 1 })
    const judgement = doc.reducer.judge(op)
    expect(judgement?.name).toBe('ChannelForbiddenError')
    expect(judgement?.tieBreak).toBe(false)
    doc.apply(op)
    expect(doc.reducer.verdict(op.id)?.message).toMatch(/Only the operator of offer "echo service"/)
    expect(channelDomain.stateHash(doc.reducer.state())).toBe(before)
  })

  const badUpdates: [string, unknown, RegExp][] = [
    ['an empty update', {}, /the body must change at least one of/],
    ['a new name (fixed by the genesis)', { name: 'other' }, /unrecognized key/i],
    ['a new escrow (fixed by the genesis)', { escrow: ESCROW }, /unrecognized key/i],
    ['a bad price', { prices: [{ route: 'GET /a', price: '1.0' }] }, /"prices.0.price"/],
    [
      'duplicate routes',
      {
        prices: [
          { route: 'GET /a', price: '1' },
          { route: 'GET /a', price: '1' },
        ],
      },
      /each route once/,
    ],
    ['a bad recipient', { recipient: '0x1234' }, /"recipient"/],
    ['a bad group id', { groupId: '0x12' }, /"groupId"/],
    ['a bad endpoint', { endpoint: 'javascript:alert(1)' }, /"endpoint"/],
    ['a body that is no object', 'prices', /the body/],
  ]

  test.each(badUpdates)('refuses %s', (_, body, message) => {
    const doc = new OfferDoc()
    const op = doc.make(OPERATOR, CHANNEL_OP.update, body)
    const judgement = doc.reducer.judge(op)
    expect(judgement?.name).toBe('InvalidChannelInputError')
    expect(judgement?.tieBreak).toBe(false)
    expect(judgement?.message).toMatch(message)
    doc.apply(op)
    expect(doc.reducer.state().changes).toBe(0)
  })

  test('a draft that breaks a rule is refused before it is signed', () => {
    const doc = new OfferDoc()
    const draft = (author: Signer, body: unknown) => () =>
      doc.reducer.check({ author: author.publicKey, type: CHANNEL_OP.update, body, time: T0 })
    expect(draft(STRANGER, { expirationThreshold: 1 })).toThrow(/Only the operator/)
    expect(draft(OPERATOR, { expirationThreshold: -1 })).toThrow(/must not be negative/)
    expect(draft(OPERATOR, { expirationThreshold: 1 })).not.toThrow()
  })

  test('a second channel.create and an unknown op type are refused', () => {
    const doc = new OfferDoc()
    const again = doc.make(OPERATOR, CHANNEL_OP.create, offer())
    expect(doc.reducer.judge(again)?.name).toBe('ChannelRefusedError')
    const unknown = doc.make(OPERATOR, 'channel.close', {})
    expect(doc.reducer.judge(unknown)?.message).toMatch(/"channel.close" is not a channel op/)
  })
})

describe('channel.retire', () => {
  test('the operator retires the offer; no later change counts', () => {
    const doc = new OfferDoc()
    const retire = doc.add(OPERATOR, CHANNEL_OP.retire, {})
    expect(doc.reducer.verdict(retire.id)).toBeUndefined()
    expect(doc.reducer.retired).toBe(true)
    expect(channelDomain.summary(doc.reducer)).toEqual({
      name: 'echo service',
      state: 'retired',
      routes: 2,
    })
    const hash = channelDomain.stateHash(doc.reducer.state())
    for (const [type, body] of [
      [CHANNEL_OP.update, { expirationThreshold: 5 }],
      [CHANNEL_OP.retire, {}],
    ] as const) {
      const op = doc.make(OPERATOR, type, body)
      const judgement = doc.reducer.judge(op)
      expect(judgement?.name).toBe('ChannelRefusedError')
      expect(judgement?.message).toMatch(/is retired/)
      // Refused whatever else arrives: a ledger refuses it at ingest.
      expect(judgement?.tieBreak).toBe(false)
      doc.apply(op)
      expect(doc.reducer.verdict(op.id)?.name).toBe('ChannelRefusedError')
    }
    expect(channelDomain.stateHash(doc.reducer.state())).toBe(hash)
  })

  test("a stranger's retire and a retire with a body are refused", () => {
    const doc = new OfferDoc()
    expect(doc.reducer.judge(doc.make(STRANGER, CHANNEL_OP.retire, {}))?.name).toBe(
      'ChannelForbiddenError',
    )
    expect(doc.reducer.judge(doc.make(OPERATOR, CHANNEL_OP.retire, { reason: 'x' }))?.name).toBe(
      'InvalidChannelInputError',
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

type ChannelIndex = DocIndex<ChannelState, ChannelReducer, ChannelSummary>

async function openIndexed(): Promise<{ ledger: Ledger; index: ChannelIndex }> {
  let index: ChannelIndex | undefined
  const ledger = await memoryLedger({ admit: (doc, op) => index?.admit(doc, op) })
  index = createDocIndex(ledger, channelDomain)
  await index.start()
  return { ledger, index }
}

describe('concurrent changes of the operator', () => {
  /** Genesis; updates a, b and a retire r made on it concurrently; d made after a only. */
  function concurrentHistory() {
    const doc = new OfferDoc()
    const base = doc.heads()
    const a = doc.make(
      OPERATOR,
      CHANNEL_OP.update,
      { prices: [{ route: 'GET /a', price: '1' }] },
      base,
    )
    const b = doc.make(
      OPERATOR,
      CHANNEL_OP.update,
      { prices: [{ route: 'GET /b', price: '2' }] },
      base,
    )
    const r = doc.make(OPERATOR, CHANNEL_OP.retire, {}, base)
    const d = doc.make(OPERATOR, CHANNEL_OP.update, { expirationThreshold: 99 }, [a.id])
    return { genesis: doc.ops[0]!, a, b, r, d }
  }

  test('the first applied counts; the other loses a tie-break and says so', () => {
    const { genesis, a, b } = concurrentHistory()
    const reducer = createChannelReducer(genesis)
    reducer.apply(a)
    const judgement = reducer.judge(b)
    expect(judgement?.name).toBe('ChannelRefusedError')
    expect(judgement?.tieBreak).toBe(true)
    reducer.apply(b)
    expect(reducer.tieBreaks).toBe(1)
    expect(reducer.orderSensitive).toBe(true)
    expect(reducer.verdict(b.id)?.message).toMatch(/made concurrently/)
    expect(reducer.state().prices).toEqual([{ route: 'GET /a', price: 1n }])
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
      const arrival = createChannelReducer(genesis)
      for (const op of order) arrival.apply(op)
      arrivalHashes.add(channelDomain.stateHash(arrival.state()))
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
    const canonical = createChannelReducer(genesis)
    for (const op of inLog) canonical.apply(op)
    expect(hashes).toEqual(new Set([channelDomain.stateHash(canonical.state())]))
    const first = inLog.find((op) => op !== d)!
    expect(canonical.verdict(first.id)).toBeUndefined()
    for (const op of [a, b, r].filter((op) => op !== first))
      expect(canonical.verdict(op.id)?.name).toBe('ChannelRefusedError')
    // d saw a: it counts exactly when a did.
    expect(canonical.verdict(d.id)?.name).toBe(first === a ? undefined : 'ChannelRefusedError')
    expect(canonical.state().changes).toBe(first === a ? 2 : 1)
  })

  test('a node refuses at ingest what no order could accept', async () => {
    const doc = new OfferDoc()
    const { ledger, index } = await openIndexed()
    await ledger.ingest([doc.ops[0]!.bytes])
    const stranger = doc.make(STRANGER, CHANNEL_OP.update, { expirationThreshold: 1 })
    const retire = doc.make(OPERATOR, CHANNEL_OP.retire, {})
    const late = doc.make(OPERATOR, CHANNEL_OP.update, { expirationThreshold: 1 }, [retire.id])
    const [refused] = await ledger.ingest([stranger.bytes])
    expect(refused?.ok).toBe(false)
    const [retired, after] = await ledger.ingest([retire.bytes, late.bytes])
    expect(retired?.ok).toBe(true)
    expect(after?.ok).toBe(false)
    expect((await index.state(doc.id)).state).toBe('retired')
    index.stop()
    await ledger.close()
  })
})
