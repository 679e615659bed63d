import '../src/net/polyfill.ts'
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, describe, expect, test } from 'vitest'
import { impactDomain } from '../src/core/impact/domain.ts'
import { IMPACT_OP } from '../src/core/impact/ops.ts'
import { stakeMemo } from '../src/core/impact/pool-report.ts'
import {
  createImpactActions,
  type ImpactActions,
  type ImpactIndex,
} from '../src/domains/impact/actions.ts'
import { createImpactChat } from '../src/domains/impact/chat.ts'
import type { ChatContext, ChatMemory, ChatPart } from '../src/domains/plugin.ts'
import type { Ledger } from '../src/ledger/ledger.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { type Accounts, type LocalAccount, openAccounts } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { createDocIndex } from '../src/node/doc-index.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { journalMemory, memoryOnly } from '../src/xmpp/conversations.ts'
import { CHAT_PASSWORD, ChatUser, foreignWords } from './fixtures/chat-user.ts'
import { ProsodyFixture } from './fixtures/prosody.ts'
import { memoryLedger } from './helpers.ts'
import { actionConfig, addressOf, auditorConfig, requestInfo } from './impact-fixture.ts'
import { hasSystemService, SYSTEM_SERVICES } from './system.ts'

// The impact conversation on a real ledger and index, without a chat server: the clock and what
// was pushed are in the test's hands. Auditors and the requester are custodial-style local
// accounts bound to JIDs; the governors registered their keys as auditors.

const EVIDENCE = 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'
const dirs: string[] = []
const said: string[] = []

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

type World = {
  ledger: Ledger
  index: ImpactIndex
  accounts: Accounts
  actions: ImpactActions
  community: OpId
  proxy: LocalAccount
  gov: LocalAccount
  ana: LocalAccount
  ben: LocalAccount
  cy: LocalAccount
  rita: LocalAccount
  /** The proxy's next block claim (monotone). */
  block(step?: number): number
  act(account: LocalAccount, type: string, body: unknown): Promise<OpId>
  request(description?: string): Promise<OpId>
  assign(request: OpId, maxdays?: number): Promise<string[]>
  decide(request: OpId): Promise<void>
  votes(request: OpId): Promise<{ auditor: string; vote: string; otherinfo?: string | undefined }[]>
}

/** A community with three JID-bound auditors (staked), a proxy, a funded pool and a requester. */
async function world({ maxerrors = 1 }: { maxerrors?: number } = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'rwa-impact-chat-'))
  dirs.push(dir)
  const ledger = await memoryLedger()
  const index = createDocIndex(ledger, impactDomain)
  await index.start({ signal: new AbortController().signal })
  const accounts = openAccounts(dir)
  const actions = createImpactActions(ledger, index)
  const make = (name: string, jid?: string) => accounts.create({ name, jid }).account
  const gov = make('gov')
  const proxy = make('proxy')
  const [ana, ben, cy] = ['ana', 'ben', 'cy'].map((n) => make(n, `${n}@x.org`)) as [
    LocalAccount,
    LocalAccount,
    LocalAccount,
  ]
  const rita = make('rita', 'rita@x.org')
  const genesis = await actions.create(gov, { name: 'Green Barcelona', blocksPerDay: 100 })
  const community = genesis.id
  let block = 10
  const w: World = {
    ledger,
    index,
    accounts,
    actions,
    community,
    proxy,
    gov,
    ana,
    ben,
    cy,
    rita,
    block: (step = 1) => {
      block += step
      return block
    },
    async act(account, type, body) {
      return (await actions.act(account, community, type, body)).op
    },
    async request(description = 'Planted a new tree') {
      return w.act(rita, IMPACT_OP.requestApproval, {
        info: requestInfo({ description, evidence: [EVIDENCE] }),
        payout: rita.address,
      })
    },
    async assign(request, maxdays = 3) {
      const at = w.block()
      const entropy = `0x${at.toString(16).padStart(64, '0')}` as `0x${string}`
      const reducer = await index.reducer(community)
      const { auditors } = reducer.drawFor(request, entropy)
      await w.act(proxy, IMPACT_OP.assignAuditor, {
        request,
        auditors,
        maxdays,
        block: at,
        entropy,
      })
      return auditors
    },
    async decide(request) {
      await w.act(proxy, IMPACT_OP.decide, { request, block: w.block() })
    },
    async votes(request) {
      return (await index.reducer(community)).request(request)!.votes.map((v) => ({
        auditor: v.auditor,
        vote: v.vote,
        otherinfo: v.otherinfo,
      }))
    },
  }
  await w.act(gov, IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
  await w.act(gov, IMPACT_OP.createImpactAction, {
    uid: 1,
    configuration: actionConfig({ maxerrorsauditor: maxerrors }),
  })
  await w.act(gov, IMPACT_OP.createProxy, { uid: 1, account: proxy.key })
  for (const a of [ana, ben, cy])
    await w.act(gov, IMPACT_OP.createAuditor, {
      account: a.key,
      configuration: auditorConfig({ stakesmin: 100 }),
      payout: a.address,
    })
  let tx = 0
  const deposit = (amount: bigint, memo: `0x${string}`) =>
    w.act(proxy, IMPACT_OP.deposit, {
      token: 0,
      from: addressOf(900),
      amount: String(amount),
      memo,
      tx: `0x${(++tx).toString(16).padStart(64, '0')}`,
      logIndex: 0,
      block: w.block(),
    })
  for (const a of [ana, ben, cy]) await deposit(100n, stakeMemo(a.key))
  await deposit(10_000n, `0x${'0'.repeat(64)}`)
  return w
}

type Harness = {
  chat: ChatPart
  pushes: [string, string][]
  errors: unknown[]
  clock: { now: number }
  say(jid: string, text: string, receivedAt?: number): Promise<string[]>
  pushesTo(jid: string): string[]
  /** Forgets what was pushed so far. */
  clear(): void
}

/** The impact chat part on `w`, with a recording ChatContext. */
async function harness(
  w: World,
  { memory = memoryOnly(), follow = true }: { memory?: ChatMemory; follow?: boolean } = {},
): Promise<Harness> {
  const pushes: [string, string][] = []
  const errors: unknown[] = []
  const clock = { now: Date.UTC(2026, 11, 3, 9, 0) }
  const context: ChatContext = {
    send: (jid, text) => {
      pushes.push([jid, text])
      said.push(text)
    },
    admins: [],
    now: () => clock.now,
    onError: (error) => errors.push(error),
    memory,
    pageUrl: (path) => `http://127.0.0.1/${path}`,
  }
  const chat = createImpactChat(
    {
      index: w.index,
      actions: w.actions,
      accounts: w.accounts,
      ...(follow ? { ledger: w.ledger } : {}),
    },
    context,
  )
  await chat.start!()
  return {
    chat,
    pushes,
    errors,
    clock,
    async say(jid, text, receivedAt = clock.now) {
      clock.now += 1000
      const replies = (await chat.handle({ jid, text, receivedAt })) ?? ['<passed on>']
      said.push(...replies)
      return replies
    },
    pushesTo: (jid) => pushes.filter(([to]) => to === jid).map(([, text]) => text),
    clear: () => {
      pushes.length = 0
    },
  }
}

/** Waits for the ledger's accepted ops to reach the part, then for its pushes. */
async function settle(w: World, h: Harness): Promise<void> {
  await w.ledger.flush()
  await new Promise((resolve) => setImmediate(resolve))
  await h.chat.settled!()
  expect(h.errors).toEqual([])
}

const AUDITORS = ['ana@x.org', 'ben@x.org', 'cy@x.org']

describe('impact chat: votes offered to assigned auditors', () => {
  test('an assignment is pushed to each auditor with the request, its place, evidence and deadline', async () => {
    const w = await world()
    const h = await harness(w)
    const request = await w.request()
    await settle(w, h)
    expect(h.pushes).toEqual([]) // a request alone tells nobody anything
    const drawn = await w.assign(request, 3)
    expect(drawn.sort()).toEqual([w.ana.key, w.ben.key, w.cy.key].sort())
    await settle(w, h)
    for (const jid of AUDITORS) {
      const [push, ...more] = h.pushesTo(jid)
      expect(more).toEqual([])
      expect(push).toBe(
        [
          'Community "Green Barcelona", vote 1: is this approval request true?',
          '"Planted a new tree" (impact action 1: Planting a tree)',
          '  namesurname: Jhone Smith',
          '  phonenumber: +13489383845',
          '  coordinates: 41.40338,2.17403',
          `  evidence: ${EVIDENCE}`,
          // Assigned at block 15 with 3 days of 100 blocks: due at 315, 300 blocks (3 days) away.
          'Vote by block 315 (in about 3 days, around 06 Dec 2026 09:00 UTC; the community counts 100 blocks a day).',
          'Answer Y to approve or N to refuse, optionally with a note: "N photo is of a bush".',
        ].join('\n'),
      )
    }
    expect(h.pushesTo('rita@x.org')).toEqual([])
    // Status and help name the open vote.
    expect(await h.chat.status!('ana@x.org')).toContain(
      'You have 1 open vote:\n1. "Planted a new tree" in "Green Barcelona", by block 315',
    )
    expect(await h.chat.help!('ana@x.org')).toContain('vote <number> Y')
    expect(await h.chat.help!('rita@x.org')).toBeUndefined()
    expect(await h.chat.status!('rita@x.org')).toBe(
      'Your approval request "Planted a new tree" in "Green Barcelona" is being voted on, 0 votes of 3.',
    )
  })

  test('Y and "N <note>" sign votes for the auditor; the decision is told to auditors and requester', async () => {
    const w = await world({ maxerrors: 1 })
    const h = await harness(w)
    const request = await w.request()
    await w.assign(request)
    await settle(w, h)
    expect(h.chat.claims!({ jid: 'ana@x.org', text: 'Y', receivedAt: h.clock.now })).toBe(true)
    expect(h.chat.claims!({ jid: 'rita@x.org', text: 'Y', receivedAt: h.clock.now })).toBe(false)
    expect(await h.say('ana@x.org', 'Y')).toEqual([
      'Recorded your vote Y (approve) on "Planted a new tree" in "Green Barcelona". 1 vote of 3 seats so far; 2 matching votes decide.',
    ])
    expect(await h.say('ben@x.org', 'N photo is of a bush')).toEqual([
      'Recorded your vote N (refuse) on "Planted a new tree" in "Green Barcelona", with your note "photo is of a bush". 2 votes of 3 seats so far; 2 matching votes decide.',
    ])
    expect(await w.votes(request)).toEqual(
      [
        { auditor: w.ana.key, vote: 'Y', otherinfo: undefined },
        { auditor: w.ben.key, vote: 'N', otherinfo: 'photo is of a bush' },
      ].sort((a, b) => (a.auditor < b.auditor ? -1 : 1)),
    )
    // A second answer by the same auditor is no longer open for it: another part may take it.
    expect(await h.say('ana@x.org', 'N')).toEqual(['You have no open vote now.'])
    // A lone "yes" (nobody else took it) votes; "no idea…" is no vote.
    expect(await h.say('cy@x.org', 'no idea what this is')).toEqual(['<passed on>'])
    expect(h.chat.claims!({ jid: 'cy@x.org', text: 'yes', receivedAt: h.clock.now })).toBe(false)
    expect(await h.say('cy@x.org', 'yes')).toEqual([
      expect.stringContaining('Recorded your vote Y (approve)'),
    ])
    await settle(w, h)
    h.clear()
    await w.decide(request)
    await settle(w, h)
    const approved =
      'Approval request "Planted a new tree" in "Green Barcelona" is decided: approved (2 Y, 1 N).'
    // rewardsauditors 50 split by the two who matched; slashingsauditors 20 from ben's stake.
    expect(h.pushesTo('ana@x.org')).toEqual([
      `${approved} Your vote Y matched it: you earned 0.000000000000000025 ETH, paid to ${w.ana.address} once settled on chain.`,
    ])
    expect(h.pushesTo('ben@x.org')).toEqual([
      `${approved} Your vote N contradicted it: 0.00000000000000002 ETH was slashed from your stake, and it counts as an error. You are now suspended in "Green Barcelona": 1 error reached the 1 allowed, so you get no more votes there.`,
    ])
    expect(h.pushesTo('rita@x.org')).toEqual([
      `Your approval request "Planted a new tree" in "Green Barcelona" was approved: approved (2 Y, 1 N). It pays you 0.000000000000001 ETH to ${w.rita.address}, once settled on chain.`,
    ])
    expect(await h.chat.status!('rita@x.org')).toBeUndefined()
    expect(await h.chat.status!('ana@x.org')).toBe('Impact actions: you have no open vote now.')
  })

  test('two open votes are numbered: "vote <n> Y" answers one, a bare Y asks which', async () => {
    const w = await world()
    const h = await harness(w)
    const first = await w.request('Planted a new tree')
    const second = await w.request('Planted an olive tree')
    await w.assign(first)
    await settle(w, h)
    await w.assign(second)
    await settle(w, h)
    const [, pushed] = h.pushesTo('ana@x.org')
    expect(pushed).toContain('Community "Green Barcelona", vote 2: is this approval request true?')
    expect(pushed).toContain(
      'Answer "vote 2 Y" to approve or "vote 2 N" to refuse, optionally with a note: "vote 2 N photo is of a bush".',
    )
    expect(pushed).toContain('(You have other open votes too; send "votes" to see them all.)')
    const list = [
      'You have 2 open votes:',
      '1. "Planted a new tree" in "Green Barcelona", by block 315',
      '2. "Planted an olive tree" in "Green Barcelona", by block 316',
      'Answer with "vote <number> Y" or "vote <number> N <note>"; "vote <number>" shows one again.',
    ].join('\n')
    expect(await h.say('ana@x.org', 'Y')).toEqual([`Which one? ${list}`])
    expect(await w.votes(first)).toEqual([])
    expect(await h.say('ana@x.org', 'votes')).toEqual([list])
    expect(h.chat.claims!({ jid: 'ana@x.org', text: 'vote 2 Y', receivedAt: h.clock.now })).toBe(
      true,
    )
    expect(h.chat.claims!({ jid: 'ana@x.org', text: 'vote 7 Y', receivedAt: h.clock.now })).toBe(
      false,
    )
    const replies = await h.say('ana@x.org', 'vote 2 N not an olive')
    expect(replies[0]).toBe(
      'Recorded your vote N (refuse) on "Planted an olive tree" in "Green Barcelona", with your note "not an olive". 1 vote of 3 seats so far; 2 matching votes decide.',
    )
    // The one left is shown, so a bare Y answers it, with its number kept.
    expect(replies[1]).toMatch(
      /^Your other open vote:\nCommunity "Green Barcelona", vote 1: is this approval request true\?\n"Planted a new tree"/,
    )
    expect(await w.votes(second)).toEqual([
      { auditor: w.ana.key, vote: 'N', otherinfo: 'not an olive' },
    ])
    expect(await h.say('ana@x.org', 'Y')).toEqual([
      'Recorded your vote Y (approve) on "Planted a new tree" in "Green Barcelona". 1 vote of 3 seats so far; 2 matching votes decide.',
    ])
    expect(await w.votes(first)).toEqual([{ auditor: w.ana.key, vote: 'Y', otherinfo: undefined }])
    // "vote <n>" shows one; then a bare N answers that one.
    expect(await h.say('ben@x.org', 'vote 2')).toEqual([
      expect.stringMatching(/^Community "Green Barcelona", vote 2: .*\n"Planted an olive tree"/),
    ])
    expect(await h.say('ben@x.org', 'n\tblurry\nphoto')).toEqual([
      expect.stringContaining('Recorded your vote N (refuse) on "Planted an olive tree"'),
      expect.stringContaining('Your other open vote:'),
    ])
    expect((await w.votes(second)).find((v) => v.auditor === w.ben.key)).toEqual({
      auditor: w.ben.key,
      vote: 'N',
      otherinfo: 'blurry photo',
    })
  })

  test('after the decision, a vote is refused in chat words; a missed deadline is told and refused', async () => {
    const w = await world({ maxerrors: 3 })
    const h = await harness(w)
    const request = await w.request()
    await w.assign(request, 1)
    await settle(w, h)
    await h.say('ana@x.org', 'Y')
    await h.say('ben@x.org', 'Y')
    // Cy's message raced the decision: the part had not yet heard of it.
    h.chat.stop!()
    await w.decide(request)
    await w.ledger.flush()
    expect(await h.say('cy@x.org', 'N')).toEqual([
      '"Planted a new tree" in "Green Barcelona" is decided already: approved (2 Y, 0 N). Your vote was not taken.',
    ])
    expect(await w.votes(request)).toHaveLength(2)

    // A second request: its deadline (1 day of 100 blocks) passes on the proxy's clock.
    const h2 = await harness(w)
    const late = await w.request('Planted a palm')
    await w.assign(late, 1)
    await settle(w, h2)
    const seat = (await w.index.reducer(w.community)).request(late)!.assignments[0]!
    h2.clear()
    await w.act(w.proxy, IMPACT_OP.deposit, {
      token: 0,
      from: addressOf(900),
      amount: '1',
      memo: `0x${'0'.repeat(64)}`,
      tx: `0x${'ee'.repeat(32)}`,
      logIndex: 0,
      block: w.block(150),
    })
    await settle(w, h2)
    await h2.chat.remind!()
    expect(h2.pushesTo('cy@x.org')).toEqual([
      expect.stringMatching(/^Reminder: half the time for this vote has passed\.\n/),
    ])
    expect(h2.pushesTo('cy@x.org')[0]).toContain(`block ${seat.deadline}, which has passed`)
    await h2.chat.remind!()
    expect(h2.pushesTo('cy@x.org')).toHaveLength(1) // once per vote
    const clock = (await w.index.reducer(w.community)).machine.block
    expect(clock).toBeGreaterThan(seat.deadline)
    expect(await h2.say('cy@x.org', 'Y')).toEqual([
      `The deadline for "Planted a palm" in "Green Barcelona" (block ${seat.deadline}) has passed: the community is at block ${clock}, and your seat goes to another auditor. Your vote was not taken.`,
    ])
    h2.clear()
    await w.act(w.proxy, IMPACT_OP.destroyAssignedAuditor, {
      request: late,
      auditor: w.cy.key,
      block: w.block(),
    })
    await settle(w, h2)
    expect(h2.pushesTo('cy@x.org')).toEqual([
      `You missed the deadline (block ${seat.deadline}) for "Planted a palm" in "Green Barcelona": your seat went to another auditor, and it lowers your ranking.`,
    ])
    expect(await h2.say('cy@x.org', 'Y')).toEqual(['You have no open vote now.'])
  })

  test('the open votes and their numbers survive a restart of the part, without a second push', async () => {
    const w = await world()
    const dir = mkdtempSync(join(tmpdir(), 'rwa-impact-chat-memory-'))
    dirs.push(dir)
    const path = join(dir, 'impact.jsonl')
    const before = await harness(w, { memory: journalMemory(path) })
    const first = await w.request('Planted a new tree')
    const second = await w.request('Planted an olive tree')
    await w.assign(first)
    await settle(w, before)
    await w.assign(second)
    await settle(w, before)
    expect(before.pushesTo('ana@x.org')).toHaveLength(2)
    expect(await before.say('ben@x.org', 'vote 1')).toHaveLength(1) // ben is asked about vote 1
    before.chat.stop!()

    // Nothing changed while it was down: nothing is pushed again, and the numbers hold.
    const after = await harness(w, { memory: journalMemory(path) })
    await settle(w, after)
    expect(after.pushes).toEqual([])
    expect(await after.say('ana@x.org', 'vote 2 Y')).toEqual([
      expect.stringContaining('Recorded your vote Y (approve) on "Planted an olive tree"'),
      expect.stringMatching(/^Your other open vote:\nCommunity "Green Barcelona", vote 1: /),
    ])
    // Ben's bare answer goes to the vote he asked about before the restart.
    expect(await after.say('ben@x.org', 'N')).toEqual([
      expect.stringContaining('Recorded your vote N (refuse) on "Planted a new tree"'),
      expect.stringMatching(/^Your other open vote:\nCommunity "Green Barcelona", vote 2: /),
    ])
    expect(await w.votes(first)).toEqual([{ auditor: w.ben.key, vote: 'N', otherinfo: undefined }])
    expect(await w.votes(second)).toEqual([{ auditor: w.ana.key, vote: 'Y', otherinfo: undefined }])
    after.chat.stop!()

    // A request assigned while the part is down: the next part catches up on it alone.
    const third = await w.request('Planted a cork oak')
    await w.assign(third)
    await w.ledger.flush()
    const again = await harness(w, { memory: journalMemory(path) })
    await settle(w, again)
    for (const jid of AUDITORS) {
      const pushed = again.pushesTo(jid)
      expect(pushed).toHaveLength(1)
      expect(pushed[0]).toMatch(/^Community "Green Barcelona", vote 3: .*\n"Planted a cork oak"/)
    }
    expect(await again.say('cy@x.org', 'votes')).toEqual([
      expect.stringMatching(/^You have 3 open votes:\n1\. .*\n2\. .*\n3\. "Planted a cork oak"/),
    ])
  })

  test('without the ledger to follow, a part catches up on start and on each reminder pass', async () => {
    const w = await world()
    const h = await harness(w, { follow: false })
    const request = await w.request()
    await w.assign(request)
    await settle(w, h)
    expect(h.pushes).toEqual([])
    await h.chat.remind!()
    expect(h.pushesTo('ana@x.org')).toEqual([
      expect.stringMatching(/^Community "Green Barcelona", vote 1: /),
    ])
    expect(h.pushes).toHaveLength(3)
  })

  test('strangers and people with no seat are passed on; no message uses a CLI or API word', async () => {
    const w = await world()
    const h = await harness(w)
    expect(await h.say('nobody@x.org', 'Y')).toEqual(['<passed on>'])
    expect(await h.say('rita@x.org', 'vote 1 Y')).toEqual(['<passed on>'])
    expect(await h.chat.help!('nobody@x.org')).toBeUndefined()
    expect(await h.chat.status!('nobody@x.org')).toBeUndefined()
    expect(said.length).toBeGreaterThan(20)
    expect(foreignWords(said)).toEqual([])
  })
})

describe.runIf(hasSystemService(SYSTEM_SERVICES.prosody))(
  'impact votes on a real Prosody, through a node hosting the impact domain',
  () => {
    let prosody: ProsodyFixture
    let root: string
    let node: RwaNode
    let dana: ChatUser
    const bot = 'rwa@localhost'

    afterAll(async () => {
      await dana?.xmpp.stop().catch(() => undefined)
      await node?.stop()
      await prosody?.stop()
      if (root) rmSync(root, { recursive: true, force: true })
    })

    test('an assigned auditor gets the push and votes by answering Y', async () => {
      prosody = await ProsodyFixture.start()
      await prosody.register('rwa', CHAT_PASSWORD)
      root = mkdtempSync(join(tmpdir(), 'rwa-impact-chat-xmpp-'))
      const dataDir = join(root, 'n1')
      initNode({ name: 'n1', dataDir })
      writeFileSync(join(dataDir, 'xmpp.password'), `${CHAT_PASSWORD}\n`, { mode: 0o600 })
      appendFileSync(
        join(dataDir, 'config.toml'),
        `\n[xmpp]\nservice = "${prosody.service}"\ndomain = "localhost"\nusername = "rwa"\npassword_file = "xmpp.password"\n`,
      )
      node = createNode(loadConfig(dataDir), {
        port: 0,
        logger: pino({ level: 'silent' }),
        verifyPool: false,
        chain: { mode: 'none' },
        net: { enabled: false },
      })
      await node.start()
      dana = await ChatUser.connect(prosody, 'dana', bot)
      await dana.awaitBot()

      // The governors register Dana's chat account's key as an auditor; the proxy assigns her.
      const index = node.impact
      const actions = node.impactActions
      const auditor = node.accounts.custodialFor(dana.jid)
      const gov = node.accounts.create({ name: 'gov' }).account
      const proxy = node.accounts.create({ name: 'proxy' }).account
      const rita = node.accounts.create({ name: 'rita' }).account
      const community = (await actions.create(gov, { name: 'Green Barcelona' })).id
      const act = async (account: LocalAccount, type: string, body: unknown) =>
        (await actions.act(account, community, type, body)).op
      await act(gov, IMPACT_OP.createCategory, { uid: 1, description: 'Trees planted' })
      await act(gov, IMPACT_OP.createImpactAction, {
        uid: 1,
        configuration: actionConfig({ auditors: 1 }),
      })
      await act(gov, IMPACT_OP.createProxy, { uid: 1, account: proxy.key })
      await act(gov, IMPACT_OP.createAuditor, {
        account: auditor.key,
        configuration: auditorConfig(),
        payout: auditor.address,
      })
      const request = await act(rita, IMPACT_OP.requestApproval, {
        info: requestInfo({ evidence: [EVIDENCE] }),
        payout: rita.address,
      })
      const entropy = `0x${'0'.repeat(63)}c` as `0x${string}`
      const { auditors } = (await index.reducer(community)).drawFor(request, entropy)
      expect(auditors).toEqual([auditor.key])
      await act(proxy, IMPACT_OP.assignAuditor, {
        request,
        auditors,
        maxdays: 3,
        block: 12,
        entropy,
      })

      const push = await dana.until(/^Community "Green Barcelona", vote 1/)
      expect(push).toContain('"Planted a new tree" (impact action 1: Planting a tree)')
      expect(push).toContain('Vote by block 21,612 (in about 3 days')
      expect(push).toContain('Answer Y to approve or N to refuse')
      expect(await dana.ask('Y')).toBe(
        'Recorded your vote Y (approve) on "Planted a new tree" in "Green Barcelona". 1 vote of 1 seat so far; 1 matching vote decides.',
      )
      const votes = (await index.reducer(community)).request(request)!.votes
      expect(votes.map((v) => [v.auditor, v.vote])).toEqual([[auditor.key, 'Y']])
      expect(foreignWords(ChatUser.everything)).toEqual([])
    }, 60_000)
  },
)
