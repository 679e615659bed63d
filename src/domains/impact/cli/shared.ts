import type { Command } from 'commander'
import { printJson, withNodeOptions } from '../../../cli/context.ts'
import type { ImpactReducer } from '../../../core/impact/domain.ts'
import type { EncodedOp } from '../../../ledger/op.ts'
import { type Ctx, loadCommunity } from './client.ts'

/** A subcommand of `rwa impact` with the node options, a description and an example. */
export function cmd(parent: Command, name: string, description: string, example: string): Command {
  return withNodeOptions(parent.command(name).description(description)).addHelpText(
    'after',
    `\nExample:\n  $ ${example}`,
  )
}

/** What a client-signed command did: its op, the community, and the community after it. */
export type Sent = { op: EncodedOp; after: ImpactReducer }

/**
 * Checks an op on the community recomputed here (the refusal it would get, naming the field and
 * the rule, before anything is signed or sent), then signs it with the user's key, submits it and
 * recomputes the community with it. `community`: its name or id, or the community recomputed.
 */
export async function signAndSend(
  ctx: Ctx,
  community: string | ImpactReducer,
  type: string,
  body: unknown,
): Promise<Sent> {
  const signer = ctx.signer()
  const before = typeof community === 'string' ? await loadCommunity(ctx, community) : community
  before.check({ author: signer.publicKey, type, body, time: Date.now() })
  const id = before.machine.id
  const op = await ctx.client.submit(signer, { doc: id, type, body })
  return { op, after: await loadCommunity(ctx, id) }
}

/** Prints what an op-signing command did: `{op, community, type, …extra}` as JSON, or `line`. */
export function report(
  ctx: Ctx,
  sent: { op: string; community: string; type: string },
  extra: Record<string, unknown>,
  line: string,
): void {
  if (ctx.json) printJson({ ...sent, ...extra })
  else console.log(line)
}
