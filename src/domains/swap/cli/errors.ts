import { BaseError } from '../../../errors/base.ts'

/** Thrown by `rwa swap` for an argument it cannot use or a token file it cannot read. */
export class SwapCliError extends BaseError {
  override name = 'SwapCliError' as const
  override readonly kind = 'invalid' as const
}
