import { ConflictError, NotFoundError, ValidationError } from '@strata/base';
import { TestDatabase } from './test-database';

/** A well-formed uuid that names nothing. */
export const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

/** Rows in each table, read as the owner (row-level security does not filter them). */
export async function rowCounts(db: TestDatabase, tables: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) counts[table] = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0].n);
  return counts;
}

/** Runs refused calls and checks that none of them wrote a row in any of the tables. */
export async function expectNothingWritten(db: TestDatabase, tables: readonly string[], refusals: () => Promise<void>): Promise<void> {
  const before = await rowCounts(db, tables);
  await refusals();
  expect(await rowCounts(db, tables)).toEqual(before);
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
    expect({ error: error.message, fields: [...error.fields].sort() }).toEqual({
      error: error.message,
      fields: [...((detail as string[]) ?? [])].sort(),
    });
  }
  if (error instanceof NotFoundError && detail !== undefined) expect(error.entity).toBe(detail);
  return error;
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
 * no row was written in any of the tables.
 */
export async function expectRefusals(db: TestDatabase, tables: readonly string[], refusals: Refusal[]): Promise<void> {
  const before = await rowCounts(db, tables);
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
  expect(await rowCounts(db, tables)).toEqual(before);
}
