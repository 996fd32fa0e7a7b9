/**
 * Typed errors every Strata package throws. Callers branch on `code` (stable,
 * machine-readable) or `instanceof`; `message` is one readable line.
 */
export abstract class StrataError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }

  toJSON(): Record<string, unknown> {
    return { error: this.name, code: this.code, message: this.message };
  }
}

export interface FieldError {
  /** Dotted path of the bad field, e.g. `settings.timeout` or `steps.2.name`. */
  field: string;
  /** What is wrong with it, one message per broken rule. */
  messages: string[];
}

/** The input was rejected before anything was written. Lists every bad field. */
export class ValidationError extends StrataError {
  readonly code = 'VALIDATION_FAILED';
  readonly fields: string[];

  constructor(
    readonly errors: FieldError[],
    subject = 'input',
  ) {
    super(`Invalid ${subject}: ${errors.map((e) => `${e.field} (${e.messages.join('; ')})`).join(', ')}`);
    this.fields = errors.map((e) => e.field);
  }

  static forField(field: string, message: string, subject?: string): ValidationError {
    return new ValidationError([{ field, messages: [message] }], subject);
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), fields: this.errors };
  }
}

/** The thing asked for does not exist (or is not visible to this organization). */
export class NotFoundError extends StrataError {
  readonly code = 'NOT_FOUND';

  constructor(
    readonly entity: string,
    readonly key: Record<string, unknown>,
  ) {
    const described = Object.entries(key)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(', ');
    super(described ? `${entity} not found: ${described}` : `${entity} not found`);
  }
}

/** The write would break a uniqueness rule or a state rule (e.g. a duplicate slug). */
export class ConflictError extends StrataError {
  readonly code = 'CONFLICT';

  constructor(
    message: string,
    readonly fields: string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Work was attempted without an organization, or across organizations. */
export class TenantError extends StrataError {
  readonly code = 'TENANT_VIOLATION';
}

/** The acting user's role in the organization does not allow this (e.g. a viewer inviting members). */
export class ForbiddenError extends StrataError {
  readonly code = 'FORBIDDEN';
}

/** A state machine refused a transition (e.g. completing a task you do not hold). */
export class StateError extends StrataError {
  readonly code = 'ILLEGAL_STATE';
}

/** Misconfiguration: bad DATABASE_URL, missing extension, unknown module. */
export class ConfigurationError extends StrataError {
  readonly code = 'CONFIGURATION';
}

/** A migration failed or the schema does not match the entities. */
export class MigrationError extends StrataError {
  readonly code = 'MIGRATION_FAILED';
}

/**
 * The transaction lost a race with a concurrent one (serialization failure or
 * deadlock) more often than `retryOnConflict` retries, or it ran inside a
 * caller's transaction, which only the caller can re-run. Running the whole
 * transaction again may succeed.
 */
export class TransactionConflictError extends StrataError {
  readonly code = 'TRANSACTION_CONFLICT';
}

/** A lock was not available in time (`lock_timeout`, or `NOWAIT`): the row or table is busy. */
export class LockNotAvailableError extends StrataError {
  readonly code = 'LOCK_NOT_AVAILABLE';
}

/** The statement was cancelled: it ran longer than `statement_timeout`, or it was cancelled on request. */
export class QueryCanceledError extends StrataError {
  readonly code = 'QUERY_CANCELED';
}

/** A module's schema is not in this database yet: its migrations have not run. */
export class NotMigratedError extends StrataError {
  readonly code = 'NOT_MIGRATED';

  constructor(
    readonly module: string,
    options?: { cause?: unknown },
  ) {
    super(
      `module ${module} is not migrated in this database: run \`npm run strata -- migrate\` (every module) or \`nx run @strata/${module}:migrate\``,
      options,
    );
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), module: this.module };
  }
}

/** Another process holds the embedded database's data directory. */
export class DatabaseLockedError extends StrataError {
  readonly code = 'DATABASE_LOCKED';
}
