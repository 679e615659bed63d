import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from 'pino'
import {
  type Address,
  createPublicClient,
  createWalletClient,
  type Hex,
  http,
  type PublicClient,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { auditEscrowAbi, testTokenAbi } from './artifacts.ts'
import { countedHttp } from './counted-transport.ts'
import { type Devnet, startDevnet } from './devnet.ts'
import { ChainError } from './errors.ts'
import { chainFor, deployEscrow, deployTestToken, type Wallet } from './escrow.ts'
import { deployMultiPartyEscrow, readMpeToken } from './mpe.ts'

/** How a node reaches its chain: an embedded anvil (default), any RPC URL, or none. */
export type ChainOptions =
  | { readonly mode: 'devnet' }
  | {
      readonly mode: 'rpc'
      readonly rpcUrl: string
      readonly escrow?: Address | undefined
      /** A MultiPartyEscrow already on that chain (none is deployed there). */
      readonly mpe?: Address | undefined
    }
  | { readonly mode: 'none' }

/** What `GET /chain` tells clients: where to fund, settle and withdraw. */
export type ChainInfo = {
  readonly chainId: number
  readonly rpcUrl: string
  readonly escrow: Address
  /** The devnet's test ERC-20 (devnet only). */
  readonly token: Address | undefined
  /**
   * The MultiPartyEscrow of payment channels: over the test token on the devnet, `[chain] mpe`
   * on another chain, else none.
   */
  readonly mpe: Address | undefined
  readonly devnet: boolean
  /** The node's signing address (its operator's Ethereum key). */
  readonly signer: Address
}

/** The node's connection to its chain. */
export type ChainService = {
  readonly info: ChainInfo
  readonly client: PublicClient
  readonly wallet: Wallet
  /** JSON-RPC calls of `client` and `wallet` that failed so far (for `/metrics`). */
  rpcErrors(): number
  stop(): Promise<void>
}

type Recorded = { chainId: number; escrow: Address; token?: Address; mpe?: Address }

const DEVNET_ETH = 10_000n * 10n ** 18n
const DEVNET_TOKENS = 10n ** 27n

/**
 * Connects a node to its chain. On the devnet it starts anvil (state kept in the data dir across
 * clean restarts), gives the operator ETH and test tokens, and deploys AuditEscrow (the operator
 * as its one signer, threshold 1) and TestToken unless they are already there. On another chain
 * it uses `escrow` from the config, or deploys one on first start. On the devnet it also deploys
 * a MultiPartyEscrow over the test token; on another chain it uses `mpe` from the config, if any.
 * Addresses are recorded in `<dataDir>/chain.json`.
 */
export async function startChain({
  dataDir,
  options,
  operatorKey,
  logger,
}: {
  dataDir: string
  options: ChainOptions
  operatorKey: Hex
  logger: Logger
}): Promise<ChainService | undefined> {
  if (options.mode === 'none') return undefined
  let devnet: Devnet | undefined
  if (options.mode === 'devnet') {
    mkdirSync(join(dataDir, 'devnet'), { recursive: true })
    devnet = await startDevnet({
      stateFile: join(dataDir, 'devnet', 'state.json'),
      pidFile: join(dataDir, 'devnet', 'anvil.pid'),
    })
  }
  const rpcUrl = devnet?.rpcUrl ?? (options as { rpcUrl: string }).rpcUrl
  try {
    const probe = createPublicClient({ transport: http(rpcUrl) })
    const chainId = await probe.getChainId().catch((cause: unknown) => {
      throw new ChainError(
        `No EVM JSON-RPC answers at ${rpcUrl}; check --rpc-url, or run with --no-chain.`,
        { cause },
      )
    })
    const chain = chainFor(chainId, rpcUrl)
    const failed = { errors: 0 }
    const transport = countedHttp(rpcUrl, failed)
    const client = createPublicClient({ chain, transport }) as PublicClient
    const account = privateKeyToAccount(operatorKey)
    const wallet = createWalletClient({ account, chain, transport }) as Wallet
    if (devnet) await fundOperator(client, account.address)
    const recorded = await ensureContracts({
      dataDir,
      client,
      wallet,
      chainId,
      devnet: !!devnet,
      configured: options.mode === 'rpc' ? options.escrow : undefined,
    })
    const mpe =
      options.mode === 'rpc'
        ? await configuredMpe(client, chainId, options.mpe)
        : await ensureDevnetMpe(dataDir, client, wallet, recorded)
    if (devnet && recorded.token) await mintOnce(client, wallet, recorded.token)
    const info: ChainInfo = {
      chainId,
      rpcUrl,
      escrow: recorded.escrow,
      token: recorded.token,
      mpe,
      devnet: !!devnet,
      signer: account.address,
    }
    logger.info(info, devnet ? 'devnet ready' : 'chain ready')
    return {
      info,
      client,
      wallet,
      rpcErrors: () => failed.errors,
      async stop() {
        await devnet?.stop()
      },
    }
  } catch (error) {
    await devnet?.stop()
    throw error
  }
}

async function fundOperator(client: PublicClient, address: Address): Promise<void> {
  const balance = await client.getBalance({ address })
  if (balance >= DEVNET_ETH / 2n) return
  await client.request({
    method: 'anvil_setBalance' as never,
    params: [address, `0x${DEVNET_ETH.toString(16)}`] as never,
  })
}

async function mintOnce(client: PublicClient, wallet: Wallet, token: Address): Promise<void> {
  const balance = await client.readContract({
    address: token,
    abi: testTokenAbi,
    functionName: 'balanceOf',
    args: [wallet.account.address],
  })
  if (balance > 0n) return
  const hash = await wallet.writeContract({
    address: token,
    abi: testTokenAbi,
    functionName: 'mint',
    args: [wallet.account.address, DEVNET_TOKENS],
  })
  await client.waitForTransactionReceipt({ hash })
}

async function hasCode(client: PublicClient, address: Address | undefined): Promise<boolean> {
  if (!address) return false
  const code = await client.getCode({ address })
  return code !== undefined && code !== '0x'
}

async function ensureContracts({
  dataDir,
  client,
  wallet,
  chainId,
  devnet,
  configured,
}: {
  dataDir: string
  client: PublicClient
  wallet: Wallet
  chainId: number
  devnet: boolean
  configured: Address | undefined
}): Promise<Recorded> {
  const all = readRecords(dataDir)
  const key = devnet ? 'devnet' : String(chainId)
  if (configured) {
    if (!(await hasCode(client, configured)))
      throw new ChainError(
        `No contract at the configured escrow ${configured} on chain ${chainId}; check [chain] escrow.`,
      )
    return { chainId, escrow: configured }
  }
  const known = all[key]
  if (
    known &&
    known.chainId === chainId &&
    (await hasCode(client, known.escrow)) &&
    (!devnet || (await hasCode(client, known.token)))
  )
    return known
  const escrow = await deployEscrow(wallet, client, {
    signers: [wallet.account.address],
    threshold: 1n,
  })
  const token = devnet ? await deployTestToken(wallet, client) : undefined
  // A new test token needs a new MultiPartyEscrow over it, so `mpe` is dropped with the rest.
  const recorded: Recorded = { chainId, escrow, ...(token ? { token } : {}) }
  record(dataDir, key, recorded)
  return recorded
}

function readRecords(dataDir: string): Record<string, Recorded> {
  const file = join(dataDir, 'chain.json')
  return existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, Recorded>)
    : {}
}

function record(dataDir: string, key: string, recorded: Recorded): void {
  const all = readRecords(dataDir)
  all[key] = recorded
  writeFileSync(join(dataDir, 'chain.json'), `${JSON.stringify(all, null, 2)}\n`)
}

/** The devnet's MultiPartyEscrow over its test token: the recorded one, else a new one. */
async function ensureDevnetMpe(
  dataDir: string,
  client: PublicClient,
  wallet: Wallet,
  recorded: Recorded,
): Promise<Address | undefined> {
  if (!recorded.token) return undefined
  if (await hasCode(client, recorded.mpe)) return recorded.mpe
  const mpe = await deployMultiPartyEscrow(wallet, client, recorded.token)
  record(dataDir, 'devnet', { ...recorded, mpe })
  return mpe
}

/** `[chain] mpe`, once it is known to answer as a MultiPartyEscrow. */
async function configuredMpe(
  client: PublicClient,
  chainId: number,
  mpe: Address | undefined,
): Promise<Address | undefined> {
  if (!mpe) return undefined
  await readMpeToken(client, mpe).catch((cause: unknown) => {
    throw new ChainError(
      `No MultiPartyEscrow answers at the configured mpe ${mpe} on chain ${chainId}; check [chain] mpe.`,
      { cause },
    )
  })
  return mpe
}

/** What the escrow holds for an audit: how much was funded, and whether it was paid out. */
export async function escrowAudit(
  service: ChainService,
  auditId: Hex,
): Promise<{ token: Address; funded: bigint; settled: boolean }> {
  const [, token, funded, settled] = (await service.client.readContract({
    address: service.info.escrow,
    abi: auditEscrowAbi,
    functionName: 'audits',
    args: [auditId],
  })) as readonly [Address, Address, bigint, boolean]
  return { token, funded, settled }
}
