import { OrganizationsService, withTenant } from '@strata/base';
import {
  Refusal,
  TestDatabase,
  UNKNOWN_ID,
  expectNothingWritten as nothingWrittenIn,
  expectRefusals as refusalsIn,
  expectRefused,
  rowCounts as rowCountsOf,
} from '@strata/testing';

/** The five tables of schema `tasks`, parents first. */
export const TASK_TABLES = [
  'tasks.task_definitions',
  'tasks.workflows',
  'tasks.tasks',
  'tasks.task_dependencies',
  'tasks.task_executions',
] as const;
export type TaskTable = (typeof TASK_TABLES)[number];

/** What a refused call must leave untouched: every tasks table and the audit log. */
const WATCHED = [...TASK_TABLES, 'base.audit_log'];

export const rowCounts = (db: TestDatabase) => rowCountsOf(db, WATCHED);
export const expectNothingWritten = (db: TestDatabase, refusals: () => Promise<void>) => nothingWrittenIn(db, WATCHED, refusals);
export const expectRefusals = (db: TestDatabase, refusals: Refusal[]) => refusalsIn(db, WATCHED, refusals);
export { UNKNOWN_ID, expectRefused, type Refusal };

/** Creates an organization; `name` makes its slug unique within the test file. */
export async function createOrganization(db: TestDatabase, name: string): Promise<string> {
  return (await new OrganizationsService(db.dataSource).create({ name: `Org ${name}`, slug: `org-${name}` })).id;
}

/** Runs one statement as the application role inside the organization (row-level security applies). */
export function asTenant<T = unknown>(db: TestDatabase, organizationId: string, sql: string, params: unknown[] = []): Promise<T> {
  return withTenant(db.dataSource, organizationId, (m) => m.query(sql, params) as Promise<T>);
}

/** Every dependency edge whose task is not ranked above its dependency (the DAG invariant; empty = consistent). */
export async function rankViolations(db: TestDatabase, organizationId: string): Promise<string[]> {
  const rows = await db.query<{ edge: string }>(
    `SELECT t.title || ' (' || t.dag_rank || ') -> ' || d.title || ' (' || d.dag_rank || ')' AS edge
       FROM tasks.task_dependencies e
       JOIN tasks.tasks t ON t.organization_id = e.organization_id AND t.id = e.task_id
       JOIN tasks.tasks d ON d.organization_id = e.organization_id AND d.id = e.depends_on_task_id
      WHERE e.organization_id = $1 AND t.dag_rank <= d.dag_rank`,
    [organizationId],
  );
  return rows.map((r) => r.edge);
}
