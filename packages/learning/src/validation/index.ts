import { ValidateIf } from 'class-validator';

/**
 * Like `@IsOptional()`, but only a missing value skips the rules that follow:
 * `null` is checked (and refused by them). The same helper as projects' (a
 * candidate for base).
 */
export function OptionalNotNull(): PropertyDecorator {
  return ValidateIf((_object, value) => value !== undefined);
}

/** Names, tags and aliases: lower-case, digits, dashes and underscores. */
export const TAG_PATTERN = /^[a-z0-9][a-z0-9_.:-]{0,63}$/;
