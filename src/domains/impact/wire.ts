import { z } from 'zod'
import { addressWire, amountWire, keyWire, opIdWire, txWire } from '../../http/wire.ts'

// The impact routes' answers as they travel (src/http/wire.ts): amounts are decimal strings of
// base units, each next to the token id it is counted in (0 the native coin, n the registry's
// token n), so `/openapi.json` tells clients the real types.

const tokenId = z
  .number()
  .int()
  .describe('The rewards token: 0 the native coin, n the ERC-20 the registry maps n to.')
const block = z.number().int().describe('A block of the settlement chain, as the proxy claimed it.')
const point = z.object({ lat: z.number(), lon: z.number() })
const noteWire = z.object({
  id: opIdWire,
  type: z.string(),
  name: z.string(),
  message: z.string(),
})
/** Amounts by token id (`{"0": "1000"}`). */
const byTokenWire = z
  .record(z.string(), amountWire)
  .describe('Base units by token id (the key): "0" the native coin, "n" the registry\'s token n.')

/** An impact action's configuration as the registry holds it (amounts in its rewards token). */
export const actionConfigWire = z.object({
  description: z.string(),
  category: z.number().int(),
  auditors: z.number().int(),
  blockstart: z.number().int(),
  blockend: z.number().int(),
  rewardstoken: tokenId,
  rewardsamount: amountWire,
  rewardsoracle: amountWire,
  rewardsauditors: amountWire,
  slashingsauditors: amountWire,
  maxerrorsauditor: z.number().int(),
  fields: z.array(
    z.object({ fieldname: z.string(), fieldtype: z.enum(['S', 'N']), mandatory: z.boolean() }),
  ),
})

/** A request's status. */
export const requestStatusWire = z.enum([
  'WAITING_FOR_AUDITORS',
  'VOTING',
  'APPROVED',
  'REFUSED',
  'EXPIRED',
])

const paymentWire = z.object({
  to: addressWire,
  amount: amountWire,
  role: z.enum(['requester', 'oracle', 'auditor', 'stake']),
  account: z.string(),
  request: opIdWire.optional(),
  batch: z.number().int().optional(),
})

/** An approval request and everything that happened to it (`RequestState`). */
export const requestWire = z.object({
  id: opIdWire,
  requester: keyWire,
  payout: addressWire,
  impactactionid: z.number().int(),
  action: actionConfigWire,
  description: z.string(),
  coordinates: point.optional(),
  evidence: z.array(z.string()),
  fields: z.record(z.string(), z.string()),
  status: requestStatusWire,
  required: z.number().int(),
  seats: z.number().int(),
  assignments: z.array(
    z.object({
      auditor: keyWire,
      block,
      deadline: block,
      entropy: z.string().describe("the draw's entropy: the proxy's claim of the block's hash"),
      payout: addressWire,
      unassigned: z
        .object({ block, reason: z.enum(['deadline', 'destroyed', 'suspended']) })
        .optional(),
    }),
  ),
  votes: z.array(
    z.object({
      id: opIdWire,
      auditor: keyWire,
      vote: z.enum(['Y', 'N']),
      otherinfo: z.string().optional(),
    }),
  ),
  attestations: z.array(z.object({ oracle: z.number().int(), id: opIdWire })),
  note: z.string().describe('What the request waits for, or how it ended, in one sentence.'),
  decision: z
    .object({
      status: z.enum(['APPROVED', 'REFUSED']),
      block,
      approvals: z.number().int(),
      refusals: z.number().int(),
      matched: z.array(keyWire),
      contradicted: z.array(keyWire),
      payments: z.array(paymentWire),
      remainder: amountWire,
      slashes: z.array(z.object({ auditor: keyWire, due: amountWire, taken: amountWire })),
      oracle: z.number().int().optional(),
    })
    .optional(),
  expired: block.optional(),
})

/** An auditor: its registry record, ranking, errors, stakes, earnings and queue (`AuditorState`). */
export const auditorWire = z.object({
  account: keyWire,
  description: z.string(),
  categories: z.array(z.number().int()),
  area: z.string(),
  stakesmin: amountWire.describe("Base units of the stake it must hold in an action's token."),
  payout: addressWire,
  destroyed: z.boolean(),
  suspended: z.boolean(),
  matched: z.number().int(),
  errors: z.number().int(),
  missed: z.number().int(),
  ranking: z.number(),
  stakes: byTokenWire,
  earned: byTokenWire,
  queue: z.array(opIdWire).describe('Requests it holds a seat on and has not voted on.'),
})

/** A token's reward pool and its settlement batches (`PoolState`). */
export const poolWire = z.object({
  token: tokenId,
  deposited: amountWire,
  stakes: amountWire,
  batched: amountWire,
  paid: amountWire,
  queued: amountWire,
  refunding: amountWire.describe(
    'stakes sent for keys that were no auditor, going back to their senders',
  ),
  free: amountWire,
  batches: z.array(
    z.object({
      token: tokenId,
      batch: z.number().int(),
      block,
      chainId: z.number().int(),
      escrow: addressWire,
      payees: z.array(addressWire),
      amounts: z.array(amountWire),
      total: amountWire,
      returned: amountWire.describe('of the total, stake returned to auditors who left'),
      requests: z.array(opIdWire),
      signatures: z.array(z.object({ signer: addressWire, signature: z.string() })),
      settled: z.object({ tx: txWire, block }).optional(),
    }),
  ),
})

/** A community's registry: governance, records, pending changes, counts and pools. */
export const registryWire = z.object({
  id: opIdWire,
  name: z.string(),
  governors: z.array(keyWire),
  threshold: z.number().int(),
  blocksPerDay: z.number().int(),
  block: block.describe('The latest block the proxy claimed: the community clock.'),
  categories: z.array(z.object({ uid: z.number().int(), description: z.string() })),
  actions: z.array(
    z.object({ uid: z.number().int(), configuration: z.string(), config: actionConfigWire }),
  ),
  oracles: z.array(
    z.object({
      uid: z.number().int(),
      config: z.object({
        description: z.string(),
        account: keyWire,
        otherinfo: z.string().optional(),
      }),
      payout: addressWire.optional(),
    }),
  ),
  proxies: z.array(z.object({ uid: z.number().int(), account: keyWire })),
  tokens: z.array(z.object({ id: z.number().int(), address: addressWire })),
  proposals: z.array(
    z.object({ id: opIdWire, type: z.string(), body: z.unknown(), approvals: z.array(keyWire) }),
  ),
  counts: z.object({
    requests: z.number().int(),
    decided: z.number().int(),
    expired: z.number().int(),
    auditors: z.number().int(),
  }),
  pools: z.array(poolWire),
  rejected: z.array(noteWire).describe('The last refused ops (at most 100).'),
})

/** What an op-signing route answers: the op, its community and its type. */
export const actedWire = z.object({ op: opIdWire, community: opIdWire, type: z.string() })

/** One line of the community list. */
export const communityWire = z.object({
  id: opIdWire,
  name: z.string(),
  state: z.string(),
  requests: z.number().int(),
  open: z.number().int(),
})
