import type { AnswerBudget } from './sync-answer.ts'

// What a node serves its peers over sync, and the policies that price and gate it (issue 22: SWAP
// accounting is one). Sync answers are the replication a peer asks for, and both sides see the
// same bytes of each one: the server counts what it sent, the puller what it received, so both
// sides can keep the same account of it. Gossip is not counted: it is pushed, and a gossipsub
// sender does not learn which peers a message reached first (as in Waku, whose SWAP accounts for
// its store queries and not its relay).

/** One sync answer, as both its server and its puller see it. */
export type SyncAnswer = {
  /** Reconciliation (`recon`) or ops (`ops`). */
  readonly kind: 'recon' | 'ops'
  /** Ops it carried. */
  readonly ops: number
  /** Its encoded length. */
  readonly bytes: number
}

/** A policy on what this node serves peers over sync, and what it takes from them. */
export interface ServingPolicy {
  /**
   * Before serving a peer's sync request: undefined to serve it, or how long (ms) the peer is
   * told to wait (it is not served now).
   */
  admit?(peer: string): number | undefined
  /**
   * How much a pull answer to this peer may carry now (ops, bytes of ops), within sync's own
   * limits; undefined for no bound of the policy's. Past it the peer asks again for the rest.
   */
  budget?(peer: string): AnswerBudget | undefined
  /** An answer this node sent a peer (not a `wait`). */
  served?(peer: string, answer: SyncAnswer): void
  /** Before this node pulls from a peer (a handshake the accounting needs may run first). */
  beforePull?(peer: string, signal: AbortSignal): Promise<void>
  /** An answer this node received from a peer (not a `wait`). */
  received?(peer: string, answer: SyncAnswer): void
}

/** The node's serving policies: the replicator consults them, domains add theirs. */
export interface ServingPolicies extends Required<ServingPolicy> {
  /** Adds a policy; returns its removal. */
  add(policy: ServingPolicy): () => void
  /**
   * Resolves once the node's domains have added their policies: until then sync is neither
   * served (peers are told to wait) nor pulled, so that nothing goes unaccounted at start.
   */
  ready(signal?: AbortSignal): Promise<void>
  /** Whether `open` was called. */
  readonly isOpen: boolean
  /** Called by the node once its domains are built. */
  open(): void
}

/** How long a peer is told to wait while the node is still starting its domains. */
export const STARTING_WAIT_MS = 500

/** The node's registry of serving policies, closed until `open`. */
export function createServingPolicies(): ServingPolicies {
  const policies: ServingPolicy[] = []
  let opened = false
  let release: () => void = () => undefined
  const opening = new Promise<void>((resolve) => {
    release = resolve
  })
  const ready = (signal?: AbortSignal): Promise<void> => {
    if (opened) return Promise.resolve()
    if (!signal) return opening
    return new Promise<void>((resolve, reject) => {
      const abort = () => reject(signal.reason)
      if (signal.aborted) return abort()
      signal.addEventListener('abort', abort, { once: true })
      void opening.then(() => {
        signal.removeEventListener('abort', abort)
        resolve()
      })
    })
  }
  return {
    add(policy) {
      policies.push(policy)
      return () => {
        const at = policies.indexOf(policy)
        if (at >= 0) policies.splice(at, 1)
      }
    },
    get isOpen() {
      return opened
    },
    open() {
      opened = true
      release()
    },
    ready,
    admit(peer) {
      if (!opened) return STARTING_WAIT_MS
      let wait: number | undefined
      for (const policy of policies) {
        const ms = policy.admit?.(peer)
        if (ms !== undefined) wait = Math.max(wait ?? 0, ms)
      }
      return wait
    },
    budget(peer) {
      let ops: number | undefined
      let bytes: number | undefined
      for (const policy of policies) {
        const b = policy.budget?.(peer)
        if (b?.ops !== undefined) ops = Math.min(ops ?? b.ops, b.ops)
        if (b?.bytes !== undefined) bytes = Math.min(bytes ?? b.bytes, b.bytes)
      }
      if (ops === undefined && bytes === undefined) return undefined
      return { ...(ops === undefined ? {} : { ops }), ...(bytes === undefined ? {} : { bytes }) }
    },
    served(peer, answer) {
      for (const policy of policies) policy.served?.(peer, answer)
    },
    async beforePull(peer, signal) {
      await ready(signal)
      for (const policy of policies) await policy.beforePull?.(peer, signal)
    },
    received(peer, answer) {
      for (const policy of policies) policy.received?.(peer, answer)
    },
  }
}

/** Policies that are always open and empty: a replicator made without a node (tests, benches). */
export function openServing(): ServingPolicies {
  const serving = createServingPolicies()
  serving.open()
  return serving
}
