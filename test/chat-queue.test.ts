import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import type { ChatMessage, ChatPart } from '../src/domains/plugin.ts'
import { createChat } from '../src/xmpp/chat.ts'
import { journalMemory } from '../src/xmpp/conversations.ts'

/** A chat part that answers "n: text" after a random wait, counting per person. */
function slowCounter(): ChatPart & { seen: ChatMessage[] } {
  const counts = new Map<string, number>()
  const seen: ChatMessage[] = []
  return {
    seen,
    greeting: 'hello',
    async handle(message) {
      const n = (counts.get(message.jid) ?? 0) + 1
      counts.set(message.jid, n)
      seen.push(message)
      await new Promise((r) => setTimeout(r, Math.random() * 5))
      return [`${n}: ${message.text}`]
    },
  }
}

describe('the chat answers each person in order', () => {
  test('a burst from two devices of one person and from another person: in order, none lost', async () => {
    const part = slowCounter()
    const sent: { to: string; text: string }[] = []
    let clock = 0
    const chat = createChat({
      parts: [part],
      onError: (e) => {
        throw e
      },
      reply: (to, text) => sent.push({ to, text }),
      now: () => ++clock,
    })
    for (let i = 1; i <= 10; i++) {
      chat.receive(i % 2 ? 'Bob@example.org/phone' : 'bob@example.org/pc', `m${i}`)
      chat.receive('carol@example.org/x', `c${i}`)
    }
    await chat.idle()
    const bob = sent.filter((s) => s.to.startsWith('bob') || s.to.startsWith('Bob'))
    expect(bob.map((s) => s.text)).toEqual(
      Array.from({ length: 10 }, (_, i) => `${i + 1}: m${i + 1}`),
    )
    // Each reply went to the device that wrote.
    expect(bob.map((s) => s.to)).toEqual(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0 ? 'Bob@example.org/phone' : 'bob@example.org/pc',
      ),
    )
    expect(sent.filter((s) => s.to.startsWith('carol')).map((s) => s.text)).toEqual(
      Array.from({ length: 10 }, (_, i) => `${i + 1}: c${i + 1}`),
    )
    // Every message keeps the time it came (odd ticks: Bob's), not when it was handled.
    const times = part.seen.filter((m) => m.jid === 'bob@example.org').map((m) => m.receivedAt)
    expect(times).toEqual(Array.from({ length: 10 }, (_, i) => 2 * i + 1))
  })

  test('past the queue limit a message is refused with a reply naming it; later ones are taken', async () => {
    const part = slowCounter()
    const sent: string[] = []
    const chat = createChat({
      parts: [part],
      onError: () => undefined,
      reply: (_to, text) => sent.push(text),
      queueLimit: 3,
    })
    for (let i = 1; i <= 5; i++) chat.receive('eve@example.org/a', `x${i}`)
    await chat.idle()
    expect(sent.filter((t) => t.includes('did not take'))).toEqual([
      'You sent more than 3 messages before I could answer, so I did not take "x4". Send it again once I have answered the others.',
      'You sent more than 3 messages before I could answer, so I did not take "x5". Send it again once I have answered the others.',
    ])
    expect(sent.filter((t) => /^\d:/.test(t))).toEqual(['1: x1', '2: x2', '3: x3'])
    chat.receive('eve@example.org/a', 'x6')
    await chat.idle()
    expect(sent.at(-1)).toBe('4: x6')
  })

  test('too many people waiting at once: the next one hears "busy"; a failing part does not block a person', async () => {
    const sent: { to: string; text: string }[] = []
    let fail = true
    const errors: unknown[] = []
    const chat = createChat({
      parts: [
        {
          greeting: 'hi',
          async handle(m) {
            await new Promise((r) => setTimeout(r, 5))
            if (fail && m.text === 'boom') throw new Error('bug')
            return [`ok ${m.text}`]
          },
        },
      ],
      onError: (e) => errors.push(e),
      reply: (to, text) => sent.push({ to, text }),
      maxSenders: 2,
    })
    chat.receive('a@x/1', 'boom')
    chat.receive('b@x/1', 'one')
    chat.receive('c@x/1', 'two')
    await chat.idle()
    expect(sent).toContainEqual({
      to: 'c@x/1',
      text: `I'm answering many people right now and did not take "two"; please send it again in a minute.`,
    })
    expect(sent).toContainEqual({
      to: 'a@x/1',
      text: 'Something went wrong on my side; please try again in a moment.',
    })
    expect(errors).toHaveLength(1)
    fail = false
    chat.receive('a@x/1', 'again')
    await chat.idle()
    expect(sent.at(-1)).toEqual({ to: 'a@x/1', text: 'ok again' })
  })

  test("a stranger's whitespace is ignored; a long message is previewed, not echoed whole", async () => {
    const sent: string[] = []
    const chat = createChat({
      parts: [slowCounter()],
      onError: () => undefined,
      reply: (_to, text) => sent.push(text),
      queueLimit: 1,
    })
    chat.receive('z@x/1', '   ')
    chat.receive('z@x/1', `${'A'.repeat(3000)}\n\u0007`)
    await chat.idle()
    expect(sent).toHaveLength(1)
    expect(sent[0]!.length).toBeLessThan(300)
    expect(sent[0]).toContain('…')
    chat.receive('z@x/1', 'one')
    chat.receive('z@x/1', 'two\u001b[31m\u0007')
    await chat.idle()
    expect(sent).toContain(
      'You sent more than 1 message before I could answer, so I did not take "two[31m". Send it again once I have answered the others.',
    )
  })
})

describe('conversations kept in a journal', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
  })
  const journal = () => {
    const dir = mkdtempSync(join(tmpdir(), 'rwa-journal-'))
    dirs.push(dir)
    return join(dir, 'chat', 'audit.jsonl')
  }

  test('survive a reopen, skip a line torn by a crash, and are private to the node', () => {
    const path = journal()
    const memory = journalMemory(path)
    memory.set('alice@x', { joining: { audit: 'a', name: 'A', at: 1 } })
    memory.set('bob@x', { use: 'b' })
    memory.set('alice@x', { joining: { audit: 'a', name: 'A', payout: '0x1', at: 1 } })
    memory.set('bob@x', undefined)
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"j":"carol@x","v":{"us`)
    let skipped = 0
    const again = journalMemory(path, { onSkipped: (n) => (skipped = n) })
    expect(skipped).toBe(1)
    expect(again.entries()).toEqual([
      ['alice@x', { joining: { audit: 'a', name: 'A', payout: '0x1', at: 1 } }],
    ])
    expect(statSync(path).mode & 0o777).toBe(0o600)
  })

  test('keep the most recently touched up to the limit, and compact the file', () => {
    const path = journal()
    const memory = journalMemory(path, { max: 3 })
    for (let i = 0; i < 5; i++) memory.set(`p${i}@x`, { n: i })
    memory.set('p2@x', { n: 22 })
    expect(memory.entries().map(([j]) => j)).toEqual(['p3@x', 'p4@x', 'p2@x'])
    for (let i = 0; i < 2000; i++) memory.set('p4@x', { n: i })
    expect(readFileSync(path, 'utf8').split('\n').length).toBeLessThan(1100)
    expect(journalMemory(path, { max: 3 }).entries()).toEqual([
      ['p3@x', { n: 3 }],
      ['p2@x', { n: 22 }],
      ['p4@x', { n: 1999 }],
    ])
  })

  test('keep the first record written after a crash tore the last line', () => {
    const path = journal()
    journalMemory(path).set('alice@x', { use: 'a' })
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"j":"bob@x","v":{"us`)
    journalMemory(path).set('dave@x', { use: 'd' })
    expect(journalMemory(path).entries()).toEqual([
      ['alice@x', { use: 'a' }],
      ['dave@x', { use: 'd' }],
    ])
  })

  test('a flood of disposable records forgets its own kind first, never the others', () => {
    const path = journal()
    const memory = journalMemory(path, { max: 6, maxDisposable: 2 })
    for (let i = 0; i < 3; i++) memory.set(`kept${i}@x`, { use: `a${i}` })
    for (let i = 0; i < 50; i++) memory.set(`junk${i}@x`, { joining: i }, { disposable: true })
    const jids = (m: typeof memory) => m.entries().map(([j]) => j)
    expect(jids(memory)).toEqual(['kept0@x', 'kept1@x', 'kept2@x', 'junk48@x', 'junk49@x'])
    // A disposable record that becomes a real one is kept like the others.
    memory.set('junk49@x', { joining: 49, payout: '0x1' })
    for (let i = 50; i < 60; i++) memory.set(`junk${i}@x`, { joining: i }, { disposable: true })
    const reopened = journalMemory(path, { max: 6, maxDisposable: 2 })
    expect(jids(reopened)).toEqual([
      'kept0@x',
      'kept1@x',
      'kept2@x',
      'junk49@x',
      'junk58@x',
      'junk59@x',
    ])
  })

  test('refuse a record over 16 kB without writing it', () => {
    const path = journal()
    const memory = journalMemory(path)
    expect(() => memory.set('x@x', { big: 'a'.repeat(20_000) })).toThrow(/over 16384/)
    expect(memory.get('x@x')).toBeUndefined()
  })
})
