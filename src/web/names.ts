import type { LocalAccount } from '../node/accounts.ts'
import type { Explorer } from './explorer.ts'
import { esc } from './layout.ts'

/** The name a key (hex Ed25519) or address (0x…) goes by on this node, if it has one. */
export type NameOf = (keyOrAddress: string) => string | undefined

/**
 * Names of this node's local accounts, by Ed25519 key and by payout address. Chat accounts are
 * left out: their chat address is personal, and the pages are public.
 */
export function accountNames(accounts: readonly LocalAccount[]): NameOf {
  const names = new Map<string, string>()
  for (const account of accounts) {
    // A chat account's only name is its chat address, which pages open to anyone must not
    // show: it keeps its key or address.
    if (account.jid) continue
    const name = account.name
    names.set(account.key, name)
    names.set(account.address.toLowerCase(), name)
  }
  return (id) => names.get(id.toLowerCase())
}

/** An Ed25519 key in a page: its name with the key on hover, else the key's first 16 digits. */
export function keyHtml(key: string, nameOf: NameOf): string {
  const name = nameOf(key)
  return name
    ? `<span class="name" title="${esc(key)}">${esc(name)}</span>`
    : `<span class="addr" title="${esc(key)}">${esc(key.slice(0, 16))}…</span>`
}

/**
 * An Ethereum address in a page: its name with the address on hover, else the address; a link
 * to the explorer when there is one.
 */
export function addressHtml(address: string, nameOf: NameOf, explorer?: Explorer): string {
  const name = nameOf(address)
  const text = name ? esc(name) : esc(address)
  const cls = name ? 'name' : 'addr'
  return explorer
    ? `<a class="${cls}" href="${esc(explorer.address(address))}" title="${esc(address)}" rel="noreferrer">${text}</a>`
    : `<span class="${cls}" title="${esc(address)}">${text}</span>`
}
