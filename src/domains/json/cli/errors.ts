import { BaseError } from '../../../errors/base.ts'

/** Thrown by `rwa doc` for an argument, a file or an edit it cannot use. */
export class JsonCliError extends BaseError {
  override name = 'JsonCliError' as const
  override readonly kind = 'invalid' as const
}
