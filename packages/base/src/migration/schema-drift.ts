import { StrataModule, orderModules } from '../module';
import { createDataSource } from '../database/database';

export interface DriftReport {
  module: string;
  /** SQL TypeORM would run to make the database match the module's entities. Empty = no drift. */
  statements: string[];
  /** Statements left out because they touch objects written by hand on purpose. */
  ignored: string[];
  /** The reverse of `statements`, in the order to run them (a generated migration's `down`). */
  revert: string[];
}

/** A comment that marks a hand-written index or constraint (HNSW index, cross-module FK …). */
export const MANUAL_OBJECT_MARK = 'strata:manual';

/**
 * Compares a module's entities with the database through TypeORM's schema
 * builder. Objects TypeORM cannot express are excluded on purpose, never by
 * accident: whole tables with `@Entity({ synchronize: false })`, indexes with
 * `@Index({ synchronize: false })`, and indexes or constraints the migration
 * marked with `COMMENT ... IS 'strata:manual …'`.
 */
export async function checkSchemaDrift(url: string, module: StrataModule, installed: StrataModule[]): Promise<DriftReport> {
  const closure = requirementClosure(module, installed);
  const dataSource = createDataSource({ url, poolSize: 1, modules: closure });
  await dataSource.initialize();
  try {
    const manual = await manualObjectNames(dataSource.query.bind(dataSource), module.name);
    const sql = await dataSource.driver.createSchemaBuilder().log();
    const ownSchema = `"${module.name}".`;
    const isOwn = (query: string) => query.includes(ownSchema); // another module's drift is that module's check
    const isManual = (query: string) => [...query.matchAll(/"([^"]+)"/g)].some((m) => manual.has(m[1]));
    const own = sql.upQueries.map((q) => q.query).filter(isOwn);
    const statements = own.filter((q) => !isManual(q));
    const ignored = own.filter(isManual);
    const revert = sql.downQueries
      .map((q) => q.query)
      .filter((q) => isOwn(q) && !isManual(q))
      .reverse();
    return { module: module.name, statements, ignored, revert };
  } finally {
    await dataSource.destroy();
  }
}

async function manualObjectNames(
  query: (sql: string, params?: unknown[]) => Promise<{ name: string }[]>,
  schema: string,
): Promise<Set<string>> {
  const rows = await query(
    `SELECT c.relname AS name FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
       JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('i', 'I') AND d.description LIKE $2
     UNION
     SELECT con.conname FROM pg_description d JOIN pg_constraint con ON con.oid = d.objoid AND d.classoid = 'pg_constraint'::regclass
       JOIN pg_namespace n ON n.oid = con.connamespace
     WHERE n.nspname = $1 AND d.description LIKE $2`,
    [schema, `${MANUAL_OBJECT_MARK}%`],
  );
  return new Set(rows.map((r) => r.name));
}

/** The module and every module it needs, so relations to their entities resolve. */
export function requirementClosure(module: StrataModule, installed: StrataModule[]): StrataModule[] {
  const byName = new Map(installed.map((m) => [m.name, m]));
  byName.set(module.name, module);
  const wanted = new Set<string>();
  const visit = (name: string): void => {
    if (wanted.has(name)) return;
    wanted.add(name);
    for (const dependency of byName.get(name)?.requires ?? []) visit(dependency);
  };
  visit(module.name);
  return orderModules([...byName.values()].filter((m) => wanted.has(m.name)));
}
