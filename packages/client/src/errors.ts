/**
 * The stable `code` of every error the client throws, as core's errors carry theirs: match on the
 * code, never on the message (docs/errors.md). Errors stay the built-in `TypeError` with the code
 * added. The option code is the same string as core's, so one check serves both packages.
 */
export const ErrorCode = {
  /** `connect()` got an unknown option, at any level, or a value of the wrong type. */
  INVALID_OPTION: 'SWITCHYARD_ERR_INVALID_OPTION',
  /** `connect()` got a URL it can't use: relative without a page, or another scheme. */
  INVALID_URL: 'SWITCHYARD_ERR_INVALID_URL',
  /** `send()` got something other than a string, an ArrayBuffer, a view or a Blob. */
  INVALID_DATA: 'SWITCHYARD_ERR_INVALID_DATA',
  /** `close()` got a code other than 1000 or 3000-4999, or a reason over 123 bytes. */
  INVALID_CLOSE: 'SWITCHYARD_ERR_INVALID_CLOSE',
} as const;

/** One of the codes of {@link ErrorCode}. */
export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];

/** A `TypeError` with its code: an own property, not enumerable, as core's `withCode` makes it. */
export function codedTypeError(message: string, code: ErrorCodeName): TypeError & { code: ErrorCodeName } {
  return Object.defineProperty(new TypeError(message), 'code', {
    value: code,
    writable: true,
    configurable: true,
    enumerable: false,
  }) as TypeError & { code: ErrorCodeName };
}
