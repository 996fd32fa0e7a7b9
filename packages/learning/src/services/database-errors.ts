import { translateDatabaseError } from '@strata/base';

/** The input fields behind this module's multi-column keys (RLS hides the key from the error detail). */
const CONSTRAINT_FIELDS: Record<string, string[]> = {
  ml_models_organization_id_name_key: ['name'],
  model_versions_organization_id_model_id_fkey: ['modelId'],
  model_versions_organization_id_parent_version_id_fkey: ['parentVersionId'],
  model_aliases_organization_id_model_id_version_id_fkey: ['versionId'],
  model_version_artifacts_organization_id_version_id_fkey: ['versionId'],
  model_version_artifacts_organization_id_artifact_id_fkey: ['artifactId'],
  model_version_artifacts_pkey: ['name'],
  artifacts_organization_id_sha256_key: ['sha256'],
  predictions_organization_id_version_id_fkey: ['versionId'],
};

/** Base's `translateDatabaseError`, told which fields this module's composite keys are about. */
export function rethrowDatabaseError(error: unknown, subject: string): never {
  translateDatabaseError(error, subject, CONSTRAINT_FIELDS);
}
