import type { ChatPart } from '../domains/plugin.ts'
import { BaseError } from '../errors/base.ts'

/** A bare, lowercase JID from a full one (`Alice@Example.org/phone` → `alice@example.org`). */
export function bareJid(jid: string): string {
  return jid.split('/')[0]!.toLowerCase()
}

/** The node's chat, independent of the transport: it hands each message to the domains' parts. */
export interface Chat {
  /** Answers one message; replies are sent back in order. Errors become a one-line reply. */
  handle(from: string, text: string): Promise<string[]>
  /** Starts every domain's part (they follow the ledger and push messages). */
  start(): Promise<void>
  stop(): void
  /** Lets every domain remind people of what waits for them. */
  remind(): Promise<void>
  /** Resolves once the messages pushed for ops seen so far have been sent. */
  settled(): Promise<void>
}

/**
 * Creates the chat: a message goes to each domain's part in registration order until one
 * answers; nobody's message gets every domain's greeting.
 */
export function createChat({
  parts,
  onError,
}: {
  parts: readonly ChatPart[]
  onError: (error: unknown) => void
}): Chat {
  async function route(from: string, text: string): Promise<string[]> {
    const jid = bareJid(from)
    const body = text.trim()
    if (!body) return []
    for (const part of parts) {
      const replies = await part.handle(jid, body)
      if (replies) return replies
    }
    return [parts.map((part) => part.greeting).join('\n')]
  }

  return {
    async handle(from, text) {
      try {
        return await route(from, text)
      } catch (error) {
        if (error instanceof BaseError) return [error.shortMessage]
        onError(error)
        return ['Something went wrong on my side; please try again in a moment.']
      }
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
