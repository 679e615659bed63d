import { BaseError } from '../../errors/base.ts'

/** Thrown when a node has as many change feeds (SSE streams) open as it serves. */
export class JsonStreamsBusyError extends BaseError {
  override name = 'JsonStreamsBusyError' as const
  override readonly kind = 'unavailable' as const
}
