import { z } from 'zod'

// What the money routes answer, as zod schemas: for /openapi.json's response schemas, and for
// tests that check real answers against them. Amounts are base-unit decimal strings.

const baseUnits = z.string().regex(/^\d+$/).describe('an amount in base units of the token')
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/)

/** A token's unit: `native` (ETH, 18) or an ERC-20; symbol and decimals null if it did not tell. */
export const tokenUnitSchema = z.object({
  address: z.union([z.literal('native'), z.string()]),
  symbol: z.string().nullable(),
  decimals: z.number().int().min(0).max(77).nullable(),
})

/** The escrow's funding of an audit against what settling it needs. */
export const fundingSchema = z.object({
  funded: baseUnits,
  needed: baseUnits,
  escrowToken: address,
  settled: z.boolean(),
})

/** `POST /audits/:audit/fund`. */
export const fundAnswerSchema = z.object({
  audit: z.string(),
  from: address,
  amount: baseUnits,
  token: tokenUnitSchema,
  tx: z.string().regex(/^0x[0-9a-f]{64}$/),
  funding: fundingSchema.nullable(),
})

/** `GET /payouts/:address`. */
export const owedAnswerSchema = z.object({
  address,
  owed: z.array(z.object({ token: tokenUnitSchema, amount: baseUnits })),
})

/** What `GET /audits/:audit` adds to the audit's view. */
export const auditMoneySchema = z.object({
  token: tokenUnitSchema,
  funding: fundingSchema.nullable(),
})
