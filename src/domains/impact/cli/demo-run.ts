import type { Address, Hex } from 'viem'
import type { PrivateKeyAccount } from 'viem/accounts'
import type { ChainInfo } from '../../../chain/chain-service.ts'
import type { NodeClient } from '../../../cli/client.ts'
import { contextOf, type GlobalOptions, printJson } from '../../../cli/context.ts'
import { chainOf, demoNode, progress } from '../../../cli/demo-kit.ts'
import { ETH_UNIT, formatAmount } from '../../../core/amount.ts'
import { createImpactReducer, type ImpactReducer } from '../../../core/impact/domain.ts'
import { IMPACT_OP } from '../../../core/impact/ops.ts'
import { impactPoolId, NO_MEMO, stakeMemo } from '../../../core/impact/pool-report.ts'
import type { RequestState } from '../../../core/impact/state.ts'
import { BaseError } from '../../../errors/base.ts'
import type { Signer } from '../../../ledger/keys.ts'
import type { OpId } from '../../../ledger/op-id.ts'
import { generateSigner } from '../../../store/key-file.ts'

// `rwa impact demo`: a small community on a real node and its devnet. The node's operator key
// governs it and is its proxy, so the node's proxy service assigns, decides and settles; people
// (auditors, requesters) are fresh keys of this process, each signing its own ops.

export type DemoOptions = GlobalOptions & { wait: string }

const ETH = (n: string) => BigInt(n)
const REWARD = ETH('1000000000000000') // 0.001 ETH to the requester
const AUDITORS_SHARE = ETH('300000000000000') // 0.0003 ETH split among the matching auditors
const SLASH = ETH('100000000000000') // 0.0001 ETH per error
const STAKE = ETH('500000000000000') // 0.0005 ETH each auditor stakes
const POOL = ETH('50000000000000000') // 0.05 ETH the sponsor puts in

const AREAS = {
  Barcelona: { centre: '41.40338,2.17403', near: ['41.3902,2.1540', '41.4036,2.1744'] },
  Lisbon: { centre: '38.7223,-9.1393', near: ['38.7169,-9.1399', '38.7369,-9.1427'] },
} as const

const key = (s: Signer) => Buffer.from(s.publicKey).toString('hex')

/** One simulated auditor: its keys, area, and whether it votes without looking. */
type Person = {
  signer: Signer
  account: PrivateKeyAccount
  name: string
  area: keyof typeof AREAS
  /** `approves`: approves everything without looking; `contrary`: votes against what it saw. */
  careless: false | 'approves' | 'contrary'
}

/** Runs the demo for `rwa impact demo` (its registration, impact-demo.ts, loads none of this). */
export async function impactDemo(o: DemoOptions): Promise<void> {
  const wait = Number(o.wait)
  if (!Number.isInteger(wait) || wait < 5 || wait > 3600)
    throw new BaseError(`--wait must be a whole number of seconds from 5 to 3600; got "${o.wait}".`)
  const ctx = contextOf(o)
  const { client, started } = await demoNode(ctx, o)
  try {
    const result = await runDemo(client, ctx.signer(), ctx.ethKey, {
      quiet: ctx.json,
      waitMs: wait * 1000,
    })
    if (ctx.json) printJson(result)
    else printDemo(result)
  } finally {
    await started?.stop()
  }
}

type DemoResult = {
  community: OpId
  name: string
  chain: { chainId: number; escrow: Address }
  requests: {
    id: OpId
    requester: string
    action: number
    truth: boolean
    status: string
    note: string
  }[]
  refused: { requester: string; reason: string }[]
  auditors: {
    name: string
    area: string
    careless: string
    matched: number
    errors: number
    missed: number
    ranking: number
    suspended: boolean
    earned: string
    /** Stake taken by slashes (capped at what was staked when each decision came). */
    slashed: string
    withdrawn: string
  }[]
  batches: { batch: number; total: string; tx: string | undefined }[]
  /** Token 0's pool at the end: every base unit deposited is free, staked or batched. */
  pool: { deposited: string; stakes: string; free: string; batched: string; paid: string }
  requesters: { name: string; withdrawn: string }[]
}

async function runDemo(
  client: NodeClient,
  operator: Signer,
  sponsorKey: () => Hex,
  o: { quiet: boolean; waitMs: number },
): Promise<DemoResult> {
  const { generatePrivateKey, privateKeyToAccount } = await import('viem/accounts')
  const { chainClients, owedTo, withdrawAll } = await import('../../../chain/payments.ts')
  const { depositToPool } = await import('../../../chain/pools.ts')
  const { NATIVE } = await import('../../../chain/native.ts')
  const info = await chainOf(client)
  if (!info)
    throw new BaseError(
      'The node runs without a chain; the impact demo settles on one. Start the node with its devnet (the default).',
    )
  const say = (line: string) => {
    if (!o.quiet) console.error(line)
  }
  const name = `impact demo ${new Date().toISOString()}`
  const genesis = await client.submit(operator, {
    doc: null,
    type: IMPACT_OP.create,
    body: { name, blocksPerDay: 7200 },
  })
  const doc = genesis.id
  say(`community "${name}" (${doc})`)
  const submit = (signer: Signer, type: string, body: unknown) =>
    client.submit(signer, { doc, type, body })

  // ── The registry: two categories, two actions, the node as proxy, ten auditors. ──
  const registry = progress('registry', 15, o.quiet)
  const registryOp = async (type: string, body: unknown) => {
    await submit(operator, type, body)
    registry.tick()
  }
  await registryOp(IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
  await registryOp(IMPACT_OP.createCategory, { uid: 2, description: 'Plastic recycled' })
  const action = (uid: number, description: string, category: number) => ({
    uid,
    configuration: JSON.stringify(
      {
        description,
        category,
        auditors: 2,
        blockstart: 1,
        blockend: 100_000_000,
        rewardstoken: 0,
        rewardsamount: REWARD,
        rewardsoracle: 0,
        rewardsauditors: AUDITORS_SHARE,
        slashingsauditors: SLASH,
        maxerrorsauditor: 2,
        fields: [
          { fieldname: 'namesurname', fieldtype: 'S', mandatory: 'Y' },
          { fieldname: 'quantity', fieldtype: 'N', mandatory: 'Y' },
        ],
      },
      (_, v) => (typeof v === 'bigint' ? Number(v) : v),
    ),
  })
  await registryOp(IMPACT_OP.createImpactAction, action(1, 'Planting a tree', 1))
  await registryOp(IMPACT_OP.createImpactAction, action(2, 'Recycling plastic', 2))
  await registryOp(IMPACT_OP.createProxy, { uid: 1, account: key(operator) })
  const people: Person[] = []
  for (const [i, area] of (['Barcelona', 'Lisbon'] as const)
    .flatMap((a) => [a, a, a, a, a])
    .entries())
    people.push({
      signer: generateSigner(),
      account: privateKeyToAccount(generatePrivateKey()),
      name: `auditor ${i + 1}`,
      area,
      // Two careless auditors: one approves everything, one votes against what it saw.
      careless: i === 0 ? 'approves' : i === 5 ? 'contrary' : false,
    })
  for (const p of people)
    await registryOp(IMPACT_OP.createAuditor, {
      account: key(p.signer),
      configuration: JSON.stringify({
        description: `${p.name} (${p.area})`,
        categories: [1, 2],
        area: AREAS[p.area].centre,
        otherinfo: 'bafkreidemo',
        stakesmin: Number(STAKE),
      }),
      payout: p.account.address,
    })

  // ── Money: the sponsor funds the pool and pays each auditor's stake, on chain. ──
  const sponsor = privateKeyToAccount(sponsorKey())
  const { client: evm, wallet } = chainClients(info, sponsor)
  const poolId = impactPoolId(doc, 0)
  const deposits = progress('deposits on chain', people.length + 1, o.quiet)
  await depositToPool(wallet, evm, {
    escrow: info.escrow,
    poolId,
    token: NATIVE,
    amount: POOL,
    memo: NO_MEMO,
  })
  deposits.tick()
  for (const p of people) {
    await depositToPool(wallet, evm, {
      escrow: info.escrow,
      poolId,
      token: NATIVE,
      amount: STAKE,
      memo: stakeMemo(key(p.signer)),
    })
    deposits.tick()
  }
  const load = async () => {
    const [first, ...rest] = await client.ops(doc)
    const reducer = createImpactReducer(first!)
    for (const op of rest) reducer.apply(op)
    return reducer
  }
  await until(o.waitMs, 'the proxy service to record the deposits', async () => {
    const r = await load()
    return r.pool(0).stakes === STAKE * BigInt(people.length) && r.pool(0).deposited > STAKE * 10n
  })

  // ── Twenty requests: most true, a few false, two missing a field. ──
  const requesters = Array.from({ length: 5 }, (_, i) => ({
    signer: generateSigner(),
    account: privateKeyToAccount(generatePrivateKey()),
    name: `requester ${i + 1}`,
  }))
  const made: { id: OpId; requester: string; action: number; truth: boolean }[] = []
  const refused: DemoResult['refused'] = []
  const requesting = progress('requests', 20, o.quiet)
  for (let i = 0; i < 20; i++) {
    const who = requesters[i % requesters.length]!
    const area = i % 2 === 0 ? 'Barcelona' : 'Lisbon'
    const impactactionid = i % 3 === 0 ? 2 : 1
    const info: Record<string, unknown> = {
      impactactionid,
      description: impactactionid === 1 ? 'Planted a new tree' : 'Recycled plastic bottles',
      namesurname: who.name,
      quantity: 1 + (i % 4),
      coordinates: AREAS[area].near[i % 2],
      evidence: [await photoCid(`photo of request ${i}`)],
    }
    if (i === 7 || i === 13) delete info.namesurname
    try {
      const op = await submit(who.signer, IMPACT_OP.requestApproval, {
        info: JSON.stringify(info),
        payout: who.account.address,
      })
      const r = await load()
      const note = r.verdict(op.id)
      if (note) refused.push({ requester: who.name, reason: note.message })
      if (note) say(`refused: ${note.message}`)
      else
        made.push({
          id: op.id,
          requester: who.name,
          action: impactactionid,
          truth: ![4, 9, 15].includes(i),
        })
    } catch (error) {
      if (!(error instanceof BaseError)) throw error
      // The node's refusal, without the op id and error name around it.
      const reason = /is refused: (.*) \(\w+\)\. It was not added/.exec(error.shortMessage)?.[1]
      refused.push({ requester: who.name, reason: reason ?? error.shortMessage })
      say(`${who.name}'s request refused: ${reason ?? error.shortMessage}`)
    }
    requesting.tick()
  }

  // ── Votes: the node's proxy service assigns; each auditor votes on what it is given. ──
  const byKey = new Map(people.map((p) => [key(p.signer), p]))
  const voted = new Set<string>()
  let votes = 0
  let late = 0
  await until(o.waitMs, 'every request to be decided', async () => {
    const r = await load()
    for (const m of made) {
      const request = r.request(m.id)!
      if (request.status !== 'VOTING') continue
      for (const seat of request.assignments) {
        const p = byKey.get(seat.auditor)
        const tag = `${m.id}:${seat.auditor}`
        if (!p || seat.unassigned || voted.has(tag)) continue
        voted.add(tag)
        const honest = m.truth ? 'Y' : 'N'
        const vote =
          p.careless === 'approves'
            ? 'Y'
            : p.careless === 'contrary'
              ? m.truth
                ? 'N'
                : 'Y'
              : honest
        try {
          await submit(p.signer, IMPACT_OP.vote, {
            request: m.id,
            vote: JSON.stringify({ vote, otherinfo: `visited, photo ${voted.size}` }),
          })
          votes++
        } catch (error) {
          // Too late: the request was decided on the other two votes, or the auditor was
          // suspended meanwhile. The rules refuse it; the demo goes on.
          if (!(error instanceof BaseError)) throw error
          late++
        }
      }
    }
    return made.every((m) => ['APPROVED', 'REFUSED', 'EXPIRED'].includes(r.request(m.id)!.status))
  })

  say(`${votes} votes counted, ${late} too late (their request was decided); every request decided`)

  // ── Settlement: the node batches, signs and settles; then everyone withdraws. ──
  say('waiting for the node to settle the rewards on chain')
  await until(o.waitMs, 'the rewards to be settled on chain', async () => {
    const pool = (await load()).pool(0)
    return pool.queued === 0n && pool.batches.length > 0 && pool.batches.every((b) => b.settled)
  })
  const withdraw = async (account: PrivateKeyAccount): Promise<bigint> => {
    if ((await owedTo(info, account.address, NATIVE)) === 0n) return 0n
    // Each pays its own gas: the sponsor sends it a little ETH first.
    const gas = await wallet.sendTransaction({ to: account.address, value: 10n ** 15n })
    await evm.waitForTransactionReceipt({ hash: gas })
    const [paid] = await withdrawAll({ info: info as ChainInfo, account, tokens: [NATIVE] })
    return paid?.amount ?? 0n
  }
  const withdrawing = progress('withdrawals', people.length + requesters.length, o.quiet)
  const withdrawn = new Map<string, bigint>()
  for (const p of [...people, ...requesters]) {
    withdrawn.set(p.name, await withdraw(p.account))
    withdrawing.tick()
  }
  const final = await load()
  return report(final, doc, name, info, made, refused, people, requesters, withdrawn)
}

function report(
  r: ImpactReducer,
  community: OpId,
  name: string,
  info: ChainInfo,
  made: { id: OpId; requester: string; action: number; truth: boolean }[],
  refused: DemoResult['refused'],
  people: Person[],
  requesters: { name: string }[],
  withdrawn: Map<string, bigint>,
): DemoResult {
  const request = (id: OpId) => r.request(id) as RequestState
  return {
    community,
    name,
    chain: { chainId: info.chainId, escrow: info.escrow },
    requests: made.map((m) => ({
      ...m,
      status: request(m.id).status,
      note: request(m.id).note,
    })),
    refused,
    auditors: people.map((p) => {
      const a = r.auditor(key(p.signer))!
      let slashed = 0n
      for (const q of r.requests({ limit: Number.MAX_SAFE_INTEGER }))
        for (const cut of q.decision?.slashes ?? [])
          if (cut.auditor === key(p.signer)) slashed += BigInt(cut.taken)
      return {
        name: p.name,
        area: p.area,
        careless: p.careless || 'no',
        matched: a.matched,
        errors: a.errors,
        missed: a.missed,
        ranking: a.ranking,
        suspended: a.suspended,
        earned: String(a.earned['0'] ?? 0n),
        slashed: String(slashed),
        withdrawn: String(withdrawn.get(p.name) ?? 0n),
      }
    }),
    pool: (({ deposited, stakes, free, batched, paid }) => ({
      deposited: String(deposited),
      stakes: String(stakes),
      free: String(free),
      batched: String(batched),
      paid: String(paid),
    }))(r.pool(0)),
    batches: r
      .pool(0)
      .batches.map((b) => ({ batch: b.batch, total: String(b.total), tx: b.settled?.tx })),
    requesters: requesters.map((q) => ({
      name: q.name,
      withdrawn: String(withdrawn.get(q.name) ?? 0n),
    })),
  }
}

/** The CIDv1 (raw, sha2-256) of a text: what a photo's evidence CID looks like. */
async function photoCid(text: string): Promise<string> {
  const { CID } = await import('multiformats/cid')
  const { sha256 } = await import('multiformats/hashes/sha2')
  return CID.create(1, 0x55, await sha256.digest(new TextEncoder().encode(text))).toString()
}

/** Polls `done` every 250 ms until it holds, or throws after `ms` naming what did not happen. */
async function until(ms: number, what: string, done: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + ms
  while (!(await done())) {
    if (Date.now() > end)
      throw new BaseError(
        `Waited ${Math.round(ms / 1000)} s for ${what}; the node's proxy service did not get there. See the node's log (and "rwa impact show").`,
      )
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

function printDemo(r: DemoResult): void {
  const eth = (base: string) => formatAmount(BigInt(base), ETH_UNIT)
  console.log(
    `\nImpact community "${r.name}" (${r.community}), settled on chain ${r.chain.chainId}.\n`,
  )
  console.log(`${'request'.padEnd(14)} ${'by'.padEnd(12)} action ${'true?'.padEnd(6)} result`)
  for (const q of r.requests)
    console.log(
      `${q.id.slice(0, 12).padEnd(14)} ${q.requester.padEnd(12)} ${String(q.action).padEnd(6)} ${(q.truth ? 'yes' : 'no').padEnd(6)} ${q.status}`,
    )
  for (const q of r.refused) console.log(`refused: ${q.requester}: ${q.reason}`)
  console.log(
    `\n${'auditor'.padEnd(12)} ${'area'.padEnd(10)} matched errors ranking ${'status'.padEnd(10)} withdrawn`,
  )
  for (const a of r.auditors)
    console.log(
      `${a.name.padEnd(12)} ${a.area.padEnd(10)} ${String(a.matched).padStart(7)} ${String(a.errors).padStart(6)} ${String(a.ranking).padStart(7)} ${(a.suspended ? 'SUSPENDED' : a.careless !== 'no' ? 'careless' : 'ok').padEnd(10)} ${eth(a.withdrawn)}`,
    )
  console.log(`\n${'requester'.padEnd(12)} withdrawn`)
  for (const q of r.requesters) console.log(`${q.name.padEnd(12)} ${eth(q.withdrawn)}`)
  const p = r.pool
  console.log(
    `\npool: ${eth(p.deposited)} deposited (stakes and funding), ${eth(p.paid)} paid out on chain, ${eth(p.stakes)} still staked, ${eth(p.free)} left for rewards`,
  )
  console.log('batches settled by the escrow:')
  for (const b of r.batches)
    console.log(`  batch ${b.batch}: ${eth(b.total)} in ${b.tx ?? '(not settled)'}`)
}
