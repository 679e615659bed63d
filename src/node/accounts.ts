import { createHash, randomBytes } from 'node:crypto'
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from 'viem/accounts'
import type { Address } from '../core/identity.ts'
import { BaseError } from '../errors/base.ts'
import type { Signer } from '../ledger/keys.ts'
import {
  generateSigner,
  readEthKeyFile,
  readKeyFile,
  readSecretFile,
  writeEthKeyFile,
  writeKeyFile,
  writeSecretFile,
} from '../store/key-file.ts'
import { DEFAULT_MAX_ACCOUNTS } from './config.ts'

/** The account every node has: the operator's keys, created by `rwa init`. */
export const OPERATOR = 'operator'

/**
 * A local account: keys the node holds and signs with when the account's bearer token asks it
 * to (the convenience routes). Its Ethereum key proves its payout address at registration.
 */
export type LocalAccount = {
  readonly name: string
  readonly signer: Signer
  /** Hex Ed25519 public key: how audits name this account. */
  readonly key: string
  readonly address: Address
  /** The chat address bound to this account, if any (an admin's JID). */
  readonly jid: string | undefined
  /** Signs the EIP-191 message that binds `key` to `address`. */
  signMessage(message: string): Promise<`0x${string}`>
  /** The account's Ethereum key as a viem account (to withdraw its payouts on chain). */
  readonly ethAccount: PrivateKeyAccount
}

/** Thrown when a bearer token is missing or matches no account. */
export class UnauthorizedError extends BaseError {
  override name = 'UnauthorizedError' as const
  override readonly kind = 'unauthorised' as const
}

/** Thrown when an account name or chat address is taken. */
export class AccountError extends BaseError {
  override name = 'AccountError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when the node already holds as many custodial chat accounts as it may create. */
export class AccountQuotaError extends BaseError {
  override name = 'AccountQuotaError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when an account name is not one rwa can use as a file name. */
export class InvalidAccountNameError extends BaseError {
  override name = 'InvalidAccountNameError' as const
  override readonly kind = 'invalid' as const
}

/** The local accounts of a node, kept in `<dataDir>/keys` (secrets, mode 0600) and `accounts/`. */
export type Accounts = {
  list(): LocalAccount[]
  get(name: string): LocalAccount | undefined
  byJid(jid: string): LocalAccount | undefined
  /** The first local account among these Ed25519 keys (hex), e.g. an audit's admins. */
  among(keys: readonly string[]): LocalAccount | undefined
  /** The account a bearer token belongs to. @throws UnauthorizedError */
  authenticate(header: string | undefined): LocalAccount
  /** Creates an account with fresh keys (or an imported Ethereum key); returns its token once. */
  create(options: { name: string; jid?: string | undefined; ethKey?: `0x${string}` | undefined }): {
    account: LocalAccount
    token: string
  }
  /**
   * The custodial account bound to a chat address, created (named after its hash) if missing.
   * @throws AccountQuotaError when it is missing and the node holds `maxCustodial` already.
   */
  custodialFor(jid: string): LocalAccount
  /** Path of an account's token file (the CLI and dashboard users read it). */
  tokenPath(name: string): string
}

/**
 * A chat address as accounts store it: the bare JID (no resource), lowercase, so
 * "Boss@Example.org/phone" and "boss@example.org" are one person.
 * @throws InvalidAccountNameError when it is not user@domain.
 */
export function normalizeJid(jid: string): string {
  const bare = bareJid(jid)
  if (!/^[^@\s/\p{Cc}]{1,256}@[^@\s/\p{Cc}]{1,256}$/u.test(bare))
    throw new InvalidAccountNameError(
      `${JSON.stringify(jid.slice(0, 80))} is not a chat address; give one such as alice@example.org.`,
    )
  return bare
}

/** A JID without its resource, lower-cased (unchecked). */
const bareJid = (jid: string) => jid.trim().split('/')[0]!.toLowerCase()

/** Custodial accounts are named after a hash of the JID: JIDs hold characters names may not. */
export function custodialAccountName(jid: string): string {
  return `jid-${createHash('sha256').update(jid).digest('hex').slice(0, 20)}`
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64')

const CUSTODIAL_NAME = /^jid-[0-9a-f]{20}$/

/** Options of `openAccounts`. */
export type AccountsOptions = {
  /**
   * Custodial accounts (`[xmpp] max_accounts`) created at most: each holds key files, and an
   * unauthenticated route (`register_audit` with a new `admin_jid`) can ask for one.
   */
  maxCustodial?: number | undefined
}

/** Opens the accounts of the node in `dataDir`, loading every key once. */
export function openAccounts(
  dataDir: string,
  { maxCustodial = DEFAULT_MAX_ACCOUNTS }: AccountsOptions = {},
): Accounts {
  const keys = join(dataDir, 'keys')
  const meta = join(dataDir, 'accounts')
  const accounts = new Map<string, LocalAccount>()
  // Keyed by the token's SHA-256: a lookup reveals nothing useful about other tokens' bytes.
  const tokens = new Map<string, LocalAccount>()

  const load = (name: string) => {
    const signer = readKeyFile(join(keys, `${name}.key`))
    const eth = privateKeyToAccount(readEthKeyFile(join(keys, `${name}.eth`)))
    const info = existsSync(join(meta, `${name}.json`))
      ? (JSON.parse(readFileSync(join(meta, `${name}.json`), 'utf8')) as { jid?: string })
      : {}
    const account: LocalAccount = {
      name,
      signer,
      key: Buffer.from(signer.publicKey).toString('hex'),
      address: eth.address,
      // Accounts bound before JIDs were normalized may hold a full or mixed-case JID.
      jid: typeof info.jid === 'string' ? bareJid(info.jid) : undefined,
      signMessage: (message) => eth.signMessage({ message }),
      ethAccount: eth,
    }
    accounts.set(name, account)
    const token = readSecretFile(join(keys, `${name}.token`)).trim()
    tokens.set(sha256(token), account)
  }

  if (existsSync(keys))
    for (const file of readdirSync(keys).sort())
      if (file.endsWith('.key')) load(file.slice(0, -'.key'.length))

  return {
    list: () => [...accounts.values()],
    get: (name) => accounts.get(name),
    byJid(jid) {
      const wanted = bareJid(jid)
      return [...accounts.values()].find((a) => a.jid === wanted)
    },
    among: (keys) => [...accounts.values()].find((a) => keys.includes(a.key)),
    authenticate(header) {
      const token = /^Bearer\s+(\S+)$/i.exec(header ?? '')?.[1]
      if (!token)
        throw new UnauthorizedError(
          'This action needs an account: send "Authorization: Bearer <token>" with the token from the data dir\'s keys/<account>.token.',
        )
      const found = tokens.get(sha256(token))
      if (!found) throw new UnauthorizedError('The bearer token matches no account of this node.')
      return found
    },
    create({ name, jid: given, ethKey }) {
      const jid = given === undefined ? undefined : normalizeJid(given)
      if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(name))
        throw new InvalidAccountNameError(
          `"${name}" is not a usable account name; use 1 to 64 lowercase letters, digits, ".", "_" or "-".`,
        )
      if (accounts.has(name) || existsSync(join(keys, `${name}.key`)))
        throw new AccountError(`Account "${name}" already exists; choose another name.`)
      if (jid && [...accounts.values()].some((a) => a.jid === jid))
        throw new AccountError(`The chat address "${jid}" is already bound to an account.`)
      const token = `rwa_${randomBytes(24).toString('base64url')}`
      // Files of a creation that a crash cut short (no Ed25519 key yet, so never loaded and its
      // token never handed out): start that account again rather than refuse it for good.
      for (const leftover of [`${name}.eth`, `${name}.token`])
        if (existsSync(join(keys, leftover))) unlinkSync(join(keys, leftover))
      writeEthKeyFile(join(keys, `${name}.eth`), ethKey ?? generatePrivateKey())
      writeSecretFile(join(keys, `${name}.token`), `${token}\n`)
      mkdirSync(meta, { recursive: true })
      writeFileSync(join(meta, `${name}.json`), `${JSON.stringify({ name, jid }, null, 2)}\n`)
      // The Ed25519 key last: its presence is what marks the account as complete.
      writeKeyFile(join(keys, `${name}.key`), generateSigner())
      load(name)
      return { account: accounts.get(name)!, token }
    },
    custodialFor(given) {
      const jid = normalizeJid(given)
      const existing = this.byJid(jid)
      if (existing) return existing
      let custodial = 0
      for (const name of accounts.keys()) if (CUSTODIAL_NAME.test(name)) custodial++
      if (custodial >= maxCustodial)
        throw new AccountQuotaError(
          `This node already holds ${custodial} custodial chat accounts, its limit ([xmpp] max_accounts = ${maxCustodial}), so "${jid.slice(0, 80)}" gets none; use a chat address that has an account, or raise max_accounts in config.toml.`,
        )
      return this.create({ name: custodialAccountName(jid), jid }).account
    },
    tokenPath: (name) => join(keys, `${name}.token`),
  }
}
