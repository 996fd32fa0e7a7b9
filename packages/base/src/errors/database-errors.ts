import {
  ConflictError,
  ForbiddenError,
  LockNotAvailableError,
  NotFoundError,
  QueryCanceledError,
  StrataError,
  TenantError,
  TransactionConflictError,
  ValidationError,
} from './errors';

interface PgError {
  code?: string;
  constraint?: string;
  schema?: string;
  table?: string;
  column?: string;
  detail?: string;
  message?: string;
}

function pgErrorOf(error: unknown): PgError | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  // TypeORM wraps the driver error in QueryFailedError.driverError
  const inner = (error as { driverError?: unknown }).driverError ?? error;
  return typeof (inner as PgError).code === 'string' ? (inner as PgError) : undefined;
}

/** The SQLSTATE of a failed statement (`40001`), if it is a database error. */
export function sqlStateOf(error: unknown): string | undefined {
  return pgErrorOf(error)?.code;
}

/** The constraint a failed statement broke, if it broke one (for callers that turn a specific one into their own error). */
export function violatedConstraint(error: unknown): string | undefined {
  return pgErrorOf(error)?.constraint;
}

/**
 * The field(s) a failed constraint is about. PostgreSQL's DETAIL ("Key (slug)=…")
 * is the best source, but it is withheld on tables with row-level security, so
 * the conventional constraint name (`<table>_<cols>_<suffix>`) is the fallback:
 * `organizations_slug_key` → slug, `memberships_organization_id_user_id_fkey` and
 * `tasks_workflow_id_organization_id_fkey` → user_id and workflow_id.
 */
function fieldsOf(err: PgError): string[] {
  const fromDetail = /Key \(([^)]+)\)/.exec(err.detail ?? '')?.[1];
  let columns: string[];
  if (fromDetail) columns = fromDetail.split(',').map((c) => c.trim().replace(/"/g, ''));
  else if (err.column) columns = [err.column];
  else if (err.constraint && err.table && err.constraint.startsWith(`${err.table}_`)) {
    columns = [err.constraint.slice(err.table.length + 1).replace(/_(key|fkey|check|pkey|excl)$/, '')];
  } else columns = [];
  const meaningful = columns
    // Composite tenant references name organization_id first or last: `tasks_workflow_id_organization_id_fkey`.
    .map((c) => c.replace(/^organization_id_|_organization_id$/, ''))
    .filter((c) => c !== 'organization_id');
  // Named as callers spell them in service inputs (`definitionId`), not as columns.
  return (meaningful.length > 0 ? meaningful : columns).map(camelCase);
}

function camelCase(column: string): string {
  return column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Turns a PostgreSQL failure into Strata's typed errors naming the field:
 * - unique, or an exclusion (overlap) → ConflictError;
 * - foreign key → ValidationError on the reference (it does not exist, or belongs
 *   to another organization), or NotFoundError when the organization itself does
 *   not exist; a delete or update blocked by rows that still refer to the row →
 *   ConflictError;
 * - check, not-null, bad text for a type, too long → ValidationError;
 * - a number out of range for its column (22003) → ValidationError naming
 *   `outOfRangeFields`, the input fields it can be about (PostgreSQL names no column);
 * - row-level security → TenantError; any other refused privilege (a missing
 *   grant, or a check in a SECURITY DEFINER function or trigger raising
 *   insufficient_privilege) → ForbiddenError;
 * - serialization failure or deadlock → TransactionConflictError (what is left
 *   after `retryOnConflict`), lock not available → LockNotAvailableError,
 *   statement timeout or cancel → QueryCanceledError.
 * Anything else is rethrown as it is.
 * `constraintFields` names the input fields of constraints whose name alone is
 * ambiguous (`workflows_organization_id_name_version_key` → name, version).
 */
export function translateDatabaseError(
  error: unknown,
  subject = 'input',
  constraintFields: Record<string, string[]> = {},
  outOfRangeFields: string[] = [],
): never {
  if (error instanceof StrataError) throw error;
  const err = pgErrorOf(error);
  // A multi-column key's name cannot say where one column ends: callers name its fields.
  const known = err?.constraint ? constraintFields[err.constraint] : undefined;
  switch (err?.code) {
    case '23505': {
      const fields = known ?? fieldsOf(err);
      throw new ConflictError(`${subject} already exists with the same ${fields.join(', ') || err.constraint}`, fields, { cause: error });
    }
    case '23P01': {
      const fields = known ?? fieldsOf(err);
      throw new ConflictError(`${subject}: ${err.message}`, fields, { cause: error });
    }
    case '23503': {
      // The same code for both ends of a reference; the detail tells them apart.
      if (/is still referenced/.test(err.detail ?? '')) {
        const referencing = err.table ? ` by rows of ${err.schema ? `${err.schema}.` : ''}${err.table}` : '';
        throw new ConflictError(`${subject} is still referred to${referencing}: remove or move those first`, [], { cause: error });
      }
      // Every tenant table's key to its organization is named <table>_organization_id_fkey:
      // the organization the work runs in does not exist.
      if (err.constraint === `${err.table}_organization_id_fkey`) throw new NotFoundError('organization', {});
      const fields = known ?? fieldsOf(err);
      throw new ValidationError(
        [
          {
            field: fields.join(',') || err.constraint || 'reference',
            messages: ['refers to a row that does not exist in this organization'],
          },
        ],
        subject,
      );
    }
    case '23514':
    case '23502':
    case '22P02':
    case '22001': {
      const field = (known ?? fieldsOf(err)).join(',') || 'input';
      throw new ValidationError([{ field, messages: [err.message ?? 'is invalid'] }], subject);
    }
    case '22003': {
      const field = outOfRangeFields.join(',') || err.column || 'input';
      throw new ValidationError([{ field, messages: [`is out of range (${err.message ?? 'numeric value out of range'})`] }], subject);
    }
    case '40001':
    case '40P01':
      throw new TransactionConflictError(`${subject}: the transaction conflicted with a concurrent one (${err.message}); run it again`, {
        cause: error,
      });
    case '55P03':
      throw new LockNotAvailableError(`${subject}: a row or table it needs is locked by other work (${err.message})`, { cause: error });
    case '57014':
      throw new QueryCanceledError(`${subject}: ${err.message}`, { cause: error });
    case '42501':
      if (/row-level security/.test(err.message ?? '')) throw new TenantError(`${subject}: ${err.message}`, { cause: error });
      throw new ForbiddenError(err.message ?? `${subject}: permission denied`, { cause: error });
  }
  throw error;
}
