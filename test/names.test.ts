import { describe, expect, test } from 'vitest'
import type { LocalAccount } from '../src/node/accounts.ts'
import { accountNames, addressHtml, keyHtml } from '../src/web/names.ts'

const account = (name: string, n: number, jid?: string) =>
  ({
    name,
    key: n.toString(16).padStart(64, '0'),
    address: `0x${n.toString(16).padStart(40, 'A')}`,
    jid,
  }) as unknown as LocalAccount

describe('accountNames', () => {
  test('names local accounts by key and address, whatever the address case', () => {
    const alice = account('alice', 1)
    const nameOf = accountNames([alice])
    expect(nameOf(alice.key)).toBe('alice')
    expect(nameOf(alice.address.toLowerCase())).toBe('alice')
    expect(keyHtml(alice.key, nameOf)).toContain('>alice<')
  })

  test('never shows a chat account’s chat address on the public pages', () => {
    const chat = account('chat-5f3a', 2, 'bob@example.org')
    const nameOf = accountNames([chat])
    expect(nameOf(chat.key)).toBeUndefined()
    expect(keyHtml(chat.key, nameOf)).not.toContain('bob@')
    expect(addressHtml(chat.address, nameOf)).not.toContain('bob@')
  })

  test('escapes names', () => {
    const evil = account('<img src=x onerror=alert(1)>', 3)
    expect(keyHtml(evil.key, accountNames([evil]))).not.toContain('<img')
  })
})
