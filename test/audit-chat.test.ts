import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { identityMessage } from '../src/core/identity.ts'
import { createAuditChat } from '../src/domains/audit/chat.ts'
import type { ChatPart } from '../src/domains/plugin.ts'
import { type Accounts, openAccounts } from '../src/node/accounts.ts'
import { foreignWords } from './fixtures/chat-user.ts'
import { TestNode } from './node-fixture.ts'

// The audit conversation on a real node, without a chat server: the clock, the order of pushes
// and when a message was received are in the test's hands, so races are played out exactly.

const BOSS = 'boss@x.org'

type Harness = {
  chat: ChatPart
  accounts: Accounts
  pushes: [string, string][]
  clock: { now: number }
  say(jid: string, text: string, receivedAt?: number): Promise<string[]>
  register(jid: string, audit: string): Promise<string[]>
  pushesTo(jid: string): string[]
}

let node: TestNode
const said: string[] = []
const dirs: string[] = []

async function harness({ maxCustodial }: { maxCustodial?: number } = {}): Promise<Harness> {
  const n = node.node
  let accounts = n.accounts
  if (maxCustodial !== undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'rwa-chat-accounts-'))
    dirs.push(dir)
    accounts = openAccounts(dir, { maxCustodial })
  }
  const pushes: [string, string][] = []
  const clock = { now: 1_000_000 }
  const wallets = new Map<string, PrivateKeyAccount>()
  const chat = createAuditChat({
    accounts,
    audits: n.audits,
    actions: n.actions,
    ledger: n.ledger,
    admins: [BOSS],
    send: (jid, text) => {
      pushes.push([jid, text])
      said.push(text)
    },
    now: () => clock.now++,
    onError: (e) => {
      throw e
    },
  })
  await chat.start!()
  const say = async (jid: string, text: string, receivedAt = clock.now++) => {
    const replies = (await chat.handle({ jid, text, receivedAt })) ?? ['<passed on>']
    said.push(...replies)
    return replies
  }
  const walletOf = (jid: string) => {
    if (!wallets.has(jid)) wallets.set(jid, privateKeyToAccount(generatePrivateKey()))
    return wallets.get(jid)!
  }
  return {
    chat,
    accounts,
    pushes,
    clock,
    say,
    async register(jid, audit) {
      await say(jid, audit)
      await say(jid, walletOf(jid).address)
      const key = accounts.byJid(jid)!.signer.publicKey
      return say(jid, await walletOf(jid).signMessage({ message: identityMessage(key) }))
    },
    pushesTo: (jid) => pushes.filter(([to]) => to === jid).map(([, text]) => text),
  }
}

/** Creates an audit of one item by chat and opens it (the admin's `use` moves to it). */
async function openAudit(h: Harness, name: string): Promise<void> {
  expect((await h.say(BOSS, `create ${name} 900`))[0]).toContain(`Created "${name}"`)
  await h.say(BOSS, `add ${name} item one`)
  expect((await h.say(BOSS, 'open'))[0]).toContain('is open for registration')
}

async function startAudit(h: Harness, name: string): Promise<void> {
  await h.say(BOSS, `use ${name}`)
  expect((await h.say(BOSS, 'close'))[0]).toContain('is closed with 3 auditors')
  expect((await h.say(BOSS, 'start'))[0]).toContain('has started')
  await h.chat.settled!()
}

async function answerOf(name: string, jid: string, accounts: Accounts) {
  const state = await node.node.audits.state(node.node.audits.resolve(name))
  const key = accounts.byJid(jid)!.key
  return state.inspections.find((i) => i.auditor === key)?.answer
}

beforeAll(async () => {
  node = await TestNode.start()
}, 60_000)

afterAll(async () => {
  await node?.stop()
})

describe('the audit conversation', () => {
  test('a registration left half done does not swallow the next messages', async () => {
    const h = await harness()
    await openAudit(h, 'Half A')
    for (const p of ['a1@x.org', 'a2@x.org', 'carol@x.org']) await h.register(p, 'Half A')
    await openAudit(h, 'Half B')
    expect(await h.say('carol@x.org', 'Half B')).toEqual([
      'You\'re joining "Half B". Send the Ethereum address (EIP-55 checksummed) where you want to be paid, or "cancel".',
    ])
    await startAudit(h, 'Half A')
    // Her "yes" answers the inspection she was sent, and she hears where the registration stands.
    const replies = await h.say('carol@x.org', 'yes')
    expect(replies[0]).toBe('Thanks: "yes" recorded for "Half A item one".')
    expect(replies.at(-1)).toBe(
      '(Still joining "Half B": send me your payout address, or "cancel".)',
    )
    expect(await answerOf('Half A', 'carol@x.org', h.accounts)).toBe(true)
    // Registration closes while she waits: her next message says so and is still handled.
    for (const p of ['a1@x.org', 'a2@x.org', 'a3@x.org']) await h.register(p, 'Half B')
    await h.say(BOSS, 'use Half B')
    await h.say(BOSS, 'close')
    const after = await h.say('carol@x.org', 'use Half A')
    expect(after).toEqual([
      'Registration for "Half B" closed before you finished, so you did not join it.',
      '"Half A" is auditing: you answered all your inspections; your result comes when the audit ends.',
    ])
    // An admin who sends the name of an audit they run is not walked into registering for it.
    await openAudit(h, 'Half C')
    expect((await h.say(BOSS, 'Half C'))[0]).toMatch(
      /^You run "Half C"; its admins do not audit it\./,
    )
    expect((await h.say(BOSS, 'state'))[0]).toBe(
      '"Half C" is open for registration: 1 item, 0 auditors.',
    )
  }, 60_000)

  test('a bare answer goes to the inspection shown before the message came, whatever is pushed meanwhile', async () => {
    const h = await harness()
    for (const name of ['Race A', 'Race B', 'Race C']) {
      await openAudit(h, name)
      for (const p of ['r1@x.org', 'r2@x.org', 'rita@x.org']) await h.register(p, name)
    }
    await startAudit(h, 'Race A')
    const typed = h.clock.now++ // Rita types "yes" for Race A's inspection…
    await startAudit(h, 'Race B') // …and two more are pushed before it is handled.
    await startAudit(h, 'Race C')
    expect(h.pushesTo('rita@x.org').filter((m) => m.startsWith('Audit "Race'))).toHaveLength(3)
    expect((await h.say('rita@x.org', 'yes', typed))[0]).toBe(
      'Thanks: "yes" recorded for "Race A item one".',
    )
    expect(await answerOf('Race B', 'rita@x.org', h.accounts)).toBeUndefined()
    // She picks Race B; a reminder of that same inspection, pushed while her "no" waits, does
    // not send the "no" back to an older inspection.
    expect((await h.say('rita@x.org', 'use Race B'))[0]).toMatch(/^Audit "Race B", inspection 1/)
    await h.say(BOSS, 'use Race B')
    const no = h.clock.now++
    h.clock.now += 13 * 60 * 60 * 1000 // past half the default deadline (a day)
    await h.chat.remind!()
    expect(h.pushesTo('rita@x.org').filter((m) => m.startsWith('Reminder'))).not.toHaveLength(0)
    expect((await h.say('rita@x.org', 'no', no))[0]).toBe(
      'Thanks: "no" recorded for "Race B item one".',
    )
    expect(await answerOf('Race C', 'rita@x.org', h.accounts)).toBeUndefined()
  }, 60_000)

  test('reminder passes do not overlap, and each inspection is reminded once', async () => {
    const h = await harness()
    await openAudit(h, 'Remind once')
    for (const p of ['m1@x.org', 'm2@x.org', 'm3@x.org']) await h.register(p, 'Remind once')
    await startAudit(h, 'Remind once')
    h.clock.now += 13 * 60 * 60 * 1000
    await Promise.all([h.chat.remind!(), h.chat.remind!(), h.chat.remind!()])
    await h.chat.remind!()
    expect(h.pushesTo('m1@x.org').filter((m) => m.startsWith('Reminder'))).toHaveLength(1)
  }, 60_000)

  test('counts and item numbers are checked in chat, in the right grammar', async () => {
    const h = await harness()
    await openAudit(h, 'Grammar')
    expect(await h.say(BOSS, 'del 9')).toEqual([
      '"Grammar" has 1 item, so there is no item 9; send "items" to see their numbers.',
    ])
    await h.register('g1@x.org', 'Grammar')
    expect(await h.say(BOSS, 'close')).toEqual([
      '"Grammar" has 1 registered auditor but needs at least 3 (num_audits_per_item), so it stays open for registration.',
    ])
  }, 60_000)

  test('a node that may make no more chat accounts says so in chat words, losing nothing', async () => {
    const h = await harness({ maxCustodial: 2 }) // the admin's and one auditor's
    await openAudit(h, 'Full')
    expect((await h.register('first@x.org', 'Full'))[0]).toContain('You\'re registered for "Full"')
    await h.say('second@x.org', 'Full')
    const wallet = privateKeyToAccount(generatePrivateKey())
    expect(await h.say('second@x.org', wallet.address)).toEqual([
      "This node cannot take anyone new by chat right now (it holds as many chat accounts as its operator allows); please ask the node's operator.",
    ])
    // The registration was dropped, so her next message is not taken for an address.
    expect(await h.say('second@x.org', 'hello')).toEqual(['<passed on>'])
  }, 60_000)

  test('no message in these conversations used a CLI or HTTP word', () => {
    expect(said.length).toBeGreaterThan(50)
    expect(foreignWords(said)).toEqual([])
  })
})

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})
