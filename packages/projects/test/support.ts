import { OrganizationsService } from '@strata/base';
import {
  TestDatabase,
  UNKNOWN_ID,
  expectNothingWritten as nothingWrittenIn,
  expectRefused,
  rowCounts as rowCountsOf,
} from '@strata/testing';

export const PROJECT_TABLES = [
  'projects.projects',
  'projects.repositories',
  'projects.project_repositories',
  'projects.teams',
  'projects.team_members',
];

/** What a refused call must leave untouched: every projects table and the audit log. */
const WATCHED = [...PROJECT_TABLES, 'base.audit_log'];

export const rowCounts = (db: TestDatabase) => rowCountsOf(db, WATCHED);
export const expectNothingWritten = (db: TestDatabase, refusals: () => Promise<void>) => nothingWrittenIn(db, WATCHED, refusals);
export { UNKNOWN_ID, expectRefused };

export interface Tenant {
  id: string;
  /** A user who is a member of this organization only. */
  userId: string;
}

/** Creates an organization with one member; `name` makes slugs and emails unique within the test file. */
export async function createTenant(db: TestDatabase, name: string): Promise<Tenant> {
  const organizations = new OrganizationsService(db.dataSource);
  const organization = await organizations.create({ name: `Org ${name}`, slug: `org-${name}` });
  const { userId } = await organizations.inviteMember(organization.id, {
    email: `${name}@example.com`,
    name: `User ${name}`,
    role: 'member',
  });
  return { id: organization.id, userId };
}
