import type { ChatPart } from '../domains/plugin.ts'
import { BaseError } from '../errors/base.ts'

/** A bare, lowercase JID from a full one (`Alice@Example.org/phone` → `alice@example.org`). */
export function bareJid(jid: string): string {
  return jid.split('/')[0]!.toLowerCase()
}

/** Messages a person may have waiting for an answer; one more gets a reply saying it was not taken. */
export const SENDER_QUEUE_LIMIT = 32
/** People whose messages may wait at once; a message from one more is answered "busy". */
export const MAX_WAITING_SENDERS = 1000

/** The node's chat, independent of the transport: it hands each message to the domains' parts. */
export interface Chat {
  /**
   * Takes one message from `from` (a full JID). Each person's messages are handled one at a
   * time in the order they came, and the replies to one go out before the next is handled;
   * different people are served concurrently. Replies go to `from` itself: the device that wrote.
   */
  receive(from: string, text: string): void
  /** Answers one message now, outside the queues (its replies are returned, not sent). */
  handle(from: string, text: string, receivedAt?: number): Promise<string[]>
  /** Resolves once every message received so far has been answered. */
  idle(): Promise<void>
  /** Starts every domain's part (they follow the ledger and push messages). */
  start(): Promise<void>
  stop(): void
  /** Lets every domain remind people of what waits for them. */
  remind(): Promise<void>
  /** Resolves once the messages pushed for ops seen so far have been sent. */
  settled(): Promise<void>
}

/** A message waiting in its sender's queue. */
type Waiting = { from: string; text: string; receivedAt: number }

/**
 * Creates the chat: a message goes to each domain's part until one answers, first to the parts
 * that claim it (`ChatPart.claims`), then to the others, each group in registration order; a
 * message nobody answers gets every domain's greeting.
 */
export function createChat({
  parts,
  onError,
  reply,
  now = Date.now,
  queueLimit = SENDER_QUEUE_LIMIT,
  maxSenders = MAX_WAITING_SENDERS,
}: {
  parts: readonly ChatPart[]
  onError: (error: unknown) => void
  /** Sends a reply to the full JID that wrote. */
  reply: (to: string, text: string) => void
  now?: () => number
  queueLimit?: number
  maxSenders?: number
}): Chat {
  /** Each sender's waiting messages (by bare JID); present while its worker runs. */
  const queues = new Map<string, Waiting[]>()
  const workers = new Set<Promise<void>>()

  async function route(from: string, text: string, receivedAt: number): Promise<string[]> {
    const jid = bareJid(from)
    const body = text.trim()
    if (!body) return []
    const message = { jid, text: body, receivedAt }
    // "help" and "status" are every domain's: each says its part, for this person.
    const word = body.toLowerCase()
    if (word === 'help' || word === 'status') {
      const said: string[] = []
      for (const part of parts) {
        const text = await part[word]?.(jid)
        if (text) said.push(text)
      }
      if (said.length > 0) return [said.join('\n\n')]
      if (word === 'status') return [`You have nothing going on here yet.\n${greetings()}`]
      return [greetings()]
    }
    // Parts that claim the message (their command, or the answer to their question) go first.
    const claimed = parts.filter((part) => part.claims?.(message))
    for (const part of [...claimed, ...parts.filter((part) => !claimed.includes(part))]) {
      const replies = await part.handle(message)
      if (replies) return replies
    }
    return [greetings()]
  }

  const greetings = () => parts.map((part) => part.greeting).join('\n')

  async function handle(from: string, text: string, receivedAt = now()): Promise<string[]> {
    try {
      return await route(from, text, receivedAt)
    } catch (error) {
      if (error instanceof BaseError) return [error.shortMessage]
      onError(error)
      return ['Something went wrong on my side; please try again in a moment.']
    }
  }

  /** Answers `jid`'s messages in order until its queue is empty. */
  async function work(jid: string, queue: Waiting[]): Promise<void> {
    try {
      while (queue.length > 0) {
        const { from, text, receivedAt } = queue[0]!
        for (const line of await handle(from, text, receivedAt)) reply(from, line)
        queue.shift()
      }
    } finally {
      queues.delete(jid) // a transport that threw must not leave this person unheard
    }
  }

  const preview = (text: string) => {
    // One line, without control characters (terminal escapes, bells) echoed back.
    const line = text
      .replace(/\s+/g, ' ')
      .replace(/\p{Cc}/gu, '')
      .trim()
    return line.length > 60 ? `${line.slice(0, 60)}…` : line
  }

  return {
    receive(from, text) {
      const jid = bareJid(from)
      const waiting = { from, text, receivedAt: now() }
      const queue = queues.get(jid)
      if (queue) {
        if (queue.length >= queueLimit) {
          reply(
            from,
            `You sent more than ${queueLimit} message${queueLimit === 1 ? '' : 's'} before I could answer, so I did not take "${preview(text)}". Send it again once I have answered the others.`,
          )
          return
        }
        queue.push(waiting)
        return
      }
      if (queues.size >= maxSenders) {
        reply(
          from,
          `I'm answering many people right now and did not take "${preview(text)}"; please send it again in a minute.`,
        )
        return
      }
      const fresh = [waiting]
      queues.set(jid, fresh)
      const worker = work(jid, fresh)
        .catch(onError)
        .finally(() => workers.delete(worker))
      workers.add(worker)
    },
    handle,
    async idle() {
      while (workers.size > 0) await Promise.all(workers)
    },
    async start() {
      for (const part of parts) await part.start?.()
    },
    stop() {
      for (const part of parts) part.stop?.()
    },
    async remind() {
      for (const part of parts) await part.remind?.()
    },
    async settled() {
      await Promise.all(parts.map((part) => part.settled?.()))
    },
  }
}
