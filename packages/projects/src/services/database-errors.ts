import { ConflictError, NotFoundError, translateDatabaseError } from '@strata/base';

interface PgError {
  code?: string;
  constraint?: string;
  table?: string;
}

function pgErrorOf(error: unknown): PgError {
  const inner = (error as { driverError?: unknown } | null)?.driverError ?? error;
  return typeof inner === 'object' && inner !== null ? (inner as PgError) : {};
}

/** The constraint a failed statement broke, if it broke one. */
export function violatedConstraint(error: unknown): string | undefined {
  return pgErrorOf(error).constraint;
}

/**
 * The input fields behind this module's multi-column unique keys. Under
 * row-level security PostgreSQL leaves the key out of its error detail, and a
 * constraint name alone cannot say which of its columns are fields.
 */
const CONFLICT_FIELDS: Record<string, string[]> = {
  repositories_organization_id_provider_full_name_key: ['provider', 'fullName'],
  repositories_organization_id_provider_external_id_key: ['provider', 'externalId'],
  project_repositories_project_id_repository_id_key: ['projectId', 'repositoryId'],
  team_members_organization_id_team_id_user_id_key: ['userId'],
};

/**
 * Base's `translateDatabaseError`, plus what this module knows: which input
 * fields clash on a composite key, and that a broken reference to
 * `base.organizations` means the organization does not exist.
 */
export function rethrowDatabaseError(error: unknown, subject: string, organizationId: string): never {
  const { code, constraint, table } = pgErrorOf(error);
  const fields = constraint ? CONFLICT_FIELDS[constraint] : undefined;
  if (code === '23505' && fields) {
    throw new ConflictError(`${subject} already exists with the same ${fields.join(', ')}`, fields, { cause: error });
  }
  if (code === '23503' && constraint === `${table}_organization_id_fkey`) {
    throw new NotFoundError('organization', { id: organizationId });
  }
  translateDatabaseError(error, subject);
}
