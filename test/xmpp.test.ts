import { appendFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { freePort } from '../src/chain/devnet.ts'
import { ETH_UNIT, formatAmount } from '../src/core/amount.ts'
import { CHAT_PASSWORD, ChatUser, foreignWords } from './fixtures/chat-user.ts'
import { ProsodyFixture } from './fixtures/prosody.ts'
import { TestNode } from './node-fixture.ts'
import { hasSystemService, SYSTEM_SERVICES } from './system.ts'

const PASSWORD = CHAT_PASSWORD

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
  const bot = 'rwa@localhost'

  beforeAll(async () => {
    prosody = await ProsodyFixture.start()
    await prosody.register('rwa', PASSWORD)
    node = await TestNode.start()
    await node.node.stop()
    writeFileSync(join(node.dataDir, 'xmpp.password'), `${PASSWORD}\n`, { mode: 0o600 })
    appendFileSync(
      join(node.dataDir, 'config.toml'),
      `\n[xmpp]\nservice = "${prosody.service}"\ndomain = "localhost"\nusername = "rwa"\npassword_file = "xmpp.password"\nadmins = ["boss@localhost", "ivan@localhost"]\n`,
    )
    node.node = TestNode.create(node.dataDir)
    await node.node.start()
    admin = await ChatUser.connect(prosody, 'boss', bot)
    auditors = [
      await ChatUser.connect(prosody, 'alice', bot),
      await ChatUser.connect(prosody, 'bob', bot),
      await ChatUser.connect(prosody, 'carol', bot),
    ]
    eve = await ChatUser.connect(prosody, 'eve', bot)
    await admin.awaitBot()
  }, 60_000)

  afterAll(async () => {
    for (const user of [admin, ...(auditors ?? []), eve])
      await user?.xmpp.stop().catch(() => undefined)
    await node?.stop()
    await prosody?.stop()
  })

  test('an admin and three auditors run an audit from creation to its results by chat', async () => {
    expect(await admin.ask('help')).toContain('Admin commands')
    expect(await admin.ask('whatever')).toBe('I did not understand "whatever".')
    expect(await admin.next()).toContain('Admin commands')
    expect(await admin.ask('create Street lights 900')).toContain('Created "Street lights"')
    expect(await admin.ask('create Street lights 5')).toContain(
      'An audit named "Street lights" already exists on this node',
    )
    // Grammar for one and for many.
    expect(await admin.ask('add light 12 works')).toBe(
      'Added "light 12 works". "Street lights" has 1 item now.',
    )
    expect(await admin.ask('add light 13 works')).toContain('has 2 items now')
    expect(await admin.ask('set num_audits_per_item 4')).toMatch(/odd/)
    expect(await admin.ask('set slashing_ratio 1/2')).toContain('Set slashing_ratio')
    expect(await admin.ask('set num_items 7')).toContain('use "add <description>"')
    // A setting chat does not know is answered with chat's names, not the API's.
    const unknownSetting = await admin.ask('set slashingratio 1/3')
    expect(unknownSetting).toContain('num_audits_per_item|slashing_ratio|inspection_deadline')
    expect(unknownSetting).not.toMatch(/slashingRatio|auditsPerItem/)
    expect(await admin.ask('items')).toBe('1. light 12 works\n2. light 13 works')
    expect(await admin.ask('close')).toBe(
      '"Street lights" is being set up; "close" works only while it is open for registration.',
    )
    expect(await admin.ask('open')).toContain('is open for registration')

    // Strangers get help and change nothing; the admin's words mean nothing from them.
    expect(await eve.ask('hello')).toContain('send me the exact name of an audit')
    expect(await eve.ask('close')).toContain('send me the exact name of an audit')
    expect(await admin.ask('state')).toBe(
      '"Street lights" is open for registration: 2 items, 0 auditors.',
    )

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
      if (i === 2) {
        // Signed by another wallet: said in chat's words, and the step stays where it is.
        const other = privateKeyToAccount(generatePrivateKey())
        const wrong = await person.ask(await other.signMessage({ message }))
        expect(wrong).toContain(`That signature is not from the wallet of ${person.wallet.address}`)
        expect(wrong).toContain(message)
      }
      const signature = await person.wallet.signMessage({ message })
      expect(await person.ask(signature)).toContain(`You're registered for "Street lights"`)
    }
    // Sending the name again says at once that she is registered (no address, no signature).
    expect(await auditors[0]!.ask('Street lights')).toBe(
      `You're already registered for "Street lights", paid to ${auditors[0]!.wallet.address}. Your first inspection comes when the audit starts.`,
    )
    expect(await eve.ask('Street lights')).toContain('Send the Ethereum address')
    expect(await eve.ask('cancel')).toContain('Cancelled')

    expect(await admin.ask('close')).toBe(
      'Registration for "Street lights" is closed with 3 auditors. Send "start" to send out the inspections.',
    )
    for (const person of auditors)
      expect(await person.next()).toContain('Registration for "Street lights" is closed')
    expect(await admin.ask('start')).toBe(
      '"Street lights" has started: 6 inspections went out to 3 auditors.',
    )
    const first = await Promise.all(auditors.map((person) => person.next()))
    for (const prompt of first)
      expect(prompt).toMatch(
        /inspection 1 of 2: light 1[23] works\nIs it true\? Answer yes or no\./,
      )

    expect(await auditors[0]!.ask('maybe')).toContain('Please answer yes or no')
    expect(await auditors[0]!.next()).toBe(first[0])
    // Stop with open inspections: chat's words ("stop force"), auditors by JID.
    const refused = await admin.ask('stop')
    expect(refused).toContain('"Street lights" has 6 outstanding inspections:')
    expect(refused).toContain('alice@localhost')
    expect(refused).toContain('send "stop force"')
    const outstanding = await admin.ask('outstanding_inspections')
    expect(outstanding).toMatch(/light 1[23] works: (alice|bob|carol)@localhost/)

    // Alice answers once; then the node restarts and everyone gets their current inspection.
    expect(await auditors[0]!.ask(' YES ')).toContain('Thanks: "yes" recorded')
    expect(await auditors[0]!.next()).toContain('inspection 2 of 2')
    await node.restart()
    const resumed = await auditors[0]!.until(/inspection 2 of 2/)
    expect(resumed).toMatch(/^I was restarted; where we were:\nAudit "Street lights"/)
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
    expect(stopped).toContainEqual('"Street lights" is stopped. Its results come next.')
    expect(stopped.join('\n')).toContain(
      'Audit "Street lights" is finished: send "results" for its results, or "settlement" for what it pays each auditor.',
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
    const results = await admin.ask('results')
    expect(results).toContain('light 12 works: yes (2 yes, 1 no, 0 missing)')
    expect(results).toContain('alice@localhost: 2 aligned, 0 misaligned, 0 missing')
    expect(await admin.ask('settlement')).toContain(
      'Total 0.0000000000000006 ETH, remainder 0.0000000000000003 ETH.',
    )
    // A finished auditor is not a stranger: a late answer, help and her result.
    expect(await auditors[0]!.ask('yes')).toBe('You have no inspection to answer now.')
    expect(await auditors[0]!.next()).toContain(
      '"Street lights" (you audit it) is finished and waiting to be funded and settled on chain',
    )
    expect(await auditors[0]!.ask('help')).toContain('Auditor commands')
    expect(await auditors[1]!.ask('when do I get paid?')).toBe(
      'I did not understand "when do I get paid?".',
    )
    expect(await auditors[1]!.next()).toBe(
      '"Street lights" (you audit it) is finished and waiting to be funded and settled on chain: send "result Street lights" for your result.\nSend "help" for the commands.',
    )
    expect(await auditors[2]!.ask('result')).toMatch(
      /^Audit "Street lights": of your 2 inspections, 0 matched the majority, 2 did not and 0 went unanswered; your compensation is 0 ETH/,
    )
    expect(await auditors[0]!.ask('result Street lights')).toContain(
      'of your 2 inspections, 2 matched the majority',
    )
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
        'Now using "From Chainlink" (being set up).',
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

  /** Drops what the users have not read yet (pushes of earlier tests). */
  const drain = (...people: ChatUser[]) => Promise.all(people.map((p) => p.rest(100)))

  /** The admin creates and opens an audit of `items` by chat. */
  async function openAudit(by: ChatUser, name: string, items: string[]): Promise<void> {
    await drain(by)
    expect(await by.ask(`create ${name} 900`)).toContain(`Created "${name}"`)
    for (const item of items) expect(await by.ask(`add ${item}`)).toContain('Added')
    expect(await by.ask('open')).toContain(
      'is open for registration: auditors join by sending me its exact name.',
    )
  }

  /** The inspections of `person` in audit `name`, in the order they were given. */
  async function inspectionsOf(name: string, person: ChatUser) {
    const state = await node.node.audits.state(node.node.audits.resolve(name))
    const key = node.node.accounts.byJid(person.jid)!.key
    const items = new Map(state.items.map((i) => [i.id, i.description]))
    return state.inspections
      .filter((i) => i.auditor === key)
      .map((i) => ({ item: items.get(i.item), status: i.status, answer: i.answer }))
  }

  test('a burst of ten messages is answered in order and nothing is lost', async () => {
    await drain(admin, ...auditors)
    expect(await admin.ask('create Burst 900')).toContain('Created "Burst"')
    const adds = Array.from({ length: 9 }, (_, i) => `add b${i + 1}`)
    await admin.burst([...adds, 'items'])
    const replies = await admin.take(10)
    // In the order sent, each seeing the ones before it.
    expect(replies.slice(0, 9).map((r) => /Added "(b\d)"/.exec(r)?.[1])).toEqual(
      adds.map((a) => a.slice(4)),
    )
    expect(replies.slice(0, 9).map((r) => /(\d+) items? now/.exec(r)?.[1])).toEqual(
      adds.map((_, i) => `${i + 1}`),
    )
    expect(replies[9]).toBe(adds.map((_, i) => `${i + 1}. b${i + 1}`).join('\n'))
    expect(replies.slice(0, 9)).toEqual(
      adds.map(
        (_, i) => `Added "b${i + 1}". "Burst" has ${i === 0 ? '1 item' : `${i + 1} items`} now.`,
      ),
    )
    expect(replies[9]).toBe(adds.map((_, i) => `${i + 1}. b${i + 1}`).join('\n'))
    expect(await admin.ask('open')).toContain(
      'is open for registration: auditors join by sending me its exact name.',
    )
    for (const person of auditors) {
      // The name and the address back to back: the address is taken as the next step.
      await person.burst(['Burst', person.wallet.address])
      const [joining, challenge] = await person.take(2)
      expect(joining).toContain('You\'re joining "Burst". Send the Ethereum address')
      expect(challenge).toContain(`paid to ${person.wallet.address}. Now prove`)
      const message = challenge!.split('\n').at(-1)!
      expect(await person.ask(await person.wallet.signMessage({ message }))).toContain('registered')
    }
    expect(await admin.ask('close')).toContain(
      'is closed with 3 auditors. Send "start" to send out the inspections.',
    )
    expect(await admin.ask('start')).toContain('has started:')
    for (const person of auditors) await person.until(/^Audit "Burst", inspection 1 of 9/)
    // Yes, no, yes within a few ms: three inspections answered, in that order.
    await Promise.all(auditors.map((person) => person.burst(['yes', 'no', 'yes'])))
    for (const person of auditors) {
      const got = await person.take(6)
      expect(
        got.filter((m) => m.startsWith('Thanks')).map((m) => /"(yes|no)"/.exec(m)![1]),
      ).toEqual(['yes', 'no', 'yes'])
      expect(got.at(-1)).toMatch(/^Audit "Burst", inspection 4 of 9/)
      const answered = (await inspectionsOf('Burst', person)).slice(0, 4)
      expect(answered.map((i) => i.answer)).toEqual([true, false, true, undefined])
    }
  }, 120_000)

  test('replies go to the device that wrote, pushes to the person (every device)', async () => {
    const pc = await ChatUser.connect(prosody, 'dave', bot, {
      resource: 'pc',
      priority: 5,
      carbons: true,
    })
    const phone = await ChatUser.connect(prosody, 'dave', bot, {
      resource: 'phone',
      priority: 0,
      carbons: true,
      register: false,
    })
    // A client that never sends presence still gets its replies.
    const quiet = await ChatUser.connect(prosody, 'frank', bot, { priority: null })
    try {
      expect(await quiet.ask('hello')).toContain('send me the exact name of an audit')
      await openAudit(admin, 'Devices', ['the door is locked'])
      expect(await phone.ask('Devices')).toContain('You\'re joining "Devices"')
      const challenge = await phone.ask(phone.wallet.address)
      const message = challenge.split('\n').at(-1)!
      expect(await phone.ask(await phone.wallet.signMessage({ message }))).toContain(
        'You\'re registered for "Devices"',
      )
      // The pc saw those replies only as carbon copies.
      expect(await pc.rest()).toEqual([])
      expect(await pc.carbon(/You're registered for "Devices"/)).toBeTruthy()
      for (const person of auditors.slice(0, 2))
        expect(await person.register('Devices')).toContain('registered')
      expect(await admin.ask('close')).toContain(
        'is closed with 3 auditors. Send "start" to send out the inspections.',
      )
      // A push goes to the bare JID: the pc (highest priority) gets it, and the phone its copy.
      expect(await pc.until(/Registration for "Devices" is closed/)).toBeTruthy()
      expect(await phone.carbon(/Registration for "Devices" is closed/)).toBeTruthy()
    } finally {
      for (const user of [pc, phone, quiet]) await user.stop()
    }
  }, 60_000)

  test('an auditor in two running audits answers the one last shown, or names it', async () => {
    await openAudit(admin, 'Bridges', ['the old bridge has a speed limit sign'])
    await openAudit(admin, 'Parks', ['the pond is clean'])
    for (const person of auditors) {
      expect(await person.register('Bridges')).toContain('registered')
      expect(await person.register('Parks')).toContain('registered')
    }
    for (const name of ['Bridges', 'Parks']) {
      expect(await admin.ask(`use ${name}`)).toContain(`Now using "${name}"`)
      expect(await admin.ask('close')).toContain(
        'is closed with 3 auditors. Send "start" to send out the inspections.',
      )
      expect(await admin.ask('start')).toContain('has started:')
    }
    const [alice, bob, carol] = auditors as [ChatUser, ChatUser, ChatUser]
    for (const person of auditors) await person.until(/^Audit "Parks", inspection 1 of 1/)
    await drain(...auditors)
    // Carol was shown Parks last: her bare "y" is for the pond, not for the bridge.
    expect(await carol.ask('y')).toBe('Thanks: "yes" recorded for "the pond is clean".')
    expect(await carol.next()).toContain('That was your last inspection in "Parks"')
    await drain(carol)
    expect(await carol.ask('answer Bridges no')).toBe(
      'Thanks: "no" recorded for "the old bridge has a speed limit sign".',
    )
    // Bob picks Bridges with "use", then answers it bare.
    expect(await bob.ask('use Bridges')).toMatch(/^Audit "Bridges", inspection 1 of 1/)
    expect(await bob.ask('yes')).toBe(
      'Thanks: "yes" recorded for "the old bridge has a speed limit sign".',
    )
    await drain(bob)
    // A near-miss name in "answer" is explained, and nothing is recorded.
    expect(await alice.ask('answer parks yes')).toBe(
      'You audit no audit named "parks"; did you mean "Parks"?',
    )
    const status = await alice.ask('status')
    expect(status).toContain(
      '"Parks" (you audit it) is auditing: this inspection waits for your answer:\n  Audit "Parks", inspection 1 of 1: the pond is clean',
    )
    expect(status).toContain('"Street lights" (you audit it) is finished')
    expect((await inspectionsOf('Parks', carol))[0]!.answer).toBe(true)
    expect((await inspectionsOf('Bridges', carol))[0]!.answer).toBe(false)
    expect((await inspectionsOf('Bridges', bob))[0]!.answer).toBe(true)
    expect((await inspectionsOf('Parks', alice))[0]!.status).toBe('outstanding')
    // After a restart every open inspection comes again, the one shown last coming last: a bare
    // answer still goes where it went before.
    expect(await alice.ask('use Bridges')).toMatch(/^Audit "Bridges", inspection 1 of 1/)
    await node.restart()
    expect(await alice.until(/^I was restarted; where we were:\nAudit "Bridges"/)).toBeTruthy()
    expect(await alice.rest()).toEqual([])
    expect(await alice.ask('no')).toBe(
      'Thanks: "no" recorded for "the old bridge has a speed limit sign".',
    )
  }, 120_000)

  test('registration survives a restart between every pair of steps', async () => {
    await openAudit(admin, 'Restarts', ['the gate is open'])
    const hana = await ChatUser.connect(prosody, 'hana', bot)
    try {
      expect(await hana.ask('Restarts')).toContain('Send the Ethereum address')
      await node.restart()
      expect(await hana.next()).toBe(
        'I was restarted; where we were:\nYou\'re joining "Restarts". Send the Ethereum address (EIP-55 checksummed) where you want to be paid, or "cancel".',
      )
      expect(await hana.ask(hana.wallet.address)).toContain('Now prove the address is yours')
      await node.restart()
      const resumed = await hana.next()
      expect(resumed).toMatch(
        /^I was restarted; where we were:\nYou're joining "Restarts", paid to 0x[0-9a-fA-F]{40}\. Now prove/,
      )
      const message = resumed.split('\n').at(-1)!
      expect(await hana.ask(await hana.wallet.signMessage({ message }))).toBe(
        `You're registered for "Restarts", paid to ${hana.wallet.address}. Your first inspection comes when the audit starts.`,
      )
      // Registering again is answered at once.
      expect(await hana.ask('Restarts')).toContain('You\'re already registered for "Restarts"')
    } finally {
      await hana.stop()
    }
  }, 90_000)

  test('an admin may audit elsewhere; after a restart one finished audit is still "the" audit', async () => {
    const ivan = await ChatUser.connect(prosody, 'ivan', bot)
    try {
      await openAudit(ivan, 'Solo', ['the lamp is on'])
      // Boss runs audits of his own and joins Ivan's as an auditor.
      await drain(admin)
      expect(await admin.register('Solo')).toContain('You\'re registered for "Solo"')
      for (const person of auditors.slice(0, 2))
        expect(await person.register('Solo')).toContain('registered')
      expect(await ivan.ask('close')).toContain(
        'is closed with 3 auditors. Send "start" to send out the inspections.',
      )
      expect(await ivan.ask('start')).toContain('has started:')
      for (const person of [admin, ...auditors.slice(0, 2)]) {
        await person.until(/^Audit "Solo", inspection 1 of 1/)
        expect(await person.ask('yes')).toContain('recorded for "the lamp is on"')
      }
      expect(await ivan.ask('stop')).toBe('"Solo" is stopped. Its results come next.')
      const handedOver = await node.call('POST', '/data_dump/', {
        body: { id: 'job-solo', data: { name: 'Solo' } },
      })
      expect(handedOver.json.data.state).toBe('COMPLETE')
      expect(await ivan.until(/^Audit "Solo" is complete/)).toContain('Chainlink job')
      await node.restart()
      await drain(ivan)
      expect(await ivan.ask('state')).toBe('"Solo" is settled: 1 item, 3 auditors.')
    } finally {
      await ivan.stop()
    }
  }, 120_000)

  test('a near-miss audit name gets "did you mean"', async () => {
    await openAudit(admin, 'Grüne Wiese', ['the grass is cut'])
    await drain(eve)
    for (const typed of ['grüne wiese', 'Gru\u0308ne Wiese', 'Grüne  Wiese', 'Grüne Wiesse'])
      expect(await eve.ask(typed)).toBe(
        `No open audit is named "${typed}"; did you mean "Grüne Wiese"? Send its exact name to join it.`,
      )
  }, 60_000)

  test('no message in this file used a word of the CLI or the HTTP API', () => {
    expect(ChatUser.everything.length).toBeGreaterThan(100)
    expect(foreignWords(ChatUser.everything)).toEqual([])
  })
})
