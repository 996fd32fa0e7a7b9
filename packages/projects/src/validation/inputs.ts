import { ValidationError } from '@strata/base';
import { SLUG_PATTERN } from './patterns';

export const SLUG_MESSAGE = 'slug must be 1 to 100 lowercase letters, digits and inner dashes';
export const FULL_NAME_MESSAGE =
  'fullName must be owner/name (letters, digits, _ - .; nested groups allowed; no spaces, no leading or trailing slash)';

/** Refuses an update that changes nothing. */
export function requireSomeField<T extends object>(given: Partial<T>, fields: readonly (keyof T)[], subject: string): void {
  if (Object.keys(given).length === 0) {
    throw ValidationError.forField('(input)', `give at least one of ${fields.join(', ')}`, subject);
  }
}

/** A slug passed as a plain argument (`getBySlug`). */
export function validateSlug(value: unknown, subject: string): string {
  if (typeof value !== 'string' || !SLUG_PATTERN.test(value)) throw ValidationError.forField('slug', SLUG_MESSAGE, subject);
  return value;
}
