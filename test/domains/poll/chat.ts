import type {
  ChatContext,
  ChatMessage,
  ChatPart,
  DomainComponents,
} from '../../../src/domains/plugin.ts'
import { BaseError } from '../../../src/errors/base.ts'
import type { OpId } from '../../../src/ledger/op-id.ts'
import type { LocalAccount } from '../../../src/node/accounts.ts'
import { POLL_OP, type PollReducer, type PollState, type PollSummary } from './rules.ts'

// The poll's chat part, written against the seam only (ChatContext, ChatPart): nothing in the
// shared chat names polls. People vote with their custodial account, as chat auditors do.

type Components = DomainComponents<PollState, PollReducer, PollSummary>

/** Signs and appends a vote for a local account (the node part's checked action). */
export type CastVote = (account: LocalAccount, poll: OpId, option: number) => Promise<unknown>

/** The question a person was asked ("which option?"), kept across restarts. */
type Asked = { poll: OpId; question: string; at: number }

/** Open polls listed at most in one reply. */
const MAX_LISTED = 20

const GREETING = 'Polls: send "polls" to see the open ones, and "vote <question> <number>" to vote.'

export const POLL_MENU = [
  'Poll commands:',
  '  polls — the open polls and their options',
  '  vote <question or its first words> <number> — vote for an option',
  '  vote <question> — I ask which option',
].join('\n')

/** `pizza 2, salad 1`: a poll's tally in its options' words. */
export function formatTally(state: PollState): string {
  return state.options.map((option, i) => `${option} ${state.tally[i] ?? 0}`).join(', ')
}

const numbered = (state: PollState) =>
  state.options.map((option, i) => `${i + 1}. ${option}`).join('  ')

/** `Lunch 2` → the poll's words and the option number; `Lunch` alone → no number. */
function parseVote(arg: string): { ref: string; number?: number } {
  const words = arg.split(/\s+/)
  const last = words.at(-1)!
  if (words.length < 2 || !/^\d+$/.test(last)) return { ref: arg }
  return { ref: words.slice(0, -1).join(' '), number: Number(last) }
}

/** Creates the poll chat: list, vote in one message or two, help, status and close notices. */
export function createPollChat(
  { accounts, index, ledger }: Pick<Components, 'accounts' | 'index' | 'ledger'>,
  castVote: CastVote,
  { send, memory, now, onError }: ChatContext,
): ChatPart {
  let events: Promise<void> = Promise.resolve()
  let unsubscribe: (() => void) | undefined

  /** The question this person was asked, read defensively (a record may be from an older version). */
  function asked(jid: string): Asked | undefined {
    const raw = memory.get(jid) as Record<string, unknown> | undefined
    if (!raw || typeof raw.poll !== 'string' || typeof raw.question !== 'string') return undefined
    return { poll: raw.poll as OpId, question: raw.question, at: Number(raw.at) || 0 }
  }

  const open = () => index.list().filter((p) => p.state === 'OPEN')

  /** The open polls `ref` names: its exact question, else the questions it starts (any case). */
  function findPolls(ref: string): { id: OpId; name: string }[] {
    const loose = ref.toLowerCase().replace(/\s+/g, ' ').trim()
    const polls = open()
    const exact = polls.filter((p) => p.name.toLowerCase() === loose)
    if (exact.length > 0) return exact
    return polls.filter((p) => p.name.toLowerCase().startsWith(loose))
  }

  async function list(): Promise<string[]> {
    const polls = open()
    if (polls.length === 0) return ['No poll is open now.']
    const lines = await Promise.all(
      polls.slice(0, MAX_LISTED).map(async (p) => {
        const state = await index.state(p.id)
        return `"${state.question}": ${numbered(state)}`
      }),
    )
    if (polls.length > MAX_LISTED) lines.push(`… and ${polls.length - MAX_LISTED} more.`)
    return [`Open polls (vote with "vote <question> <number>"):\n${lines.join('\n')}`]
  }

  /** "You voted … already" when this person has a counted vote in the poll. */
  function votedAlready(jid: string, state: PollState): string | undefined {
    const key = accounts.byJid(jid)?.key
    const earlier = state.votes.find((v) => v.voter === key)
    if (!earlier) return undefined
    return `You voted "${state.options[earlier.option]}" in "${state.question}" already; each person votes once.`
  }

  async function vote(jid: string, poll: OpId, number: number): Promise<string[]> {
    const state = await index.state(poll)
    if (state.state !== 'OPEN') {
      memory.set(jid, undefined)
      return [`Poll "${state.question}" is closed: ${formatTally(state)}.`]
    }
    if (!Number.isInteger(number) || number < 1 || number > state.options.length) {
      // Asked again, so the number that comes next answers this poll.
      memory.set(jid, { poll, question: state.question, at: now() })
      return [
        `"${state.question}" has options 1 to ${state.options.length}: ${numbered(state)}. Send a number, or "cancel".`,
      ]
    }
    memory.set(jid, undefined)
    const earlier = votedAlready(jid, state)
    if (earlier) return [earlier]
    await castVote(accounts.custodialFor(jid), poll, number - 1)
    const after = await index.state(poll)
    return [
      `Voted "${after.options[number - 1]}" in "${after.question}". Tally: ${formatTally(after)}.`,
    ]
  }

  async function voteCommand(jid: string, arg: string): Promise<string[]> {
    if (!arg) return ['Say which poll: vote <question or its first words> <number>']
    const { ref, number } = parseVote(arg)
    const found = findPolls(ref)
    if (found.length === 0)
      return [`No open poll starts with "${ref.slice(0, 80)}". Send "polls" to see them.`]
    if (found.length > 1)
      return [
        `${found.length} open polls start with "${ref.slice(0, 80)}": ${found
          .slice(0, MAX_LISTED)
          .map((p) => `"${p.name}"`)
          .join(', ')}. Say more of the question.`,
      ]
    const poll = found[0]!.id
    if (number !== undefined) return vote(jid, poll, number)
    const state = await index.state(poll)
    const earlier = votedAlready(jid, state)
    if (earlier) return [earlier]
    memory.set(jid, { poll, question: state.question, at: now() })
    return [
      `Which option in "${state.question}"? Send its number: ${numbered(state)} (or "cancel").`,
    ]
  }

  /** A reply to "which option?": a number votes, "cancel" forgets; anything else is not ours. */
  async function answer(jid: string, step: Asked, text: string): Promise<string[] | undefined> {
    if (/^\d+$/.test(text)) return vote(jid, step.poll, Number(text))
    memory.set(jid, undefined)
    if (text.toLowerCase() === 'cancel')
      return [`Cancelled: you did not vote in "${step.question}".`]
    return undefined // the person moved on: other domains hear it
  }

  async function converse({ jid, text }: ChatMessage): Promise<string[] | undefined> {
    const [first = ''] = text.split(/\s+/)
    const word = first.toLowerCase()
    if (text.toLowerCase() === 'polls') return list()
    if (word === 'vote') return voteCommand(jid, text.slice(first.length).trim())
    const step = asked(jid)
    if (step) return answer(jid, step, text)
    return undefined
  }

  /** The polls this person voted in, as the node lists them. */
  async function votedIn(jid: string): Promise<{ state: PollState; option: number }[]> {
    const key = accounts.byJid(jid)?.key
    if (!key) return []
    const out: { state: PollState; option: number }[] = []
    for (const { id } of index.list()) {
      const state = await index.state(id)
      const mine = state.votes.find((v) => v.voter === key)
      if (mine) out.push({ state, option: mine.option })
    }
    return out
  }

  /** Tells each voter of a closed poll its final tally. */
  async function announceClose(poll: OpId): Promise<void> {
    const state = await index.state(poll)
    if (state.state !== 'CLOSED') return
    const jids = new Map(accounts.list().flatMap((a) => (a.jid ? [[a.key, a.jid] as const] : [])))
    for (const { voter, option } of state.votes) {
      const jid = jids.get(voter)
      if (!jid) continue
      if (asked(jid)?.poll === poll) memory.set(jid, undefined)
      send(
        jid,
        `Poll "${state.question}" is closed. Final tally: ${formatTally(state)}. You voted "${state.options[option]}".`,
      )
    }
  }

  return {
    // Narrow: "polls" itself, "vote" naming an open poll, and anything after "which option?"
    // (a number answers it; anything else drops the question and goes on to the other parts).
    claims({ jid, text }) {
      if (text.toLowerCase() === 'polls' || asked(jid) !== undefined) return true
      const [first = ''] = text.split(/\s+/)
      const arg = text.slice(first.length).trim()
      return first.toLowerCase() === 'vote' && !!arg && findPolls(parseVote(arg).ref).length > 0
    },
    async handle(message) {
      try {
        return await converse(message)
      } catch (error) {
        // The poll's rules speak to the CLI and the API; a refusal here is said in chat's words.
        if (error instanceof BaseError) return [`Your vote was not taken: ${error.shortMessage}`]
        throw error
      }
    },
    greeting: GREETING,
    async help(jid) {
      const step = asked(jid)
      const waiting = step
        ? `I asked which option you vote for in "${step.question}": send its number, or "cancel".`
        : undefined
      if ((await votedIn(jid)).length === 0) return waiting
      return waiting ? `${waiting}\n\n${POLL_MENU}` : POLL_MENU
    },
    async status(jid) {
      const lines: string[] = []
      const step = asked(jid)
      if (step) lines.push(`"${step.question}" waits for the number of your option.`)
      for (const { state, option } of (await votedIn(jid)).slice(-MAX_LISTED))
        lines.push(
          `"${state.question}" (${state.state === 'OPEN' ? 'open' : 'closed'}): you voted "${state.options[option]}"; ${formatTally(state)}.`,
        )
      return lines.length > 0 ? lines.join('\n') : undefined
    },
    async start() {
      unsubscribe = ledger.onAccepted((ops) => {
        for (const { doc, op } of ops)
          if (op.op.type === POLL_OP.close)
            events = events.then(() => announceClose(doc)).catch(onError)
      })
    },
    stop() {
      unsubscribe?.()
    },
    settled: () => events,
  }
}
