import { appendFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { client, type XmppClient, xml } from '@xmpp/client'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freePort } from '../src/chain/devnet.ts'
import { ETH_UNIT, formatAmount } from '../src/core/amount.ts'
import { ProsodyFixture } from './fixtures/prosody.ts'
import { TestNode } from './node-fixture.ts'
import { hasSystemService, SYSTEM_SERVICES } from './system.ts'

const PASSWORD = 'test-password-1'

/** A person in a chat client: real @xmpp/client, an inbox of what the bot said. */
class ChatUser {
  readonly inbox: string[] = []
  private cursor = 0
  private waiters: (() => void)[] = []
  readonly wallet = privateKeyToAccount(generatePrivateKey())

  private constructor(
    readonly jid: string,
    readonly xmpp: XmppClient,
    private readonly bot: string,
  ) {}

  static async connect(prosody: ProsodyFixture, user: string, bot: string): Promise<ChatUser> {
    const jid = await prosody.register(user, PASSWORD)
    const xmpp = client({
      service: prosody.service,
      domain: prosody.domain,
      username: user,
      password: PASSWORD,
      resource: 'test',
    })
    const person = new ChatUser(jid, xmpp, bot)
    xmpp.on('error', () => undefined)
    xmpp.on('stanza', (stanza) => {
      const body = stanza.is('message') ? stanza.getChildText('body') : null
      if (body === null) return
      person.inbox.push(body)
      for (const wake of person.waiters.splice(0)) wake()
    })
    await xmpp.start()
    await xmpp.send(xml('presence'))
    return person
  }

  say(text: string): Promise<void> {
    return this.xmpp.send(xml('message', { to: this.bot, type: 'chat' }, xml('body', {}, text)))
  }

  /** The next message from the bot (waits up to 10 s). */
  async next(): Promise<string> {
    const deadline = Date.now() + 10_000
    while (this.cursor >= this.inbox.length) {
      if (Date.now() > deadline) throw new Error(`${this.jid}: no message from the bot within 10 s`)
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve)
        setTimeout(resolve, 200)
      })
    }
    return this.inbox[this.cursor++]!
  }

  /** Says `text` and answers the bot's first reply. */
  async ask(text: string): Promise<string> {
    await this.say(text)
    return this.next()
  }

  /** Skips messages until one matches (waits up to 10 s for each). */
  async until(pattern: RegExp): Promise<string> {
    for (;;) {
      const message = await this.next()
      if (pattern.test(message)) return message
    }
  }

  /** Messages not read yet, after a short wait for stragglers. */
  async rest(ms = 300): Promise<string[]> {
    await new Promise((r) => setTimeout(r, ms))
    const out = this.inbox.slice(this.cursor)
    this.cursor = this.inbox.length
    return out
  }
}

const run = hasSystemService(SYSTEM_SERVICES.prosody)

describe('XMPP bot without a server', () => {
  test('the node serves HTTP while the bot retries, and stops cleanly', async () => {
    const node = await TestNode.start()
    await node.node.stop()
    const port = await freePort()
    appendFileSync(
      join(node.dataDir, 'config.toml'),
      `\n[xmpp]\nservice = "xmpp://127.0.0.1:${port}"\ndomain = "localhost"\nusername = "rwa"\npassword = "x"\n`,
    )
    node.node = TestNode.create(node.dataDir)
    await node.node.start()
    await new Promise((r) => setTimeout(r, 1500)) // the first attempt failed and a retry ran
    const { status, json } = await node.call('GET', '/status')
    expect([status, json.name]).toEqual([200, 'n1'])
    await node.stop()
  })

  test('refuses an [xmpp] section without a password, naming what to add', async () => {
    const node = await TestNode.start()
    await node.node.stop()
    appendFileSync(
      join(node.dataDir, 'config.toml'),
      '\n[xmpp]\nservice = "xmpp://127.0.0.1:5222"\ndomain = "localhost"\nusername = "rwa"\n',
    )
    expect(() => TestNode.create(node.dataDir)).toThrow(/password_file/)
    await node.stop().catch(() => undefined)
  })
})

describe.runIf(run)('XMPP bot against a real Prosody', () => {
  let prosody: ProsodyFixture
  let node: TestNode
  let admin: ChatUser
  let auditors: ChatUser[]
  let eve: ChatUser

  beforeAll(async () => {
    prosody = await ProsodyFixture.start()
    await prosody.register('rwa', PASSWORD)
    node = await TestNode.start()
    await node.node.stop()
    writeFileSync(join(node.dataDir, 'xmpp.password'), `${PASSWORD}\n`, { mode: 0o600 })
    appendFileSync(
      join(node.dataDir, 'config.toml'),
      `\n[xmpp]\nservice = "${prosody.service}"\ndomain = "localhost"\nusername = "rwa"\npassword_file = "xmpp.password"\nadmins = ["boss@localhost"]\n`,
    )
    node.node = TestNode.create(node.dataDir)
    await node.node.start()
    const bot = 'rwa@localhost'
    admin = await ChatUser.connect(prosody, 'boss', bot)
    auditors = [
      await ChatUser.connect(prosody, 'alice', bot),
      await ChatUser.connect(prosody, 'bob', bot),
      await ChatUser.connect(prosody, 'carol', bot),
    ]
    eve = await ChatUser.connect(prosody, 'eve', bot)
    // The bot logs in asynchronously: wait until it answers.
    for (let i = 0; i < 50 && admin.inbox.length === 0; i++) {
      await admin.say('help')
      await new Promise((r) => setTimeout(r, 200))
    }
    await admin.rest()
  }, 60_000)

  afterAll(async () => {
    for (const user of [admin, ...(auditors ?? []), eve])
      await user?.xmpp.stop().catch(() => undefined)
    await node?.stop()
    await prosody?.stop()
  })

  test('an admin and three auditors run an audit from creation to WAITING_FOR_CONTRACT by chat', async () => {
    expect(await admin.ask('help')).toContain('Admin commands')
    expect(await admin.ask('whatever')).toContain('Admin commands')
    expect(await admin.ask('create Street lights 900')).toContain('Created "Street lights"')
    expect(await admin.ask('create Street lights 5')).toContain(
      'An audit named "Street lights" already exists on this node',
    )
    expect(await admin.ask('add light 12 works')).toContain('Added "light 12 works"')
    expect(await admin.ask('add light 13 works')).toContain('2 items now')
    expect(await admin.ask('set num_audits_per_item 4')).toMatch(/odd/)
    expect(await admin.ask('set slashing_ratio 1/2')).toContain('Set slashing_ratio')
    expect(await admin.ask('set num_items 7')).toContain('use "add <description>"')
    expect(await admin.ask('items')).toBe('1. light 12 works\n2. light 13 works')
    expect(await admin.ask('close')).toContain('INITIALIZATION')
    expect(await admin.ask('open')).toContain('AUDITOR_REGISTRATION')

    // Strangers get help and change nothing; the admin's words mean nothing from them.
    expect(await eve.ask('hello')).toContain('send me the exact name of an audit')
    expect(await eve.ask('close')).toContain('send me the exact name of an audit')
    expect(await admin.ask('state')).toContain('AUDITOR_REGISTRATION')

    for (const [i, person] of auditors.entries()) {
      expect(await person.ask('Street lights')).toContain('Send the Ethereum address')
      if (i === 0) {
        // Swapping the case of one letter breaks the EIP-55 checksum.
        const wrong = person.wallet.address.replace(/(?<=^0x.*?)[a-fA-F]/, (c) =>
          c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase(),
        )
        expect(await person.ask(wrong)).toMatch(/checksum/i)
      }
      const challenge = await person.ask(person.wallet.address)
      const message = challenge.split('\n').at(-1)!
      expect(message).toMatch(/^rwa identity: ed25519 [0-9a-f]{64}$/)
      if (i === 1) expect(await person.ask('0x1234')).toContain('130 hex digits')
      const signature = await person.wallet.signMessage({ message })
      expect(await person.ask(signature)).toContain(`You're registered for "Street lights"`)
    }
    expect(await eve.ask('Street lights')).toContain('Send the Ethereum address')
    expect(await eve.ask('cancel')).toContain('Cancelled')

    expect(await admin.ask('close')).toContain('AUDITOR_REGISTRATION_COMPLETE')
    for (const person of auditors)
      expect(await person.next()).toContain('Registration for "Street lights" is closed')
    expect(await admin.ask('start')).toContain('AUDITING')
    const first = await Promise.all(auditors.map((person) => person.next()))
    for (const prompt of first)
      expect(prompt).toMatch(
        /inspection 1 of 2: light 1[23] works\nIs it true\? Answer yes or no\./,
      )

    expect(await auditors[0]!.ask('maybe')).toContain('Please answer yes or no')
    expect(await auditors[0]!.next()).toBe(first[0])
    expect(await admin.ask('stop')).toMatch(/3 outstanding|outstanding inspections/)

    // Alice answers once; then the node restarts and everyone gets their current inspection.
    expect(await auditors[0]!.ask(' YES ')).toContain('Thanks: "yes" recorded')
    expect(await auditors[0]!.next()).toContain('inspection 2 of 2')
    await node.restart()
    expect(await auditors[0]!.until(/inspection 2 of 2/)).toContain('Is it true?')
    expect(await auditors[1]!.until(/inspection 1 of 2/)).toContain('Is it true?')
    expect(await auditors[2]!.until(/inspection 1 of 2/)).toContain('Is it true?')

    expect(await auditors[0]!.ask('y')).toContain('Thanks')
    expect(await auditors[0]!.next()).toContain('That was your last inspection')
    for (const [person, word] of [
      [auditors[1]!, 'true'],
      [auditors[2]!, 'n'],
    ] as const) {
      expect(await person.ask(word)).toContain('Thanks')
      expect(await person.next()).toContain('inspection 2 of 2')
      expect(await person.ask(word)).toContain('Thanks')
      expect(await person.next()).toContain('That was your last inspection')
    }

    // The reply and the results notice race each other: take both, in either order.
    const stopped = [await admin.ask('stop'), await admin.next()]
    expect(stopped).toContainEqual('Done: "Street lights" is now WAITING_FOR_CONTRACT.')
    expect(stopped).toContainEqual(
      'Audit "Street lights" reached WAITING_FOR_CONTRACT. Send "results" or "settlement" to see them.',
    )
    const audit = node.node.audits.resolve('Street lights')
    const state = await node.node.audits.state(audit)
    const paid = new Map(state.settlement!.payees.map((p, i) => [p, state.settlement!.amounts[i]!]))
    for (const person of auditors) {
      const result = await person.until(/is finished/)
      const amount = /compensation is (\S+ ETH),/.exec(result)![1]!
      expect(amount).toBe(formatAmount(paid.get(person.wallet.address) ?? 0n, ETH_UNIT))
    }
    // Two aligned of 6 inspections each at 900/6: 300 for alice and bob; carol dissented twice.
    expect([...paid.values()]).toEqual([300n, 300n])
    expect(await admin.ask('results')).toContain('light 12 works: yes (2 yes, 1 no, 0 missing)')
    expect(await admin.ask('settlement')).toContain(
      'Total 0.0000000000000006 ETH, remainder 0.0000000000000003 ETH.',
    )
    expect(await auditors[0]!.ask('yes')).toContain('send me the exact name of an audit')
    expect(await eve.rest()).toEqual([])
    // Eve never gave an address: the bot made no account (and no keys) for her.
    expect(node.node.accounts.byJid('eve@localhost')).toBeUndefined()
  }, 120_000)

  test('an audit registered by Chainlink for an admin JID can be run by that JID in chat', async () => {
    const chief = await ChatUser.connect(prosody, 'chief', 'rwa@localhost')
    try {
      const registered = await node.call('POST', '/register_audit/', {
        body: {
          id: 'job-1',
          data: { name: 'From Chainlink', admin_jid: 'Chief@localhost', bond: '500' },
        },
      })
      expect(registered.json.statusCode).toBe(200)
      expect(await chief.ask('use From Chainlink')).toBe(
        'Now using "From Chainlink" (INITIALIZATION).',
      )
      expect(await chief.ask('add lamp 3 works')).toContain('Added "lamp 3 works"')
    } finally {
      await chief.xmpp.stop().catch(() => undefined)
    }
  }, 60_000)

  test('reminds auditors once half of an inspection deadline has passed', async () => {
    expect(await admin.ask('create Reminders 90')).toContain('Created')
    await admin.ask('add bench 4 is clean')
    expect(await admin.ask('set inspection_deadline 1000')).toContain('Set inspection_deadline')
    await admin.ask('open')
    for (const person of auditors) {
      await person.ask('Reminders')
      const message = (await person.ask(person.wallet.address)).split('\n').at(-1)!
      expect(await person.ask(await person.wallet.signMessage({ message }))).toContain('registered')
    }
    await admin.ask('close')
    await admin.ask('start')
    for (const person of auditors)
      expect(await person.until(/inspection 1 of 1/)).toContain('bench 4')
    await node.node.chat!.remind()
    for (const person of auditors) expect(await person.rest(100)).toEqual([])
    await new Promise((r) => setTimeout(r, 600))
    await node.node.chat!.remind()
    await node.node.chat!.remind()
    for (const person of auditors) {
      const reminders = await person.rest()
      expect(reminders).toHaveLength(1)
      expect(reminders[0]).toMatch(
        /^Reminder: half the time for this inspection has passed\.\nAudit "Reminders", inspection 1 of 1: bench 4 is clean/,
      )
    }
  }, 60_000)
})
