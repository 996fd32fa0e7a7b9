import { ConflictError, NotFoundError, OrganizationsService, ValidationError, withTenant } from '@strata/base';
import { TestDatabase } from '@strata/testing';

/** The five tables of schema `tasks`, parents first. */
export const TASK_TABLES = ['tasks.task_definitions', 'tasks.workflows', 'tasks.tasks', 'tasks.task_dependencies', 'tasks.task_executions'] as const;
export type TaskTable = (typeof TASK_TABLES)[number];

/** A well-formed uuid that names nothing. */
export const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** Rows in every tasks table and in the audit log, read as the owner (row-level security does not filter it). */
export async function rowCounts(db: TestDatabase): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of [...TASK_TABLES, 'base.audit_log']) {
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

type ErrorClass = abstract new (...args: never[]) => Error;

/**
 * Awaits a call that must fail and checks the error: its class, and the fields it
 * names (ValidationError, ConflictError) or the entity it did not find (NotFoundError).
 */
export async function expectRefused(call: Promise<unknown>, errorClass: ErrorClass, detail?: string[] | string): Promise<Error> {
  const error = await call.then(
    (value) => new Error(`expected ${errorClass.name}, but the call succeeded with ${JSON.stringify(value)}`),
    (e: unknown) => e as Error,
  );
  if (!(error instanceof errorClass)) {
    const got = error as Error;
    throw new Error(`expected ${errorClass.name}, got ${got?.constructor?.name}: ${got?.message}`, { cause: error });
  }
  if (error instanceof ValidationError || error instanceof ConflictError) {
    expect({ error: error.message, fields: [...error.fields].sort() }).toEqual({ error: error.message, fields: [...((detail as string[]) ?? [])].sort() });
  }
  if (error instanceof NotFoundError && detail !== undefined) expect(error.entity).toBe(detail);
  return error;
}

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

/** One call that must be refused: a label, the call, the error class, and the fields (or the entity not found) it must name. */
export type Refusal = [label: string, call: () => Promise<unknown>, error: ErrorClass, detail?: string[] | string];

interface Outcome {
  label: string;
  error: string;
  fields?: string[];
  entity?: string;
  message?: string;
}

function expectedOutcome([label, , errorClass, detail]: Refusal): Outcome {
  const outcome: Outcome = { label, error: errorClass.name };
  if (errorClass === ValidationError || errorClass === ConflictError) outcome.fields = [...((detail as string[] | undefined) ?? [])].sort();
  if (errorClass === NotFoundError && detail !== undefined) outcome.entity = detail as string;
  return outcome;
}

function actualOutcome(label: string, error: unknown, like: Outcome): Outcome {
  const outcome: Outcome = { label, error: (error as Error)?.constructor?.name ?? String(error) };
  if (like.fields !== undefined) outcome.fields = [...((error as { fields?: string[] }).fields ?? [])].sort();
  if (like.entity !== undefined) outcome.entity = (error as { entity?: string }).entity;
  return outcome;
}

/**
 * Runs every refused call, then compares all outcomes at once (so one report lists
 * every call that was not refused as expected, with its message), and checks that
 * no row was written in any tasks table or in the audit log.
 */
export async function expectRefusals(db: TestDatabase, refusals: Refusal[]): Promise<void> {
  const before = await rowCounts(db);
  const expected: Outcome[] = [];
  const actual: Outcome[] = [];
  for (const refusal of refusals) {
    const want = expectedOutcome(refusal);
    expected.push(want);
    try {
      const value = await refusal[1]();
      actual.push({ label: refusal[0], error: '(none: the call succeeded)', message: JSON.stringify(value)?.slice(0, 300) });
    } catch (error) {
      const got = actualOutcome(refusal[0], error, want);
      const same = error instanceof refusal[2] && JSON.stringify(got.fields) === JSON.stringify(want.fields) && got.entity === want.entity;
      actual.push(same ? want : { ...got, message: (error as Error)?.message });
    }
  }
  expect(actual).toEqual(expected);
  expect(await rowCounts(db)).toEqual(before);
}
