// The parts of @xmpp/client 0.14 that rwa uses (the package ships no type declarations).
declare module '@xmpp/client' {
  import type { EventEmitter } from 'node:events'

  export type Element = {
    name: string
    attrs: Record<string, string | undefined>
    is(name: string): boolean
    getChildText(name: string): string | null
    getChild(name: string, xmlns?: string): Element | undefined
  }

  export type XmppClient = EventEmitter & {
    start(): Promise<unknown>
    stop(): Promise<void>
    send(element: Element): Promise<void>
    status: string
    reconnect: { delay: number; stop(): void }
    iqCaller: { request(element: Element, timeout?: number): Promise<Element> }
  }

  export function client(options: {
    service: string
    domain?: string
    username?: string
    password?: string
    resource?: string
  }): XmppClient

  export function xml(
    name: string,
    attrs?: Record<string, string>,
    ...children: (Element | string)[]
  ): Element
}
