import { BaseError, type ErrorKind } from '../errors/base.ts'

/** Thrown when a request body is not JSON. */
export class MalformedJsonError extends BaseError {
  override name = 'MalformedJsonError' as const
  override readonly kind = 'malformed' as const
}

/** Thrown when a request's fields do not match the route's schema. */
export class ValidationError extends BaseError {
  override name = 'ValidationError' as const
  override readonly kind = 'malformed' as const
}

/** Thrown when an account may not do what it asked. */
export class ForbiddenError extends BaseError {
  override name = 'ForbiddenError' as const
  override readonly kind = 'forbidden' as const
}

/**
 * Thrown when a request names a host this node does not answer to (a DNS-rebinding page, or a
 * name missing from `[http] public_names`).
 */
export class MisdirectedRequestError extends BaseError {
  override name = 'MisdirectedRequestError' as const
  override readonly kind = 'forbidden' as const
}

/** Thrown when a web page of another site asks to change something. */
export class CrossSiteRequestError extends BaseError {
  override name = 'CrossSiteRequestError' as const
  override readonly kind = 'forbidden' as const
}

/** Thrown for an unknown route or resource. */
export class NotFoundError extends BaseError {
  override name = 'NotFoundError' as const
  override readonly kind = 'not-found' as const
}

/** Thrown when a request body is larger than the node accepts. */
export class PayloadTooLargeError extends BaseError {
  override name = 'PayloadTooLargeError' as const
  override readonly kind = 'too-large' as const
}

/** Thrown when a request body is not of a type the route takes. */
export class UnsupportedMediaTypeError extends BaseError {
  override name = 'UnsupportedMediaTypeError' as const
  override readonly kind = 'unsupported' as const
}

/** The HTTP status of each kind of error (RFC 9110); an error that is no BaseError is a 500. */
export const STATUS_OF_KIND: Readonly<Record<ErrorKind, number>> = {
  malformed: 400,
  unauthorised: 401,
  'payment-required': 402,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'too-large': 413,
  unsupported: 415,
  invalid: 422,
  unavailable: 503,
}

/** The status and JSON body of an error, as every route answers it. */
export function errorResponse(error: unknown): {
  status: number
  body: { error: string; message: string }
} {
  if (error instanceof BaseError) {
    return {
      status: STATUS_OF_KIND[error.kind],
      body: { error: error.name, message: error.shortMessage },
    }
  }
  return {
    status: 500,
    body: {
      error: 'InternalError',
      message: 'The node hit an unexpected error; it was logged. Retry, or report it with the log.',
    },
  }
}
