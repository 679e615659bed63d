import { client, type XmppClient, xml } from '@xmpp/client'
import type { Logger } from 'pino'
import type { XmppConfig } from '../node/config.ts'
import { bareJid, type Chat } from './chat.ts'

/** Messages kept for sending while the bot is offline; older ones are dropped past this. */
const MAX_QUEUED = 1000

/** The chat bot's connection: logs in, hands messages to the chat, sends its replies. */
export type XmppBot = {
  start(): Promise<void>
  stop(): Promise<void>
  /** Sends to a bare JID (every device of the person) or a full one (that device only). */
  send(jid: string, text: string): void
  /** The chat this bot talks for (set before `start`). */
  attach(chat: Chat): void
}

/**
 * Creates the XMPP transport of the RWA bot: logs in as `config.username`, answers chat messages
 * through the chat, and reconnects with exponential backoff (1 s doubling to 60 s) whenever the
 * connection drops or the server is down at start.
 */
export function createXmppBot(config: XmppConfig, logger: Logger): XmppBot {
  const self = `${config.username}@${config.domain}`.toLowerCase()
  let chat: Chat | undefined
  let xmpp: XmppClient | undefined
  let online = false
  let stopped = false
  let delay = 1000
  let retry: NodeJS.Timeout | undefined
  const queue: { jid: string; text: string }[] = []
  let sending: Promise<void> = Promise.resolve()

  const deliver = (jid: string, text: string) => {
    sending = sending
      .then(() => xmpp!.send(xml('message', { to: jid, type: 'chat' }, xml('body', {}, text))))
      .catch((err: unknown) => logger.warn({ err, to: jid }, 'could not send a chat message'))
  }

  function send(jid: string, text: string): void {
    if (online && xmpp) {
      deliver(jid, text)
      return
    }
    if (queue.length >= MAX_QUEUED) queue.shift()
    queue.push({ jid, text })
  }

  function onMessage(stanza: Parameters<Parameters<XmppClient['on']>[1]>[0]): void {
    if (!stanza.is('message') || stanza.attrs.type === 'error' || stanza.attrs.type === 'groupchat')
      return
    const body = stanza.getChildText('body')
    const from = stanza.attrs.from
    if (!body || !from || bareJid(from) === self || !chat) return
    // Queued per person and answered in order, to the full JID (the device that wrote); a
    // message from the network never crashes the node: the chat answers errors itself.
    chat.receive(from, body.slice(0, 4000))
  }

  function connect(): void {
    const entity = client({
      service: config.service,
      domain: config.domain,
      username: config.username,
      password: config.password,
      resource: 'rwa',
    })
    xmpp = entity
    entity.on('error', (err: Error) => logger.warn({ err: err.message }, 'xmpp error'))
    entity.on('offline', () => {
      online = false
    })
    entity.on('stanza', (stanza) => {
      try {
        onMessage(stanza)
      } catch (err) {
        logger.error({ err }, 'chat message failed')
      }
    })
    entity.on('online', async () => {
      online = true
      delay = 1000
      entity.reconnect.delay = delay
      logger.info({ jid: self }, 'xmpp bot online')
      await entity.send(xml('presence')).catch(() => undefined)
      for (const { jid, text } of queue.splice(0)) deliver(jid, text)
    })
    entity.on('reconnecting', () => {
      delay = Math.min(delay * 2, 60_000)
      entity.reconnect.delay = delay
    })
    entity.start().catch((err: Error) => {
      if (stopped) return
      logger.warn({ err: err.message, retryInMs: delay }, 'xmpp bot could not connect; retrying')
      entity.reconnect.stop()
      entity.removeAllListeners()
      entity.on('error', () => undefined) // a late socket error must not become an uncaught one
      retry = setTimeout(connect, delay)
      delay = Math.min(delay * 2, 60_000)
    })
  }

  return {
    attach(c) {
      chat = c
    },
    send,
    async start() {
      stopped = false
      connect()
    },
    async stop() {
      stopped = true
      clearTimeout(retry)
      await sending
      online = false
      const entity = xmpp
      xmpp = undefined
      if (entity) await entity.stop().catch(() => undefined)
    },
  }
}
