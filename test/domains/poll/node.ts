import type { Context } from 'hono'
import { z } from 'zod'
import type { DomainComponents, NodePart } from '../../../src/domains/plugin.ts'
import { createRouteGroup } from '../../../src/http/route-group.ts'
import { keyWire, opIdWire } from '../../../src/http/wire.ts'
import type { LocalAccount } from '../../../src/node/accounts.ts'
import { esc } from '../../../src/web/layout.ts'
import { type CastVote, createPollChat } from './chat.ts'
import {
  createPollBody,
  POLL_OP,
  type PollReducer,
  type PollState,
  type PollSummary,
  voteBody,
} from './rules.ts'

type Components = DomainComponents<PollState, PollReducer, PollSummary>

const pollStateWire = z.enum(['OPEN', 'CLOSED'])
const noteWire = z.object({ id: opIdWire, type: z.string(), name: z.string(), message: z.string() })
const pollWire = z.object({
  id: opIdWire,
  question: z.string(),
  options: z.array(z.string()),
  creator: keyWire,
  state: pollStateWire,
  tally: z.array(z.number().int()),
  votes: z.array(z.object({ voter: keyWire, option: z.number().int() })),
  rejected: z.array(noteWire),
  excluded: z.array(noteWire),
})
const actedWire = z.object({ op: opIdWire, poll: opIdWire, state: pollStateWire })

/** The poll's node side: its routes under /polls, a card on the dashboard and its chat. */
export const pollNode: NodePart<PollState, PollReducer, PollSummary> = {
  create(components) {
    const { index } = components
    const act = action(components)
    const group = createRouteGroup({
      prefix: '/polls',
      accounts: components.accounts,
      bodyLimit: components.config.http.bodyLimit,
    })
    const pollOf = (c: Context) => index.resolve(c.req.param('poll') ?? '')
    group.route(
      {
        method: 'get',
        path: '/',
        summary: 'Every poll.',
        tag: 'polls',
        response: z.object({
          polls: z.array(
            z.object({ id: opIdWire, name: z.string(), state: z.string(), votes: z.number() }),
          ),
        }),
      },
      () => ({ polls: index.list() }),
    )
    group.route(
      {
        method: 'post',
        path: '/',
        summary: 'Ask a question; the account may close the poll.',
        tag: 'polls',
        auth: true,
        body: createPollBody,
        response: z.object({ poll: opIdWire, state: pollStateWire }),
      },
      async (c, account) => {
        const body = await group.body(c, createPollBody)
        const op = await components.ledger.append(account.signer, {
          doc: null,
          type: POLL_OP.create,
          body,
          time: Date.now(),
        })
        return { poll: op.id, state: (await index.state(op.id)).state }
      },
    )
    group.route(
      {
        method: 'get',
        path: '/:poll',
        summary: 'A poll and its tally.',
        tag: 'polls',
        response: pollWire,
      },
      async (c) => index.state(pollOf(c)),
    )
    group.route(
      {
        method: 'post',
        path: '/:poll/vote',
        summary: 'Vote for an option (its number from 0), once.',
        tag: 'polls',
        auth: true,
        body: voteBody,
        response: actedWire,
        errors: [409],
      },
      async (c, account) => act(account, pollOf(c), POLL_OP.vote, await group.body(c, voteBody)),
    )
    group.route(
      {
        method: 'post',
        path: '/:poll/close',
        summary: 'Close the poll (its creator only): the tally is final.',
        tag: 'polls',
        auth: true,
        response: actedWire,
        errors: [409],
      },
      (c, account) => act(account, pollOf(c), POLL_OP.close, {}),
    )
    const castVote: CastVote = (account, poll, option) =>
      act(account, poll, POLL_OP.vote, { option })
    // The network seam: a serving policy that sees every sync answer served and pulled, shown in
    // /status (a domain pricing replication, as SWAP does, starts from the same two calls).
    const sync = { served: 0, pulled: 0, network: components.network !== undefined }
    components.network?.addServingPolicy({
      served: () => {
        sync.served++
      },
      received: () => {
        sync.pulled++
      },
    })
    return {
      extend: { polls: index },
      status: () => sync,
      routes: [group],
      web: { card: pollCard },
      chat: (context) => createPollChat(components, castVote, context),
    }
  },
}

/** Checks a draft on the poll's current state, then signs and appends it. */
function action({ index, ledger }: Components) {
  return async (
    account: LocalAccount,
    poll: ReturnType<typeof index.resolve>,
    type: string,
    body: object,
  ) => {
    const reducer = await index.reducer(poll)
    const time = Date.now()
    reducer.check({ author: account.signer.publicKey, type, body, time })
    const op = await ledger.append(account.signer, { doc: poll, type, body, time })
    return { op: op.id, poll, state: reducer.closed ? ('CLOSED' as const) : ('OPEN' as const) }
  }
}

function pollCard(
  polls: readonly { id: string; name: string; state: string; [k: string]: unknown }[],
) {
  const rows = polls
    .map(
      (p) =>
        `<tr><td>${esc(p.name)}</td><td>${esc(p.state)}</td><td class="num">${p.votes}</td></tr>`,
    )
    .join('')
  return `<section id="polls" data-noun="poll"><h2>Polls</h2>
${rows ? `<table><tr><th>question</th><th>state</th><th class="num">votes</th></tr>${rows}</table>` : '<p class="muted">No polls yet.</p>'}
</section>`
}
