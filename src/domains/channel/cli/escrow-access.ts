import {
  type Address,
  createPublicClient,
  createWalletClient,
  getAddress,
  type Hex,
  http,
  isAddress,
  isAddressEqual,
  type PublicClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import type { ChainInfo } from '../../../chain/chain-service.ts'
import { chainFor, type Wallet } from '../../../chain/escrow.ts'
import { readChannel, readMpeToken } from '../../../chain/mpe.ts'
import { readTokenUnit } from '../../../chain/token-units.ts'
import type { NodeClient } from '../../../cli/client.ts'
import type { TokenUnit } from '../../../core/amount.ts'
import { ChannelClientError } from './client-errors.ts'
import type { ReadChainChannel } from './recover-state.ts'
import { fetchServiceTerms, type ServiceTerms, serviceUrl } from './service-terms.ts'

// Where a client's channel commands reach the escrow: a service's terms (`--service`), an escrow
// and RPC given outright (`--escrow`, `--rpc`), or else the node's chain (`GET /chain`).

/** The escrow a command works on, over a chain the client reads itself. */
export type EscrowAccess = {
  readonly escrow: Address
  readonly chainId: number
  readonly rpcUrl: string
  readonly client: PublicClient
  /** The escrow's token, as the token contract tells it. */
  readonly unit: TokenUnit
  /** The service's terms, when reached through one. */
  readonly terms?: ServiceTerms | undefined
  readonly service?: URL | undefined
}

/** How a command names its escrow. */
export type EscrowSource = {
  readonly service?: string | undefined
  readonly escrow?: string | undefined
  readonly rpc?: string | undefined
  /** The node to ask (`GET /chain`) when neither a service nor an escrow is given. */
  readonly node: NodeClient
}

function assertRpcUrl(rpc: string): string {
  if (/^https?:\/\/[^/\s]/.test(rpc)) return rpc
  throw new ChannelClientError(`--rpc "${rpc.slice(0, 80)}" is not an http(s) URL; give one.`)
}

async function chainOf(
  rpcUrl: string,
  expected?: number,
): Promise<{ client: PublicClient; chainId: number }> {
  const probe = createPublicClient({ transport: http(rpcUrl) })
  const chainId = await probe.getChainId()
  if (expected !== undefined && chainId !== expected)
    throw new ChannelClientError(
      `The RPC at ${rpcUrl} serves chain ${chainId}, but the service's escrow is on chain ${expected}; give --rpc of chain ${expected}.`,
    )
  const client = createPublicClient({ chain: chainFor(chainId, rpcUrl), transport: http(rpcUrl) })
  return { client: client as PublicClient, chainId }
}

/** The escrow and chain a command names, its token's unit read from the chain. */
export async function escrowAccess(source: EscrowSource): Promise<EscrowAccess> {
  return accessFor(await locate(source))
}

/**
 * The access to an escrow over `rpc` (default: the terms' RPC): the chain must be the terms'
 * chain and hold the token the terms name.
 */
export async function accessFor({
  escrow,
  rpc,
  terms,
  service,
}: {
  escrow: Address
  rpc?: string | undefined
  terms?: ServiceTerms | undefined
  service?: URL | undefined
}): Promise<EscrowAccess> {
  const rpcUrl = rpc === undefined ? terms?.rpcUrl : assertRpcUrl(rpc)
  if (rpcUrl === undefined)
    throw new ChannelClientError('Give --rpc <url>: the chain the escrow is on.')
  const { client, chainId } = await chainOf(rpcUrl, terms?.chainId)
  const token = await readMpeToken(client, escrow)
  if (terms && !isAddressEqual(terms.token.address as Address, token))
    throw new ChannelClientError(
      `The service says its escrow ${escrow} holds token ${terms.token.address}, but the chain says ${token}; the service is misconfigured or lying.`,
    )
  const unit = await readTokenUnit(client, token)
  return { escrow, chainId, rpcUrl, client, unit, terms, service }
}

async function locate(source: EscrowSource) {
  const rpc = source.rpc === undefined ? undefined : assertRpcUrl(source.rpc)
  if (source.service !== undefined) {
    const service = serviceUrl(source.service)
    const terms = await fetchServiceTerms(service)
    return { escrow: getAddress(terms.escrow), rpc, terms, service }
  }
  if (source.escrow !== undefined) {
    if (!isAddress(source.escrow, { strict: false }))
      throw new ChannelClientError(
        `--escrow "${source.escrow.slice(0, 80)}" is not an address; give 0x and 40 hex digits.`,
      )
    if (rpc === undefined)
      throw new ChannelClientError('--escrow needs --rpc <url>: the chain the escrow is on.')
    return { escrow: getAddress(source.escrow), rpc, terms: undefined, service: undefined }
  }
  const info = await source.node.get<ChainInfo>('/chain')
  if (!info.mpe || !isAddress(info.mpe, { strict: false }))
    throw new ChannelClientError(
      `The node at ${source.node.url} has no MultiPartyEscrow; give --service <url> or --escrow and --rpc.`,
    )
  return { escrow: getAddress(info.mpe), rpc: rpc ?? info.rpcUrl }
}

/** A wallet over the access's chain for the client's Ethereum key. */
export function walletOf(access: EscrowAccess, key: Hex): Wallet {
  return createWalletClient({
    account: privateKeyToAccount(key),
    chain: chainFor(access.chainId, access.rpcUrl),
    transport: http(access.rpcUrl),
  }) as Wallet
}

/** Reads channels of the access's escrow (for checking a service's word). */
export function channelReader(client: PublicClient, escrow: Address): ReadChainChannel {
  return (channelId) => readChannel(client, escrow, channelId)
}
