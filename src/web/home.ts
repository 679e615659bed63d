import type { ChainInfo } from '../chain/chain-service.ts'
import type { Explorer } from './explorer.ts'
import { esc, layout } from './layout.ts'
import { addressHtml } from './names.ts'

/** The node page: status and chain, then each domain's card (its documents, a form to create one). */
export function homePage({
  name,
  version,
  ops,
  docs,
  peers,
  chain,
  explorer,
  cards,
}: {
  name: string
  version: string
  ops: number
  docs: number
  peers: number
  chain: ChainInfo | undefined
  /** The block explorer the escrow's address links to (`[chain] explorer_url`). */
  explorer?: Explorer | undefined
  /** Each domain's section of the page, in registration order. */
  cards: readonly string[]
}): string {
  const body = `<section id="status"><h1>Node “${esc(name)}”</h1>
<div class="grid">
<div><span>version</span>${esc(version)}</div>
<div><span>ops</span>${ops}</div>
<div><span>documents</span>${docs}</div>
<div><span>peers</span>${peers}</div>
<div><span>chain</span>${chain ? `${chain.devnet ? 'devnet ' : ''}${chain.chainId}` : 'none'}</div>
</div>
${chain ? `<p class="muted">Escrow ${addressHtml(chain.escrow, () => undefined, explorer)} at <span class="addr">${esc(chain.rpcUrl)}</span></p>` : ''}
</section>
${cards.join('\n')}`
  return layout({ title: 'Node', node: name, body, page: 'home', live: true })
}
