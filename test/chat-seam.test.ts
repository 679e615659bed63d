import '../src/net/polyfill.ts'
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { DOMAINS } from '../src/domains/index.ts'
import type { ChatMessage, ChatPart } from '../src/domains/plugin.ts'
import type { OpId } from '../src/ledger/op-id.ts'
import { OPERATOR } from '../src/node/accounts.ts'
import { loadConfig } from '../src/node/config.ts'
import { initNode } from '../src/node/init.ts'
import { createNode, type RwaNode } from '../src/node/node.ts'
import { createChat } from '../src/xmpp/chat.ts'
import { pollPlugin } from './domains/poll/index.ts'
import { CHAT_PASSWORD, ChatUser, foreignWords } from './fixtures/chat-user.ts'
import { ProsodyFixture } from './fixtures/prosody.ts'
import { hasSystemService, SYSTEM_SERVICES } from './system.ts'

// The chat seam with two domains: a node hosting the audits and the test-only polls
// (test/domains/poll/chat.ts), on a real Prosody. Each domain's part is written against the seam
// alone; the chat joins their greetings, help and status, and neither shadows the other.

const run = hasSystemService(SYSTEM_SERVICES.prosody)
const domains = [...DOMAINS, pollPlugin]
const AUDIT_GREETING = 'send me the exact name of an audit'
const POLL_GREETING = 'Polls: send "polls" to see the open ones'

/**
 * A domain's part that records who asked it and answers the texts in `answers`; a catch-all
 * (`answers` undefined) answers everything, as the audit part does for a person with an account.
 */
function part(
  name: string,
  asked: string[],
  { answers, claims }: { answers?: readonly string[]; claims?: readonly string[] } = {},
): ChatPart {
  return {
    greeting: `${name} here`,
    ...(claims ? { claims: (m: ChatMessage) => claims.includes(m.text) } : {}),
    async handle({ text }) {
      asked.push(name)
      return !answers || answers.includes(text) ? [`${name}: ${text}`] : undefined
    },
  }
}

describe('the chat asks the parts that claim a message first', () => {
  const chatOf = (parts: ChatPart[]) =>
    createChat({
      parts,
      onError: (e) => {
        throw e
      },
      reply: () => undefined,
    })

  test('a claimed message reaches a part registered after a catch-all; others keep registration order', async () => {
    const asked: string[] = []
    const chat = chatOf([
      part('audit', asked),
      part('poll', asked, { answers: ['polls'], claims: ['polls'] }),
    ])
    expect(await chat.handle('dana@example.org/phone', 'polls')).toEqual(['poll: polls'])
    expect(asked).toEqual(['poll'])
    asked.length = 0
    expect(await chat.handle('dana@example.org/phone', 'yes')).toEqual(['audit: yes'])
    expect(asked).toEqual(['audit'])
  })

  test('a claimed message its part passes on goes to the other parts, each asked once', async () => {
    const asked: string[] = []
    const chat = chatOf([
      part('audit', asked, { answers: [] }),
      part('poll', asked, { answers: [], claims: ['maybe'] }),
      part('feed', asked, { answers: ['maybe'] }),
    ])
    expect(await chat.handle('dana@example.org', 'maybe')).toEqual(['feed: maybe'])
    expect(asked).toEqual(['poll', 'audit', 'feed'])
    asked.length = 0
    expect(await chat.handle('dana@example.org', 'hello')).toEqual([
      'audit here\npoll here\nfeed here',
    ])
    expect(asked).toEqual(['audit', 'poll', 'feed'])
  })
})

describe.runIf(run)('two domains in one chat, on a real Prosody', () => {
  let prosody: ProsodyFixture
  let root: string
  let dataDir: string
  let node: RwaNode
  let boss: ChatUser
  let dana: ChatUser
  let auditors: ChatUser[]
  let hal: ChatUser
  let gus: ChatUser
  const bot = 'rwa@localhost'
  const polls: Record<string, OpId> = {}

  const startNode = async () => {
    node = createNode(loadConfig(dataDir), {
      port: 0,
      logger: pino({ level: 'silent' }),
      verifyPool: false,
      chain: { mode: 'none' },
      net: { enabled: false },
      domains,
    })
    await node.start()
  }

  /** A JSON request to the node as its operator. */
  const asOperator = async (method: string, path: string, body?: unknown) => {
    const token = readFileSync(node.accounts.tokenPath(OPERATOR), 'utf8').trim()
    const response = await fetch(`${node.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    // biome-ignore lint/suspicious/noExplicitAny: JSON answers of the poll routes
    return { status: response.status, json: (await response.json()) as any }
  }

  beforeAll(async () => {
    prosody = await ProsodyFixture.start()
    await prosody.register('rwa', CHAT_PASSWORD)
    root = mkdtempSync(join(tmpdir(), 'rwa-chat-seam-'))
    dataDir = join(root, 'n1')
    initNode({ name: 'n1', dataDir })
    writeFileSync(join(dataDir, 'xmpp.password'), `${CHAT_PASSWORD}\n`, { mode: 0o600 })
    appendFileSync(
      join(dataDir, 'config.toml'),
      `\n[xmpp]\nservice = "${prosody.service}"\ndomain = "localhost"\nusername = "rwa"\npassword_file = "xmpp.password"\nadmins = ["boss@localhost"]\n`,
    )
    await startNode()
    boss = await ChatUser.connect(prosody, 'boss', bot)
    dana = await ChatUser.connect(prosody, 'dana', bot)
    auditors = [
      dana,
      await ChatUser.connect(prosody, 'ed', bot),
      await ChatUser.connect(prosody, 'fay', bot),
    ]
    hal = await ChatUser.connect(prosody, 'hal', bot)
    gus = await ChatUser.connect(prosody, 'gus', bot)
    await boss.awaitBot()
    for (const [question, options] of [
      ['Lunch?', ['pizza', 'salad']],
      ['Which park for the picnic?', ['north', 'south']],
    ] as const) {
      const created = await asOperator('POST', '/polls', { question, options })
      expect(created.status).toBe(200)
      polls[question] = created.json.poll
    }
  }, 60_000)

  afterAll(async () => {
    for (const user of [boss, ...(auditors ?? []), hal, gus])
      await user?.xmpp.stop().catch(() => undefined)
    await node?.stop()
    await prosody?.stop()
    if (root) rmSync(root, { recursive: true, force: true })
  })

  test("a stranger's unknown text gets both domains' greetings; poll words reach the polls", async () => {
    const hello = await gus.ask('hello')
    expect(hello).toContain(AUDIT_GREETING)
    expect(hello).toContain(POLL_GREETING)
    // "help" and "status" from a stranger: neither domain knows them, so both greet.
    expect(await gus.ask('help')).toBe(hello)
    expect(await gus.ask('status')).toBe(`You have nothing going on here yet.\n${hello}`)
    // The audit part passes the poll's words on for a stranger.
    expect(await gus.ask('polls')).toBe(
      'Open polls (vote with "vote <question> <number>"):\n"Lunch?": 1. pizza  2. salad\n"Which park for the picnic?": 1. north  2. south',
    )
    expect(await gus.ask('vote LUNCH? 0')).toBe(
      '"Lunch?" has options 1 to 2: 1. pizza  2. salad. Send a number, or "cancel".',
    )
    expect(await gus.ask('cancel')).toBe('Cancelled: you did not vote in "Lunch?".')
    expect(await gus.ask('vote dinner 1')).toBe(
      'No open poll starts with "dinner". Send "polls" to see them.',
    )
    expect(await hal.ask('vote lunch 3')).toBe(
      '"Lunch?" has options 1 to 2: 1. pizza  2. salad. Send a number, or "cancel".',
    )
    // A number out of range is asked again; the next number answers it.
    expect(await hal.ask('1')).toBe('Voted "pizza" in "Lunch?". Tally: pizza 1, salad 0.')
    expect(await hal.ask('vote lunch 2')).toBe(
      'You voted "pizza" in "Lunch?" already; each person votes once.',
    )
    expect(await hal.ask('vote lunch')).toBe(
      'You voted "pizza" in "Lunch?" already; each person votes once.',
    )
    expect(await hal.ask('vote which park')).toContain(
      'Which option in "Which park for the picnic?"?',
    )
    expect(await hal.ask('cancel')).toBe(
      'Cancelled: you did not vote in "Which park for the picnic?".',
    )
    // A message that answers no question drops it and goes on to the other parts.
    expect(await hal.ask('vote which')).toContain('Which option in "Which park for the picnic?"?')
    expect(await hal.ask('status')).toContain('"Which park for the picnic?" waits for the number')
    // Hal has a custodial account (the poll made it) but no audit: both greetings, not the
    // audit part's "you have no audits".
    expect(await hal.ask('hello')).toBe(hello)
    const status = await hal.ask('status')
    expect(status).not.toContain('waits for the number')
    expect(status).not.toContain('no audits')
    // A voter who audits nothing hears the polls' help and status only.
    const help = await hal.ask('help')
    expect(help).toContain('Poll commands:')
    expect(help).not.toContain('Auditor commands')
    expect(await hal.ask('status')).toContain(
      '"Lunch?" (open): you voted "pizza"; pizza 1, salad 0.',
    )
  })

  test('someone who audits and votes hears both help and status; neither domain shadows the other', async () => {
    expect(await boss.ask('create Street lights 900')).toContain('Created "Street lights"')
    expect(await boss.ask('add light 12 works')).toContain('has 1 item now')
    expect(await boss.ask('open')).toContain('is open for registration')
    for (const person of auditors)
      expect(await person.register('Street lights')).toContain(
        `You're registered for "Street lights"`,
      )
    // Dana has an account and audits: the audit part would answer anything she says, but the
    // poll part claims its own words first.
    expect(await dana.ask('polls')).toContain('"Lunch?": 1. pizza  2. salad')
    expect(await dana.ask('vote lunch 2')).toBe(
      'Voted "salad" in "Lunch?". Tally: pizza 1, salad 1.',
    )
    const help = await dana.ask('help')
    expect(help).toContain('Auditor commands:')
    expect(help).toContain('Poll commands:')
    const status = await dana.ask('status')
    expect(status).toContain('"Street lights" (you audit it) is open for registration')
    expect(status).toContain('"Lunch?" (open): you voted "salad"; pizza 1, salad 1.')
    // The audit's own words still reach the audit part.
    expect(await dana.ask('result')).toContain('None of your audits has finished yet.')
    await dana.rest()
  })

  test('a two-step vote survives a restart, and a bare number goes to the question asked last', async () => {
    expect(await boss.ask('close')).toContain('Registration for "Street lights" is closed')
    expect(await boss.ask('start')).toContain('"Street lights" has started')
    for (const person of auditors) await person.until(/inspection 1 of 1: light 12 works/)

    // Dana is shown an inspection ("1" would mean yes to it) and then asked a poll's question.
    expect(await dana.ask('vote which park')).toBe(
      'Which option in "Which park for the picnic?"? Send its number: 1. north  2. south (or "cancel").',
    )
    await node.stop()
    const journal = (domain: string) => join(dataDir, 'chat', `${domain}.jsonl`)
    expect([existsSync(journal('audit')), existsSync(journal('poll'))]).toEqual([true, true])
    expect(readFileSync(journal('poll'), 'utf8')).toContain(polls['Which park for the picnic?'])
    await startNode()
    // Back online, the audit part re-sends the inspection she had; the poll's question waits.
    expect(await dana.until(/inspection 1 of 1/)).toMatch(/^I was restarted; where we were:/)
    expect(await dana.ask('status')).toContain(
      '"Which park for the picnic?" waits for the number of your option.',
    )
    expect(await dana.ask('1')).toBe(
      'Voted "north" in "Which park for the picnic?". Tally: north 1, south 0.',
    )
    // The audit conversation is unaffected: her "yes" answers the inspection.
    expect(await dana.ask('yes')).toBe('Thanks: "yes" recorded for "light 12 works".')
    expect(await dana.next()).toContain('That was your last inspection in "Street lights"')
    // With no question open, a number is the audit's again (here: nothing left to answer).
    expect(await dana.ask('1')).toBe('You have no inspection to answer now.')
    await dana.rest()
  })

  test("a poll's close is pushed to its voters, and only to them", async () => {
    expect((await asOperator('POST', `/polls/${polls['Lunch?']}/close`)).status).toBe(200)
    const closed = 'Poll "Lunch?" is closed. Final tally: pizza 1, salad 1.'
    expect(await hal.until(/Poll "Lunch\?" is closed/)).toBe(`${closed} You voted "pizza".`)
    expect(await dana.until(/Poll "Lunch\?" is closed/)).toBe(`${closed} You voted "salad".`)
    await node.chat!.settled()
    expect((await gus.rest()).concat(await auditors[1]!.rest())).not.toContainEqual(
      expect.stringContaining('is closed. Final tally'),
    )
    expect(await gus.ask('polls')).toBe(
      'Open polls (vote with "vote <question> <number>"):\n"Which park for the picnic?": 1. north  2. south',
    )
  })

  test('no message of either domain used a word of the CLI or the HTTP API', () => {
    expect(ChatUser.everything.length).toBeGreaterThan(30)
    expect(foreignWords(ChatUser.everything)).toEqual([])
  })
})
