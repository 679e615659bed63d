import type { Logger } from 'pino'
import type { Address } from 'viem'
import type { SwapBookReducer, SwapBookState, SwapBookSummary } from '../../core/swap/domain.ts'
import { SWAP_OP } from '../../core/swap/ops.ts'
import type { Ledger } from '../../ledger/ledger.ts'
import type { OpId } from '../../ledger/op-id.ts'
import type { LocalAccount } from '../../node/accounts.ts'
import type { DocIndex } from '../../node/doc-index.ts'
import { createDocActions } from '../doc-actions.ts'

// This node's public chequebook binding (issue 22): a `swap.book` document on the ledger, signed
// by the operator, naming the node's libp2p peer id, chain, chequebook, beneficiary and mode, so
// that anyone can look a peer up. Published on start when missing; updated when the chequebook,
// beneficiary or mode changed; replaced (retired, then published anew) when the chain did.

/** What the binding says. */
export type Binding = {
  readonly peerId: string
  readonly chainId: number
  readonly chequebook: Address
  readonly beneficiary: Address
  readonly mode: 'mock' | 'hard'
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex')

/**
 * Makes the ledger hold this node's binding, as `account` (the operator); the document's id.
 * @example await publishBinding({ ledger, index, account: accounts.get(OPERATOR)!, binding, logger })
 */
export async function publishBinding(options: {
  readonly ledger: Ledger
  readonly index: DocIndex<SwapBookState, SwapBookReducer, SwapBookSummary>
  readonly account: LocalAccount
  readonly binding: Binding
  readonly logger: Logger
}): Promise<OpId> {
  const { ledger, index, account, binding, logger } = options
  const actions = createDocActions(ledger, index, SWAP_OP.book)
  const owner = hex(account.signer.publicKey)
  for (const listed of index.list()) {
    if (listed.peerId !== binding.peerId || listed.state !== 'open') continue
    const state = await index.state(listed.id)
    if (state.owner !== owner) continue
    if (state.chainId !== binding.chainId) {
      await actions.act(account, listed.id, SWAP_OP.retire, {})
      continue
    }
    const changes = {
      ...(same(state.chequebook, binding.chequebook)
        ? {}
        : { chequebook: binding.chequebook.toLowerCase() }),
      ...(same(state.beneficiary, binding.beneficiary)
        ? {}
        : { beneficiary: binding.beneficiary.toLowerCase() }),
      ...(state.mode === binding.mode ? {} : { mode: binding.mode }),
    }
    if (Object.keys(changes).length > 0) {
      await actions.act(account, listed.id, SWAP_OP.update, changes)
      logger.info({ doc: listed.id, ...changes }, 'SWAP chequebook binding updated on the ledger')
    }
    return listed.id
  }
  const genesis = await actions.create(account, {
    peerId: binding.peerId,
    chainId: binding.chainId,
    chequebook: binding.chequebook.toLowerCase(),
    beneficiary: binding.beneficiary.toLowerCase(),
    mode: binding.mode,
  })
  logger.info(
    { doc: genesis.id, chequebook: binding.chequebook },
    'SWAP chequebook binding published on the ledger',
  )
  return genesis.id
}
