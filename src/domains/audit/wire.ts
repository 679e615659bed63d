import { z } from 'zod'
import { AUDIT_STATES } from '../../core/audit/states.ts'
import {
  addressWire,
  amountWire,
  hexWire,
  keyWire,
  opIdWire,
  ratioWire,
  txWire,
} from '../../http/wire.ts'
import { tokenUnitSchema } from './money-schemas.ts'

// The audit routes' answers as they travel (src/core/json.ts: amounts as decimal strings). Each
// route's handler is checked against its schema at compile time (`Encodes` in
// src/http/wire.ts), so these cannot drift from the TypeScript types of the audit's state.

const count = z.number().int().nonnegative()

/** An audit's state name. */
export const auditStateWire = z.enum(AUDIT_STATES)

/** What an admin or auditor action did: the op signed, and the audit's state after it. */
export const actionResultWire = z.object({
  op: opIdWire.describe('The op the node signed.'),
  audit: opIdWire,
  state: auditStateWire,
})

/** An audit in a listing (`GET /audits`). */
export const auditSummaryWire = z.object({
  id: opIdWire,
  name: z.string(),
  state: auditStateWire,
  items: count,
  auditors: count,
})

/** The parameters of an audit (`formatParams`): amounts and ratios as strings. */
export const auditParamsWire = z.object({
  name: z.string(),
  admins: z.array(keyWire),
  bond: amountWire.describe('The reward budget, in base units of `token`.'),
  token: z.string().describe('`native` (ETH) or the ERC-20 token address.'),
  auditsPerItem: z.number().int().positive(),
  slashingRatio: ratioWire,
  reward: z.discriminatedUnion('mode', [
    z.object({ mode: z.literal('classic') }),
    z.object({
      mode: z.literal('staked'),
      stake: amountWire,
      slashWrong: ratioWire,
      slashMissing: ratioWire,
    }),
  ]),
  commitReveal: z.boolean(),
  inspectionDeadline: count.describe('Milliseconds an auditor has for an inspection.'),
  tie: z.boolean().describe('The result of an item with as many yes as no answers.'),
})

/** An item, numbered as `DELETE /audits/:audit/items/:number` takes it. */
export const auditItemWire = z.object({ id: opIdWire, description: z.string(), number: count })

/** A registered auditor. */
export const auditorWire = z.object({
  key: keyWire,
  payout: addressWire,
  registration: opIdWire,
})

const inspectionStatusWire = z.enum([
  'outstanding',
  'answered',
  'committed',
  'revealed',
  'reassigned',
  'missing',
])

/** One (item, auditor) inspection, with the item's number and description. */
export const inspectionWire = z.object({
  item: opIdWire,
  auditor: keyWire,
  status: inspectionStatusWire,
  answer: z.boolean().optional().describe('The counted answer, once known.'),
  number: count.optional(),
  description: z.string().optional(),
})

/** An auditor's outcome and money (amounts in base units of the audit's token). */
export const auditorResultWire = z.object({
  auditor: count.describe("The auditor's index in `auditors`."),
  payout: addressWire,
  inspections: count,
  aligned: count,
  misaligned: count,
  missing: count,
  units: ratioWire,
  reward: amountWire,
  stake: amountWire,
  slashed: amountWire,
  share: amountWire,
  returned: amountWire,
  paid: amountWire.describe('reward + share (the returned stake comes on top).'),
})

/** Item, audit and auditor results. */
export const auditResultsWire = z.object({
  items: z.array(
    z.object({ item: count, yes: count, no: count, missing: count, result: z.boolean() }),
  ),
  yesItems: count,
  noItems: count,
  auditors: z.array(auditorResultWire),
  inspectionReward: ratioWire.describe('bond / (items × k), exact.'),
  remainder: amountWire.describe('What goes back to the payer.'),
})

/** What the chain pays: one amount per address, and the remainder to the payer. */
export const settlementWire = z.object({
  payees: z.array(addressWire),
  amounts: z.array(amountWire),
  total: amountWire,
  remainder: amountWire,
  encoded: hexWire.describe('abi.encode(address[] payees, uint256[] amounts).'),
})

const opNoteWire = z.object({
  id: opIdWire,
  type: z.string(),
  name: z.string().describe('The error name (`ExcludedByCausalCut` when excluded).'),
  message: z.string(),
})

/** `GET /audits/:audit`: the whole audit. */
export const auditViewWire = z.object({
  id: opIdWire,
  name: z.string(),
  state: auditStateWire,
  stateIndex: count,
  params: auditParamsWire,
  items: z.array(
    auditItemWire.extend({
      answers: count.describe('Answers (or commitments) received.'),
      of: count.describe('Answers wanted (k).'),
    }),
  ),
  auditors: z.array(auditorWire),
  inspections: z.partialRecord(inspectionStatusWire, count).describe('Inspections by status.'),
  outstanding: z.array(inspectionWire),
  results: auditResultsWire.nullable(),
  settlement: settlementWire.nullable(),
  transitions: z.array(z.object({ state: auditStateWire, op: opIdWire })),
  rejected: z.array(opNoteWire).describe('Ops refused against their own causal past.'),
  excluded: z.array(opNoteWire).describe('Valid ops left out by a causal cut.'),
})

/** What `POST /payouts/withdraw` withdrew, one transaction per token. */
export const withdrawalWire = z.object({
  address: addressWire,
  withdrawn: z.array(
    z.object({
      token: addressWire.describe('The zero address for native ETH.'),
      amount: amountWire,
      tx: txWire,
      unit: tokenUnitSchema.describe("The token's unit, to show the amount with."),
    }),
  ),
})
