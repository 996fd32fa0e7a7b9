import { ValidateBy, ValidationOptions, buildMessage } from 'class-validator';

const URL_PROTOCOLS = new Set(['http:', 'https:', 'ssh:', 'git:']);
/** scp-like syntax git understands: `user@host:path`, e.g. `git@github.com:owner/name.git`. */
const SCP_LIKE = /^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:(?!\/\/)[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$/;

/**
 * A URL git can clone from: http(s), ssh or git URLs with a host and a path, or the
 * scp-like form. Passwords and tokens in the URL are refused: clone URLs are
 * stored and shown, credentials belong in a secret store.
 */
export function isCloneUrl(value: unknown): boolean {
  if (typeof value !== 'string' || value.length > 2048 || /\s/.test(value)) return false;
  if (SCP_LIKE.test(value)) return true;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return URL_PROTOCOLS.has(url.protocol) && url.hostname !== '' && url.password === '' && url.pathname.length > 1;
}

/**
 * A branch name git accepts (the rules of `git check-ref-format --branch`, kept to
 * what matters for stored names): no whitespace or control characters, none of
 * `~ ^ : ? * [ \`, no `..` or `@{`, no empty path component, not starting with
 * `-` or `/`, not ending with `/`, `.` or `.lock`, and not `@` alone.
 */
export function isBranchName(value: unknown): boolean {
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) return false;
  if (/[\s\p{Cc}~^:?*[\\]/u.test(value)) return false;
  if (value.includes('..') || value.includes('@{') || value.includes('//')) return false;
  if (
    value === '@' ||
    value.startsWith('-') ||
    value.startsWith('/') ||
    value.endsWith('/') ||
    value.endsWith('.') ||
    value.endsWith('.lock')
  )
    return false;
  return value.split('/').every((part) => !part.startsWith('.'));
}

export function IsCloneUrl(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isCloneUrl',
      validator: {
        validate: isCloneUrl,
        defaultMessage: buildMessage(
          (each) => `${each}$property must be an http(s), ssh or git URL, or git@host:owner/name.git, without credentials`,
          options,
        ),
      },
    },
    options,
  );
}

export function IsBranchName(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isBranchName',
      validator: {
        validate: isBranchName,
        defaultMessage: buildMessage((each) => `${each}$property must be a valid git branch name`, options),
      },
    },
    options,
  );
}
