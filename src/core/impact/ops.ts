import { z } from 'zod'
import { BaseError } from '../../errors/base.ts'

// The impact domain's op types and bodies. A community is one document: its genesis names the
// governors; registry changes (the original's Super User extrinsics) are proposals that apply once
// `threshold` governors have signed them; users request approval, the proxy service assigns,
// decides and settles, assigned auditors vote, oracles attest. Every chain fact (the current
// block, a deposit, a settlement transaction) enters as a claim signed by the proxy, never as a
// node's own view, so validity stays a function of an op's causal past.

/** Thrown for an impact op its role may not sign (a stranger's registry change, a vote by a non-auditor). */
export class ImpactForbiddenError extends BaseError {
  override name = 'ImpactForbiddenError' as const
  override readonly kind = 'forbidden' as const
}

/** Thrown for an impact op refused in the community's state (a duplicate, a decided request, a missing record). */
export class ImpactRefusedError extends BaseError {
  override name = 'ImpactRefusedError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown for a reference that names no impact community. */
export class ImpactNotFoundError extends BaseError {
  override name = 'ImpactNotFoundError' as const
  override readonly kind = 'not-found' as const
}

/** The op types, by the original extrinsic they carry where there is one. */
export const IMPACT_OP = {
  create: 'impact.create',
  /** createCategory(uid, description) */
  createCategory: 'impact.category.create',
  destroyCategory: 'impact.category.destroy',
  createImpactAction: 'impact.action.create',
  destroyImpactAction: 'impact.action.destroy',
  createOracle: 'impact.oracle.create',
  destroyOracle: 'impact.oracle.destroy',
  createAuditor: 'impact.auditor.create',
  destroyAuditor: 'impact.auditor.destroy',
  createProxy: 'impact.proxy.create',
  destroyProxy: 'impact.proxy.destroy',
  setToken: 'impact.token.set',
  setGovernors: 'impact.governors.set',
  approve: 'impact.approve',
  requestApproval: 'impact.request',
  attest: 'impact.attest',
  vote: 'impact.vote',
  assignAuditor: 'impact.assign',
  destroyAssignedAuditor: 'impact.unassign',
  decide: 'impact.decide',
  expire: 'impact.expire',
  deposit: 'impact.deposit',
  batch: 'impact.batch',
  signBatch: 'impact.batch.sign',
  settled: 'impact.batch.settled',
} as const

/** The registry changes: proposals a governor signs, applied at `threshold` governors. */
export const REGISTRY_OPS: ReadonlySet<string> = new Set([
  IMPACT_OP.createCategory,
  IMPACT_OP.destroyCategory,
  IMPACT_OP.createImpactAction,
  IMPACT_OP.destroyImpactAction,
  IMPACT_OP.createOracle,
  IMPACT_OP.destroyOracle,
  IMPACT_OP.createAuditor,
  IMPACT_OP.destroyAuditor,
  IMPACT_OP.createProxy,
  IMPACT_OP.destroyProxy,
  IMPACT_OP.setToken,
  IMPACT_OP.setGovernors,
])

/** The ops only a proxy signs: they form one chain, each seeing every earlier one. */
export const PROXY_OPS: ReadonlySet<string> = new Set([
  IMPACT_OP.assignAuditor,
  IMPACT_OP.destroyAssignedAuditor,
  IMPACT_OP.decide,
  IMPACT_OP.expire,
  IMPACT_OP.deposit,
  IMPACT_OP.batch,
  IMPACT_OP.settled,
])

const key = z
  .string()
  .regex(/^[0-9a-f]{64}$/)
  .describe('Ed25519 public key, 64 lowercase hex digits')
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/)
  .describe('EIP-55 address')
const uid = z.number().int().min(1).max(0xffff_ffff).describe('id > 0 (the original u32)')
const opRef = z.string().min(1).max(100).describe('the id of an op of this community')
const amount = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/)
  .describe('base units, decimal')
const block = z
  .number()
  .int()
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .describe("the settlement chain's block number, as the proxy claims it")
const hash32 = z
  .string()
  .regex(/^0x[0-9a-f]{64}$/)
  .describe('32 bytes, 0x-prefixed lowercase hex')
const token = z
  .number()
  .int()
  .min(0)
  .max(0xffff_ffff)
  .describe('0 the native coin, n a token id of the registry')
const configuration = (what: string) =>
  z.string().min(13).max(8191).describe(`the ${what} configuration, JSON text as the original's`)

/** The most governors a community names. */
export const MAX_GOVERNORS = 32

export const createBody = z
  .object({
    name: z.string().min(1).max(100).describe("the community's name"),
    governors: z.array(key).min(1).max(MAX_GOVERNORS).optional(),
    threshold: z.number().int().min(1).max(MAX_GOVERNORS).optional(),
    blocksPerDay: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe("blocks of the settlement chain per day (maxdays' unit); default 7200"),
  })
  .strict()

export const BODIES = {
  [IMPACT_OP.create]: createBody,
  [IMPACT_OP.createCategory]: z.object({ uid, description: z.string().min(1).max(127) }).strict(),
  [IMPACT_OP.destroyCategory]: z.object({ uid }).strict(),
  [IMPACT_OP.createImpactAction]: z
    .object({ uid, configuration: configuration('impact action') })
    .strict(),
  [IMPACT_OP.destroyImpactAction]: z.object({ uid }).strict(),
  [IMPACT_OP.createOracle]: z
    .object({
      uid,
      configuration: configuration('oracle'),
      payout: address.optional().describe('where its rewards are paid'),
    })
    .strict(),
  [IMPACT_OP.destroyOracle]: z.object({ uid }).strict(),
  [IMPACT_OP.createAuditor]: z
    .object({
      account: key,
      configuration: configuration('auditor'),
      payout: address.describe('where its rewards and returned stake are paid'),
    })
    .strict(),
  [IMPACT_OP.destroyAuditor]: z.object({ account: key }).strict(),
  [IMPACT_OP.createProxy]: z.object({ uid, account: key }).strict(),
  [IMPACT_OP.destroyProxy]: z.object({ uid }).strict(),
  [IMPACT_OP.setToken]: z.object({ id: uid, address }).strict(),
  [IMPACT_OP.setGovernors]: z
    .object({
      governors: z.array(key).min(1).max(MAX_GOVERNORS),
      threshold: z.number().int().min(1).max(MAX_GOVERNORS),
    })
    .strict(),
  [IMPACT_OP.approve]: z.object({ proposal: opRef }).strict(),
  [IMPACT_OP.requestApproval]: z
    .object({
      info: z.string().min(2).max(8192).describe('the approval request, JSON text'),
      payout: address.describe('where the reward is paid'),
    })
    .strict(),
  [IMPACT_OP.attest]: z
    .object({ request: opRef, otherinfo: z.string().max(1024).optional() })
    .strict(),
  [IMPACT_OP.vote]: z
    .object({ request: opRef, vote: z.string().min(2).max(2048).describe('{"vote":"Y"|"N",…}') })
    .strict(),
  [IMPACT_OP.assignAuditor]: z
    .object({
      request: opRef,
      auditors: z.array(key).max(256).describe('the draw, in draw order (checked)'),
      maxdays: z.number().int().min(1).max(365),
      block,
      entropy: hash32.describe("the claimed block's hash: the draw's entropy"),
    })
    .strict(),
  [IMPACT_OP.destroyAssignedAuditor]: z.object({ request: opRef, auditor: key, block }).strict(),
  [IMPACT_OP.decide]: z.object({ request: opRef, block }).strict(),
  [IMPACT_OP.expire]: z.object({ request: opRef, block }).strict(),
  [IMPACT_OP.deposit]: z
    .object({
      token,
      from: address,
      amount,
      memo: hash32.describe("0x0…0, or the staking auditor's key"),
      tx: hash32,
      logIndex: z.number().int().min(0).max(1_000_000),
      block,
    })
    .strict(),
  [IMPACT_OP.batch]: z
    .object({
      token,
      batch: z.number().int().min(0).max(0xffff_ffff),
      block,
      chainId: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
      escrow: address,
    })
    .strict(),
  [IMPACT_OP.signBatch]: z
    .object({
      token,
      batch: z.number().int().min(0).max(0xffff_ffff),
      signer: address,
      signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
    })
    .strict(),
  [IMPACT_OP.settled]: z
    .object({ token, batch: z.number().int().min(0).max(0xffff_ffff), tx: hash32, block })
    .strict(),
} as const

/** The summary of each op type, for `/openapi.json` and `rwa ops`. */
export const SUMMARIES: Record<keyof typeof BODIES, string> = {
  [IMPACT_OP.create]: 'Starts a community: its governors and how many must approve a change.',
  [IMPACT_OP.createCategory]: 'createCategory: a governor proposes a category.',
  [IMPACT_OP.destroyCategory]: 'destroyCategory: refused while an action or auditor uses it.',
  [IMPACT_OP.createImpactAction]: 'createImpactAction: an action, its window, fields and rewards.',
  [IMPACT_OP.destroyImpactAction]: 'destroyImpactAction: no new requests; open ones expire.',
  [IMPACT_OP.createOracle]: 'createOracle: a key that may attest requests.',
  [IMPACT_OP.destroyOracle]: 'destroyOracle.',
  [IMPACT_OP.createAuditor]: 'createAuditor: categories, area, stake and payout address.',
  [IMPACT_OP.destroyAuditor]: 'destroyAuditor: it votes no more; its stake is returned.',
  [IMPACT_OP.createProxy]: 'createProxy: the key that assigns, decides and settles.',
  [IMPACT_OP.destroyProxy]: 'destroyProxy.',
  [IMPACT_OP.setToken]: 'Maps a rewards token id to an ERC-20 address.',
  [IMPACT_OP.setGovernors]: 'Replaces the governors and the approvals a change needs.',
  [IMPACT_OP.approve]: "A governor approves another governor's pending change.",
  [IMPACT_OP.requestApproval]: 'requestApproval: anyone asks for approval of an impact action.',
  [IMPACT_OP.attest]: 'An oracle attests a request (paid rewardsoracle on approval).',
  [IMPACT_OP.vote]: 'voteApprovalRequest: an assigned auditor votes Y or N, once.',
  [IMPACT_OP.assignAuditor]: "assignAuditor: the proxy's seeded draw of eligible auditors.",
  [IMPACT_OP.destroyAssignedAuditor]:
    'destroyAssignedAuditor: the proxy unassigns an auditor past its deadline.',
  [IMPACT_OP.decide]: 'The proxy records the decision its votes reached; money moves.',
  [IMPACT_OP.expire]: 'The proxy closes a request its action no longer takes.',
  [IMPACT_OP.deposit]: 'The proxy records a deposit into the pool seen on chain.',
  [IMPACT_OP.batch]: 'The proxy closes the next settlement batch of a token.',
  [IMPACT_OP.signBatch]: "A node publishes its EIP-712 signature of a batch's payouts.",
  [IMPACT_OP.settled]: "The proxy records a batch's settlement transaction.",
}
