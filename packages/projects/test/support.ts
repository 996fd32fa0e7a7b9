import { ConflictError, NotFoundError, OrganizationsService, ValidationError } from '@strata/base';
import { TestDatabase } from '@strata/testing';

export const PROJECT_TABLES = ['projects.projects', 'projects.repositories', 'projects.project_repositories', 'projects.teams', 'projects.team_members'];

/** Rows in every projects table and the audit log, read as the owner (row-level security does not filter it). */
export async function rowCounts(db: TestDatabase): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of [...PROJECT_TABLES, 'base.audit_log']) {
    counts[table] = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0].n);
  }
  return counts;
}

/** Runs refused calls and checks that none of them wrote a row anywhere. */
export async function expectNothingWritten(db: TestDatabase, refusals: () => Promise<void>): Promise<void> {
  const before = await rowCounts(db);
  await refusals();
  expect(await rowCounts(db)).toEqual(before);
}

type ErrorClass = new (...args: never[]) => Error;

/**
 * Awaits a call that must fail and checks the error: its class, and the fields it
 * names (ValidationError, ConflictError) or the entity it did not find (NotFoundError).
 */
export async function expectRefused(call: Promise<unknown>, errorClass: ErrorClass, detail?: string[] | string): Promise<Error> {
  const error = await call.then(
    (value) => new Error(`expected ${errorClass.name}, but the call succeeded with ${JSON.stringify(value)}`),
    (e: unknown) => e as Error,
  );
  expect(error).toBeInstanceOf(errorClass);
  if (error instanceof ValidationError || error instanceof ConflictError) expect([...error.fields].sort()).toEqual([...(detail as string[])].sort());
  if (error instanceof NotFoundError && detail !== undefined) expect(error.entity).toBe(detail);
  return error;
}

export interface Tenant {
  id: string;
  /** A user who is a member of this organization only. */
  userId: string;
}

/** Creates an organization with one member; `name` makes slugs and emails unique within the test file. */
export async function createTenant(db: TestDatabase, name: string): Promise<Tenant> {
  const organizations = new OrganizationsService(db.dataSource);
  const organization = await organizations.create({ name: `Org ${name}`, slug: `org-${name}` });
  const user = await organizations.createUser({ email: `${name}@example.com`, name: `User ${name}` });
  await organizations.addMember(organization.id, { userId: user.id, role: 'member' });
  return { id: organization.id, userId: user.id };
}

/** A well-formed uuid that names nothing. */
export const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
