import { StartAbortedError } from './errors.ts'

/** What a part's `start` and `stop` are given. */
export type LifecycleOptions = {
  /**
   * On `start`: aborted when the node is stopped before it finished starting (give up).
   * On `stop`: aborted when the node's grace period is over (cut short whatever is left).
   */
  readonly signal: AbortSignal
}

/**
 * A long-lived part of a node (store, ledger, replicator, chain, a domain's service, HTTP,
 * chat): `createNode` starts its parts in order and stops them in reverse, as js-libp2p does
 * with its components.
 */
export interface Startable {
  /** The part's name, for logs and errors ("ledger", "http", "audit.settler"…). */
  readonly name: string
  start(options: LifecycleOptions): Promise<void> | void
  /** Undoes `start`. Called only for parts whose `start` finished. */
  stop(options: LifecycleOptions): Promise<void> | void
}

/**
 * Starts `parts` in order; when one fails (or `signal` aborts), stops the ones already started,
 * in reverse, and throws the failure. Answers the parts that were started, for `stopAll`.
 */
export async function startAll(
  parts: readonly Startable[],
  {
    signal,
    onStopError,
  }: LifecycleOptions & { onStopError: (error: unknown, part: string) => void },
): Promise<Startable[]> {
  const started: Startable[] = []
  try {
    for (const part of parts) {
      if (signal.aborted)
        throw new StartAbortedError(`The node was stopped while starting (before "${part.name}").`)
      await part.start({ signal })
      started.push(part)
    }
  } catch (error) {
    await stopAll(started, { signal: AbortSignal.timeout(10_000), onStopError })
    throw error
  }
  return started
}

/** Stops `parts` in reverse order; a part that fails to stop does not keep the others running. */
export async function stopAll(
  parts: readonly Startable[],
  {
    signal,
    onStopError,
  }: LifecycleOptions & { onStopError: (error: unknown, part: string) => void },
): Promise<void> {
  for (const part of [...parts].reverse()) {
    try {
      await part.stop({ signal })
    } catch (error) {
      onStopError(error, part.name)
    }
  }
}
