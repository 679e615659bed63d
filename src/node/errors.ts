import { BaseError } from '../errors/base.ts'

/** Thrown when a node's data dir or config file is missing or invalid. */
export class NodeConfigError extends BaseError {
  override name = 'NodeConfigError' as const
  override readonly kind = 'invalid' as const
}

/** Thrown when another process runs a node on the same data directory. */
export class NodeRunningError extends BaseError {
  override name = 'NodeRunningError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when the HTTP port is taken. */
export class PortInUseError extends BaseError {
  override name = 'PortInUseError' as const
  override readonly kind = 'conflict' as const
}

/** Thrown when a node is stopped while it was starting. */
export class StartAbortedError extends BaseError {
  override name = 'StartAbortedError' as const
  override readonly kind = 'unavailable' as const
}

/** Thrown when a node's parts are used before `start()` (or after `stop()`). */
export class NodeNotStartedError extends BaseError {
  override name = 'NodeNotStartedError' as const
  override readonly kind = 'unavailable' as const
  constructor() {
    super('The node is not started; call start() first.')
  }
}
