import { BaseError } from '../errors/base.ts'

/** Thrown when a store is used after `close()`. */
export class StoreClosedError extends BaseError {
  override name = 'StoreClosedError' as const
  constructor() {
    super('The store is closed; open it again before reading or writing.')
  }
}

/** Thrown when a store's file cannot be opened or is not an rwa store. */
export class StoreOpenError extends BaseError {
  override name = 'StoreOpenError' as const
  constructor(path: string, reason: string, options: { cause?: unknown } = {}) {
    super(`Cannot open the store at "${path}": ${reason}.`, options)
  }
}

/** Thrown when stored data does not decode or does not match what it was stored as. */
export class StoreCorruptError extends BaseError {
  override name = 'StoreCorruptError' as const
  constructor(what: string, reason: string, options: { cause?: unknown } = {}) {
    super(
      `Stored data "${what}" is corrupt: ${reason}; restore the store from a backup or a peer.`,
      options,
    )
  }
}

/** Thrown when a key file is missing, unreadable, malformed or readable by others. */
export class KeyFileError extends BaseError {
  override name = 'KeyFileError' as const
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options)
  }
}
