import type { Command } from 'commander'
import {
  contextOf,
  type GlobalOptions,
  printJson,
  withNodeOptions,
} from '../../../src/cli/context.ts'
import type { CliPart } from '../../../src/domains/plugin.ts'
import type { OpId } from '../../../src/ledger/op-id.ts'
import { createPollReducer, POLL_OP, type PollState } from './rules.ts'

type Ctx = ReturnType<typeof contextOf>

/** Recomputes a poll here from its ops (signatures checked), not from the node's word. */
async function loadPoll(ctx: Ctx, ref: string) {
  const { polls } = await ctx.client.get<{ polls: { id: OpId; name: string }[] }>('/polls')
  const id = polls.find((p) => p.id === ref || p.name === ref)?.id ?? (ref as OpId)
  const [genesis, ...rest] = await ctx.client.ops(id)
  const reducer = createPollReducer(genesis!)
  for (const op of rest) reducer.apply(op)
  return reducer
}

function show(ctx: Ctx, state: PollState): void {
  if (ctx.json) {
    printJson(state)
    return
  }
  console.log(`${state.question} (${state.state})`)
  for (const [i, option] of state.options.entries())
    console.log(`  ${i}. ${option}: ${state.tally[i]} vote(s)`)
}

/** `rwa poll …`: client-signed ops, checked here against the poll recomputed from its ops. */
export const pollCli: CliPart = {
  register(program: Command) {
    const poll = program.command('poll').description('ask and answer polls')
    withNodeOptions(poll.command('list').description('the polls the node holds')).action(
      async (o: GlobalOptions) => {
        const ctx = contextOf(o)
        const { polls } = await ctx.client.get<{ polls: unknown[] }>('/polls')
        printJson(polls)
      },
    )
    withNodeOptions(poll.command('create').description('ask a question'))
      .argument('<question>')
      .argument('<options...>')
      .action(async (question: string, options: string[], o: GlobalOptions) => {
        const ctx = contextOf(o)
        const body = { question, options }
        const op = await ctx.client.submit(ctx.signer(), { doc: null, type: POLL_OP.create, body })
        show(ctx, (await loadPoll(ctx, op.id)).state())
      })
    withNodeOptions(poll.command('vote').description('vote for an option, by its number'))
      .argument('<poll>', 'question or id')
      .argument('<option>', 'the option number, from 0')
      .action(async (ref: string, option: string, o: GlobalOptions) => {
        const ctx = contextOf(o)
        const signer = ctx.signer()
        const reducer = await loadPoll(ctx, ref)
        const body = { option: Number(option) }
        reducer.check({ author: signer.publicKey, type: POLL_OP.vote, body, time: Date.now() })
        const id = reducer.state().id
        await ctx.client.submit(signer, { doc: id, type: POLL_OP.vote, body })
        show(ctx, (await loadPoll(ctx, id)).state())
      })
  },
}
