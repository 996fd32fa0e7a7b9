import { translateDatabaseError } from '@strata/base';

/**
 * The input fields behind this module's multi-column keys. Under row-level
 * security PostgreSQL leaves the key out of its error detail, and a constraint
 * name alone cannot say where one column ends.
 */
const CONSTRAINT_FIELDS: Record<string, string[]> = {
  repositories_organization_id_provider_full_name_key: ['provider', 'fullName'],
  repositories_organization_id_provider_external_id_key: ['provider', 'externalId'],
  project_repositories_project_id_repository_id_key: ['projectId', 'repositoryId'],
  team_members_organization_id_team_id_user_id_key: ['userId'],
};

/** Base's `translateDatabaseError`, told which fields this module's composite keys are about. */
export function rethrowDatabaseError(error: unknown, subject: string): never {
  translateDatabaseError(error, subject, CONSTRAINT_FIELDS);
}
