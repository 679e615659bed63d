import type { Address, Hex } from 'viem'
import type { z } from 'zod'
import { channelsOverviewWire, claimResultWire } from '../treasurer-routes.ts'
import type { ChannelRow, ChannelsOverview, ClaimResult } from '../types.ts'
import { TreasurerCliError } from './treasurer-commands.ts'

// The treasurer's answers as the command line reads them back (zod, loaded only by the commands
// that talk to the node).

/** Reads `GET /channel/channels`' answer back into bigints. */
export function overviewFromWire(json: unknown): ChannelsOverview {
  const wire = parseWire(channelsOverviewWire, json, 'the channels')
  return {
    escrow: wire.escrow as Address,
    recipient: wire.recipient as Address,
    token: wire.token,
    currentBlock: BigInt(wire.currentBlock),
    balance: BigInt(wire.balance),
    channels: wire.channels.map(rowFromWire),
  }
}

function rowFromWire(row: z.infer<typeof channelsOverviewWire>['channels'][number]): ChannelRow {
  return {
    channelId: BigInt(row.channelId),
    sender: row.sender as Address,
    signer: row.signer as Address,
    recipient: row.recipient as Address,
    groupId: row.groupId as Hex,
    chainNonce: BigInt(row.chainNonce),
    value: BigInt(row.value),
    expiration: BigInt(row.expiration),
    blocksLeft: BigInt(row.blocksLeft),
    nonce: BigInt(row.nonce),
    authorised: BigInt(row.authorised),
    claiming: row.claiming && {
      nonce: BigInt(row.claiming.nonce),
      amount: BigInt(row.claiming.amount),
    },
    unclaimed: BigInt(row.unclaimed),
    busy: row.busy,
  }
}

/** Reads `POST /channel/claim`'s answer back into bigints. */
export function claimResultFromWire(json: unknown): ClaimResult {
  const wire = parseWire(claimResultWire, json, 'the claim')
  return {
    claimed: wire.claimed.map((c) => ({
      channelId: BigInt(c.channelId),
      nonce: BigInt(c.nonce),
      amount: BigInt(c.amount),
    })),
    transactions: wire.transactions.map((t) => ({ tx: t.tx as Hex, gasUsed: BigInt(t.gasUsed) })),
    skipped: wire.skipped.map((s) => ({ channelId: BigInt(s.channelId), reason: s.reason })),
  }
}

function parseWire<T extends z.ZodType>(schema: T, json: unknown, what: string): z.infer<T> {
  const parsed = schema.safeParse(json)
  if (parsed.success) return parsed.data
  throw new TreasurerCliError(
    `The node's answer for ${what} does not read (${parsed.error.issues[0]?.message ?? 'bad shape'}); is it an rwa node of this version?`,
  )
}
