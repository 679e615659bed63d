import { z } from 'zod'
import type { OpTypeSpec } from '../domain.ts'
import { AUDIT_OP } from './states.ts'

const opId = z.string().describe('an op id (CIDv1, base32)')
const amount = z.union([z.string().regex(/^\d+$/), z.number().int().nonnegative()], {
  error: 'a whole number of base units, e.g. "1000"',
})
const bytes = z.instanceof(Uint8Array).describe('bytes (a CBOR byte string)')
const chainProof = {
  chainId: z.number().int().positive(),
  escrow: z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'an address'),
}

/** The body of `audit.create`: the audit's parameters (ARCHITECTURE §2; specs/rwa-audits.md). */
export const createAuditBody = z
  .object({
    name: z.string().min(1).max(200),
    bond: amount,
    token: z.string().optional(),
    auditsPerItem: z.number().int().optional(),
    slashingRatio: z
      .union([z.string(), z.number()], { error: 'a fraction such as "1/2"' })
      .optional(),
    commitReveal: z.boolean().optional(),
    inspectionDeadline: z.number().int().optional(),
    tie: z.boolean().optional(),
    admins: z.array(z.string()).optional(),
    reward: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()

/** The body of `audit.item.add`. */
export const addItemBody = z.object({ description: z.string().min(1).max(1000) }).strict()

/** The body of `audit.param.set`. */
export const setParamBody = z
  .object({
    name: z.string(),
    value: z.union([z.string(), z.number(), z.boolean()], {
      error: 'a number, a text or true/false',
    }),
  })
  .strict()

/** The body of `audit.stop`. */
export const stopBody = z.object({ force: z.boolean().optional() }).strict()

/** The body of `audit.register`: the payout address and the proof that binds it to the key. */
export const registerBody = z
  .object({
    payout: z.string().describe('EIP-55 address that receives the rewards'),
    proof: z.string().describe('EIP-191 signature of "rwa identity: ed25519 <key hex>"'),
  })
  .strict()

/** The body of `audit.reassign`. */
export const reassignBody = z
  .object({
    item: opId,
    auditor: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "the auditor's Ed25519 key (64 lowercase hex digits)"),
  })
  .strict()

const empty = z.object({}).strict()

/** Every audit op type, the genesis first, with the shape of its body. */
export const AUDIT_OP_TYPES: readonly OpTypeSpec[] = [
  {
    type: AUDIT_OP.create,
    summary: 'Creates an audit; its author becomes its first admin.',
    body: createAuditBody,
  },
  { type: AUDIT_OP.addItem, summary: 'An admin adds an item (INITIALIZATION).', body: addItemBody },
  {
    type: AUDIT_OP.deleteItem,
    summary: 'An admin deletes an item, by its id (states 0–2).',
    body: z.object({ item: opId }).strict(),
  },
  {
    type: AUDIT_OP.setParam,
    summary: 'An admin sets a parameter before start.',
    body: setParamBody,
  },
  { type: AUDIT_OP.open, summary: 'An admin opens registration.', body: empty },
  {
    type: AUDIT_OP.close,
    summary: 'An admin closes registration: the roster is frozen.',
    body: empty,
  },
  { type: AUDIT_OP.start, summary: 'An admin assigns auditors to items and starts.', body: empty },
  {
    type: AUDIT_OP.stop,
    summary: 'An admin stops auditing; the tally counts the answers in its causal past.',
    body: stopBody,
  },
  {
    type: AUDIT_OP.finish,
    summary: 'An admin counts the reveals (commit–reveal audits).',
    body: empty,
  },
  {
    type: AUDIT_OP.settled,
    summary: 'An admin records that the escrow paid the audit out (COMPLETE).',
    body: z.object({ ...chainProof, tx: z.string() }).strict(),
  },
  {
    type: AUDIT_OP.register,
    summary: 'An auditor registers (AUDITOR_REGISTRATION).',
    body: registerBody,
  },
  {
    type: AUDIT_OP.answer,
    summary: 'An auditor answers one of its inspections.',
    body: z.object({ item: opId, answer: z.boolean() }).strict(),
  },
  {
    type: AUDIT_OP.commit,
    summary: 'An auditor commits to an answer (commit–reveal audits).',
    body: z.object({ item: opId, commitment: bytes }).strict(),
  },
  {
    type: AUDIT_OP.reveal,
    summary: 'An auditor reveals a committed answer and its salt (after stop).',
    body: z.object({ item: opId, answer: z.boolean(), salt: bytes }).strict(),
  },
  {
    type: AUDIT_OP.reassign,
    summary: 'An admin gives a missed inspection to a backup auditor after its deadline.',
    body: reassignBody,
  },
  {
    type: AUDIT_OP.signSettlement,
    summary: "A node publishes its EIP-712 signature of the audit's settlement report.",
    body: z.object({ ...chainProof, signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/) }).strict(),
  },
]
