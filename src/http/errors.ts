import { BaseError } from '../errors/base.ts'

/** Thrown when a request body is not JSON. */
export class MalformedJsonError extends BaseError {
  override name = 'MalformedJsonError' as const
}

/** Thrown when a request's fields do not match the route's schema. */
export class ValidationError extends BaseError {
  override name = 'ValidationError' as const
}

/** Thrown when an account may not do what it asked. */
export class ForbiddenError extends BaseError {
  override name = 'ForbiddenError' as const
}

/** Thrown for an unknown route or resource. */
export class NotFoundError extends BaseError {
  override name = 'NotFoundError' as const
}

/** Thrown when a request body is larger than the node accepts. */
export class PayloadTooLargeError extends BaseError {
  override name = 'PayloadTooLargeError' as const
}

/** Thrown when a request body is not of a type the route takes. */
export class UnsupportedMediaTypeError extends BaseError {
  override name = 'UnsupportedMediaTypeError' as const
}

/** HTTP status of each named error; anything else named is a 400, anything unnamed a 500. */
const STATUS: Record<string, number> = {
  MalformedJsonError: 400,
  ValidationError: 400,
  MalformedOpError: 400,
  NonCanonicalOpError: 400,
  UnsupportedOpVersionError: 400,
  NotAnOpError: 400,
  InvalidOpFieldError: 400,
  TooManyDepsError: 400,
  UnauthorizedError: 401,
  ForbiddenError: 403,
  AuditPermissionError: 403,
  NotFoundError: 404,
  AuditNotFoundError: 404,
  UnknownDocumentError: 404,
  AuditOpRefusedError: 409,
  AmbiguousAuditError: 409,
  AuditNameTakenError: 409,
  AccountError: 409,
  OpTooLargeError: 413,
  PayloadTooLargeError: 413,
  UnsupportedMediaTypeError: 415,
  InvalidSignatureError: 422,
  InvalidAuditInputError: 422,
  InvalidAnswerError: 422,
  InvalidPayoutAddressError: 422,
  InvalidRatioError: 422,
  InvalidAccountNameError: 422,
  KeyFileError: 422,
  PaymentError: 409,
  ChainError: 503,
  PendingBufferFullError: 503,
  LedgerFailedError: 503,
}

/** The status and JSON body of an error, as every route answers it. */
export function errorResponse(error: unknown): {
  status: number
  body: { error: string; message: string }
} {
  if (error instanceof BaseError) {
    return {
      status: STATUS[error.name] ?? 400,
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
