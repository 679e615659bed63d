import type { Logger } from 'pino'
import { type Address, getAddress, type Hex, keccak256, type LocalAccount, toBytes } from 'viem'
import type { ChainService } from '../../chain/chain-service.ts'
import { readTokenUnit } from '../../chain/token-units.ts'
import { type Cheque, recoverChequeSigner, signCheque } from '../../core/swap/cheque.ts'
import {
  ChequeRefusedError,
  type ChequeWitness,
  type ReceivedCheque,
} from '../../core/swap/receive.ts'
import { BaseError } from '../../errors/base.ts'
import { DEVNET_DEPOSIT, type SwapSettings } from './settings.ts'
import type { SwapStore } from './store.ts'
import type { BookMove, CashResult, SwapOverview, TokenInfo } from './types.ts'

// This node's chequebook (issue 22), and what it knows of peers' chequebooks. In hard mode the
// chequebook is a contract on the node's chain: deployed from the operator key on first start
// (recorded in swap.sqlite) and funded with `initial_deposit`. In mock mode it is an address the
// node signs cheques for, derived from its key: nothing on chain, taken on the peer's word.

/** Thrown when the chequebook cannot be set up or used as asked. */
export class SwapBookError extends BaseError {
  override name = 'SwapBookError' as const
  override readonly kind = 'unavailable' as const
}

/** Thrown when an operator asks for a chain action the mode has none of. */
export class SwapModeError extends BaseError {
  override name = 'SwapModeError' as const
  override readonly kind = 'conflict' as const
}

/** This node's chequebook, and the chain reads about peers' ones. */
export interface Book {
  readonly mode: 'mock' | 'hard'
  readonly chainId: number
  readonly chequebook: Address
  /** Our key: the issuer of our cheques and the beneficiary of peers' cheques. */
  readonly issuer: Address
  readonly beneficiary: Address
  readonly token: TokenInfo | null
  sign(cheque: Cheque): Promise<Hex>
  /**
   * What backs a peer's cheque: the recovered signer, the chequebook's issuer (on chain in hard
   * mode; the peer's handshake in mock mode) and, in hard mode, what it can still pay us.
   * @throws ChequeRefusedError('chequebook') when the address holds no chequebook of ours or one in another token.
   */
  witness(cheque: ReceivedCheque, announcedIssuer: Address | undefined): Promise<ChequeWitness>
  /** Whether our chequebook can pay `beneficiary` up to `cumulative` (mock: always). */
  covers(beneficiary: Address, cumulative: bigint): Promise<{ ok: boolean; liquid: bigint }>
  /** Cashes a peer's cheque on chain (hard mode). */
  cash(peer: string, cheque: ReceivedCheque): Promise<CashResult>
  deposit(amount: bigint): Promise<BookMove>
  withdraw(amount: bigint): Promise<BookMove>
  /** The chequebook on chain (hard mode), else null. */
  onChain(): Promise<SwapOverview['book']>
}

/** The chain id a node without a chain signs mock cheques for (EIP-712 needs one). */
export const MOCK_CHAIN_ID = 1337

/** The address a mock chequebook of `issuer` signs for (no contract there). */
export function mockChequebookOf(issuer: Address): Address {
  return getAddress(
    `0x${keccak256(toBytes(`rwa mock chequebook ${issuer.toLowerCase()}`)).slice(26)}`,
  )
}

/** Sets up this node's chequebook for `mode`. */
export async function openBook(options: {
  readonly mode: 'mock' | 'hard'
  readonly settings: SwapSettings
  readonly chain: ChainService | undefined
  /** The key cheques are signed with when the node has no chain (mock mode). */
  readonly account: LocalAccount | undefined
  readonly store: SwapStore
  readonly logger: Logger
}): Promise<Book> {
  const { mode, chain, settings, store, logger } = options
  const account = (chain?.wallet.account as LocalAccount | undefined) ?? options.account
  if (!account)
    throw new SwapBookError(
      'SWAP needs an Ethereum key to sign cheques with: keys/operator.eth in the data dir (rwa init makes one).',
    )
  const chainId = chain?.info.chainId ?? MOCK_CHAIN_ID
  const sign = (cheque: Cheque) => signCheque(account, cheque, chainId)
  if (mode === 'mock') {
    const chequebook = mockChequebookOf(account.address)
    const refuse = () => {
      throw new SwapModeError(
        'In mock mode the chequebook is not on chain: there is nothing to cash, deposit or withdraw. Set [domains.swap] mode = "hard" for that.',
      )
    }
    return {
      mode,
      chainId,
      chequebook,
      issuer: account.address,
      beneficiary: account.address,
      token: null,
      sign,
      async witness(cheque, announcedIssuer) {
        const signer = await recoverChequeSigner(cheque, chainId)
        // On the peer's word: its handshake names the issuer; nothing is read from a chain.
        return { signer, issuer: announcedIssuer ?? signer }
      },
      covers: async () => ({ ok: true, liquid: 0n }),
      cash: async () => refuse(),
      deposit: async () => refuse(),
      withdraw: async () => refuse(),
      onChain: async () => null,
    }
  }
  if (!chain)
    throw new SwapBookError(
      'SWAP in hard mode needs a chain to keep the chequebook on; run with a chain, or set [domains.swap] mode = "mock".',
    )
  const chequebookLib = await import('../../chain/chequebook.ts')
  const { client, wallet } = chain
  const tokenAddress = settings.token ? (getAddress(settings.token) as Address) : chain.info.token
  const chequebook = await ensureChequebook()
  const token = await readChequebookTokenInfo()
  const issuers = new Map<string, Address>()
  logger.info({ chequebook, chainId, token: token.address }, 'SWAP chequebook ready')

  async function ensureChequebook(): Promise<Address> {
    const configured = settings.chequebook
    const key = `chequebook:${chainId}`
    const known = configured ?? store.getMeta(key)
    if (known) {
      const address = getAddress(known)
      if (!(await chequebookLib.isChequebook(client, address)))
        throw new SwapBookError(
          `No chequebook of rwa's is at ${address} on chain ${chainId}; fix [domains.swap] chequebook, or remove it to deploy one.`,
        )
      const view = await chequebookLib.readChequebook(client, address)
      if (view.issuer.toLowerCase() !== account!.address.toLowerCase())
        throw new SwapBookError(
          `The chequebook ${address} is issued by ${view.issuer}, not by this node's key ${account!.address}; give one of this node's own.`,
        )
      return address
    }
    if (!tokenAddress)
      throw new SwapBookError(
        `The chain ${chainId} has no test token and [domains.swap] names none: set token = "0x…" (the ERC-20 cheques pay in).`,
      )
    const address = await chequebookLib.deployChequebook(wallet, client, { token: tokenAddress })
    store.setMeta(key, address)
    const deposit = settings.initial_deposit ?? (chain!.info.devnet ? DEVNET_DEPOSIT : 0n)
    if (deposit > 0n)
      await chequebookLib.depositToChequebook(wallet, client, {
        chequebook: address,
        amount: deposit,
      })
    logger.info({ chequebook: address, deposit: deposit.toString() }, 'SWAP chequebook deployed')
    return address
  }

  async function readChequebookTokenInfo(): Promise<TokenInfo> {
    const address = await chequebookLib.readChequebookToken(client, chequebook)
    const unit = await readTokenUnit(client, address).catch(() => undefined)
    return {
      address,
      symbol: unit?.symbol ?? null,
      decimals: unit?.decimals ?? null,
    }
  }

  /** A peer's chequebook's issuer, once it is known to be a chequebook of ours in our token. */
  async function issuerOf(address: Address): Promise<Address> {
    const key = address.toLowerCase()
    const known = issuers.get(key)
    if (known) return known
    if (!(await chequebookLib.isChequebook(client, address)))
      throw new ChequeRefusedError(
        'chequebook',
        `No chequebook of rwa's is at ${address} on chain ${chainId}; pay from a chequebook deployed there.`,
      )
    const view = await chequebookLib.readChequebook(client, address)
    if (view.token.toLowerCase() !== token.address.toLowerCase())
      throw new ChequeRefusedError(
        'chequebook',
        `The chequebook ${address} pays in ${view.token}, not in this node's token ${token.address}.`,
      )
    issuers.set(key, view.issuer)
    return view.issuer
  }

  const move = async (hash: Hex): Promise<BookMove> => {
    const view = await chequebookLib.readChequebook(client, chequebook)
    return { txHash: hash, balance: view.balance }
  }

  return {
    mode,
    chainId,
    chequebook,
    issuer: account.address,
    beneficiary: account.address,
    token,
    sign,
    async witness(cheque) {
      const [signer, issuer] = await Promise.all([
        recoverChequeSigner(cheque, chainId),
        issuerOf(cheque.chequebook),
      ])
      const [liquid, paidOut] = await Promise.all([
        chequebookLib.readLiquidBalanceFor(client, cheque.chequebook, cheque.beneficiary),
        chequebookLib.readPaidOut(client, cheque.chequebook, cheque.beneficiary),
      ])
      return { signer, issuer, cover: { liquid, paidOut } }
    },
    async covers(beneficiary, cumulative) {
      const [liquid, paidOut] = await Promise.all([
        chequebookLib.readLiquidBalanceFor(client, chequebook, beneficiary),
        chequebookLib.readPaidOut(client, chequebook, beneficiary),
      ])
      return { ok: cumulative - paidOut <= liquid, liquid }
    },
    async cash(peer, cheque) {
      const cashed = await chequebookLib.cashChequeBeneficiary(wallet, client, { cheque })
      return {
        peer,
        txHash: cashed.txHash,
        paid: cashed.paid,
        cumulativePayout: cashed.cumulativePayout,
        bounced: cashed.bounced,
        at: Date.now(),
      }
    },
    deposit: async (amount) =>
      move(await chequebookLib.depositToChequebook(wallet, client, { chequebook, amount })),
    withdraw: async (amount) =>
      move(await chequebookLib.withdrawFromChequebook(wallet, client, { chequebook, amount })),
    async onChain() {
      const view = await chequebookLib.readChequebook(client, chequebook)
      return {
        balance: view.balance,
        liquidBalance: view.liquidBalance,
        totalPaidOut: view.totalPaidOut,
        bounced: view.bounced,
      }
    },
  }
}
