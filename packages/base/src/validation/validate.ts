import { plainToInstance } from 'class-transformer';
import { ValidateIf, ValidationError as ClassValidatorError, validate } from 'class-validator';
import { FieldError, ValidationError } from '../errors';

type InputClass<T> = new () => T;

/**
 * Validates untrusted input against a class-validator class and returns the typed
 * instance. Unknown properties are refused (a typo is a bad field, not silently
 * dropped). Throws one `ValidationError` listing every bad field; call it before
 * anything is written.
 */
export async function validateInput<T extends object>(cls: InputClass<T>, input: unknown, subject = cls.name): Promise<T> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw ValidationError.forField('(input)', 'must be an object', subject);
  }
  const instance = plainToInstance(cls, input, { exposeDefaultValues: true });
  const errors = await validate(instance, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length > 0) throw new ValidationError(flatten(errors), subject);
  return instance;
}

function flatten(errors: ClassValidatorError[], prefix = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = prefix ? `${prefix}.${error.property}` : error.property;
    const own: FieldError[] = error.constraints ? [{ field, messages: Object.values(error.constraints) }] : [];
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

/**
 * Checks ids passed as plain arguments (`get(orgId, taskId)`), so a malformed id is
 * a `ValidationError` naming the argument rather than a database cast error.
 */
export function validateId(value: unknown, field: string, subject?: string): string {
  validateIds({ [field]: value }, subject);
  return value as string;
}

/** Several id arguments at once: one `ValidationError` naming every malformed one. */
export function validateIds(ids: Record<string, unknown>, subject?: string): void {
  const errors: FieldError[] = Object.entries(ids)
    .filter(([, value]) => !isUuid(value))
    .map(([field, value]) => ({ field, messages: [`must be a uuid, got ${JSON.stringify(value)}`] }));
  if (errors.length > 0) throw new ValidationError(errors, subject);
}

/**
 * The properties of a validated input that were given. A validated instance has
 * every declared property, left-out ones as `undefined`; TypeORM refuses those in
 * a where clause, and an update should touch only what was given.
 */
export function definedProperties<T extends object>(input: T): Partial<T> {
  return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * Like `@IsOptional()`, but only a missing value skips the rules that follow:
 * `null` is checked (and refused by them). For fields that can be left out but
 * never cleared, such as `settings` or `visibility`.
 */
export function OptionalNotNull(): PropertyDecorator {
  return ValidateIf((_object, value) => value !== undefined);
}
