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
