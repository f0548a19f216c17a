/**
 * Validated messages: the `schema` option takes any Standard Schema validator (zod, valibot,
 * arktype... see https://standardschema.dev). The interface is written out here from the spec,
 * so core needs no validator as a dependency.
 */

/** A Standard Schema (v1) validator: what zod, valibot and arktype schemas expose as `~standard`. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaV1.Props<Input, Output>;
}

export declare namespace StandardSchemaV1 {
  /** The `~standard` property. */
  export interface Props<Input = unknown, Output = Input> {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => Result<Output> | Promise<Result<Output>>;
    readonly types?: Types<Input, Output> | undefined;
  }
  /** Either the validated value or the issues. */
  export type Result<Output> = SuccessResult<Output> | FailureResult;
  export interface SuccessResult<Output> {
    readonly value: Output;
    readonly issues?: undefined;
  }
  export interface FailureResult {
    readonly issues: ReadonlyArray<Issue>;
  }
  /** One problem found by the validator. */
  export interface Issue {
    readonly message: string;
    readonly path?: ReadonlyArray<PropertyKey | PathSegment> | undefined;
  }
  export interface PathSegment {
    readonly key: PropertyKey;
  }
  /** Type-only: what the validator accepts and returns. */
  export interface Types<Input = unknown, Output = Input> {
    readonly input: Input;
    readonly output: Output;
  }
  /** What a validator accepts. */
  export type InferInput<Schema extends StandardSchemaV1> = NonNullable<Schema['~standard']['types']>['input'];
  /** What a validator returns. */
  export type InferOutput<Schema extends StandardSchemaV1> = NonNullable<Schema['~standard']['types']>['output'];
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The issues of a message that was not JSON: one, without a path. */
export function jsonIssue(error: unknown): StandardSchemaV1.Issue[] {
  return [{ message: `Invalid JSON: ${(error as Error).message}` }];
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;

/**
 * True when JSON text nests arrays and objects more than `max` deep, found by a scan of the
 * bytes (or UTF-16 units) before anything is parsed. JSON.parse and recursive validators spend
 * time (and stack) per level, so a megabyte of `[[[[` costs hundreds of milliseconds and can
 * overflow the stack of a recursive schema. The scan costs about a third of JSON.parse's time on
 * structured JSON, and about as much on text that is mostly long strings (bench/json-depth.mjs). Brackets inside strings do not count: a string is skipped from quote to the next quote
 * not escaped by an odd run of backslashes. The scan does not check that the text is JSON; it
 * only bounds what JSON.parse will be given. In UTF-8 the bytes scanned for are ASCII and never
 * part of a multi-byte character, so a Buffer is scanned as it is.
 */
export function nestsDeeperThan(data: string | Buffer, max: number): boolean {
  if (data.length <= max) return false;
  return typeof data === 'string' ? textNestsDeeper(data, max) : bytesNestDeeper(data, max);
}

function textNestsDeeper(text: string, max: number): boolean {
  let depth = 0;
  const length = text.length;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if ((c === CLOSE_ARRAY || c === CLOSE_OBJECT) && --depth < 0) {
      // Not JSON: JSON.parse throws at this very bracket and never reaches what follows.
      return false;
    }
  }
  return false;
}

/** The index of the quote that ends the string opened at `open` (the length when none does). */
function stringEnd(text: string, open: number): number {
  let quote = open;
  for (;;) {
    // indexOf runs over long strings far faster than a loop of charCodeAt.
    quote = text.indexOf('"', quote + 1);
    if (quote === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if ((backslashes & 1) === 0) return quote;
  }
}

function bytesNestDeeper(bytes: Buffer, max: number): boolean {
  let depth = 0;
  const length = bytes.length;
  for (let i = 0; i < length; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      i = bytesStringEnd(bytes, i);
    } else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > max) return true;
    } else if ((c === CLOSE_ARRAY || c === CLOSE_OBJECT) && --depth < 0) {
      // Not JSON: JSON.parse throws at this very bracket and never reaches what follows.
      return false;
    }
  }
  return false;
}

function bytesStringEnd(bytes: Buffer, open: number): number {
  let quote = open;
  for (;;) {
    quote = bytes.indexOf(QUOTE, quote + 1);
    if (quote === -1) return bytes.length;
    let backslashes = 0;
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if ((backslashes & 1) === 0) return quote;
  }
}

/** True for a value shaped like a Standard Schema validator. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  const props = (value as Partial<StandardSchemaV1>)['~standard'];
  return (
    props !== undefined &&
    props !== null &&
    typeof props === 'object' &&
    props.version === 1 &&
    typeof props.validate === 'function'
  );
}

/**
 * Parses a message as JSON and validates it: the value, the issues, or a promise of either
 * (for validators with async refinements).
 */
export function validateMessage(
  schema: StandardSchemaV1,
  data: string | Buffer,
): StandardSchemaV1.Result<unknown> | Promise<StandardSchemaV1.Result<unknown>> {
  let value: unknown;
  try {
    // Text frames were checked for UTF-8 by ws; a binary frame is decoded strictly, so that
    // invalid bytes are refused instead of becoming U+FFFD inside a value that validates.
    value = JSON.parse(typeof data === 'string' ? data : strictUtf8.decode(data));
  } catch (error) {
    return { issues: jsonIssue(error) };
  }
  return schema['~standard'].validate(value);
}
