import { esc } from './layout.ts'

/**
 * Pages of a block explorer (`[chain] explorer_url`), laid out as Etherscan's and Blockscout's:
 * `<url>/tx/<hash>` and `<url>/address/<address>`.
 */
export type Explorer = {
  tx(hash: string): string
  address(address: string): string
}

/** The explorer at `url` (no trailing slash), or undefined when none is configured. */
export function explorerAt(url: string | undefined): Explorer | undefined {
  if (!url) return undefined
  return {
    tx: (hash) => `${url}/tx/${encodeURIComponent(hash)}`,
    address: (address) => `${url}/address/${encodeURIComponent(address)}`,
  }
}

/** A transaction hash in a page: a link to the explorer when there is one. */
export function txHtml(hash: string, explorer: Explorer | undefined): string {
  return explorer
    ? `<a class="addr" href="${esc(explorer.tx(hash))}" rel="noreferrer">${esc(hash)}</a>`
    : `<span class="addr">${esc(hash)}</span>`
}
