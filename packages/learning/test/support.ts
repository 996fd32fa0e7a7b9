import { OrganizationsService } from '@strata/base';
import { TestDatabase, UNKNOWN_ID, expectNothingWritten as nothingWrittenIn, expectRefused } from '@strata/testing';

export const LEARNING_TABLES = [
  'learning.ml_models',
  'learning.model_versions',
  'learning.model_aliases',
  'learning.model_alias_history',
  'learning.artifacts',
  'learning.artifact_blobs',
  'learning.model_version_artifacts',
  'learning.feature_views',
  'learning.feature_rows',
  'learning.online_features',
  'learning.predictions',
];

/** What a refused call must leave untouched: every learning table and the audit log. */
const WATCHED = [...LEARNING_TABLES, 'base.audit_log'];

export const expectNothingWritten = (db: TestDatabase, refusals: () => Promise<void>) => nothingWrittenIn(db, WATCHED, refusals);
export { UNKNOWN_ID, expectRefused };

/** A new organization; `name` makes its slug unique within the test file. */
export async function createOrganization(db: TestDatabase, name: string): Promise<string> {
  const organization = await new OrganizationsService(db.dataSource).create({ name: `Org ${name}`, slug: `org-${name}` });
  return organization.id;
}
