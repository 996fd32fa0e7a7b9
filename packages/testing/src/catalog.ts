import { MigrationRunner, Queryable, StrataModule, defineModule } from '@strata/base';
import { TestDatabase } from './test-database';

/**
 * Everything a migration can create in the given schemas, as sorted text lines:
 * tables (with partition bounds), columns, constraints, indexes, policies, RLS
 * flags, functions, triggers, views, comments and grants. Two equal snapshots mean the
 * same catalog, so up → down → up can be compared exactly. Privileges are
 * compared as they take effect: a NULL ACL is spelled out as the owner's
 * defaults, so revoking the last grant equals never having granted.
 */
export async function catalogSnapshot(db: Queryable, schemas: string[]): Promise<string[]> {
  const queries = [
    `SELECT 'table ' || n.nspname || '.' || c.relname || ' kind=' || c.relkind::text || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
            || coalesce(' bound=' || pg_get_expr(c.relpartbound, c.oid), '') || ' acl=' || coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))::text AS line
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')`,
    `SELECT 'column ' || table_schema || '.' || table_name || '.' || column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '')
            || ' null=' || is_nullable || coalesce(' default=' || column_default, '') AS line
       FROM information_schema.columns WHERE table_schema = ANY($1)`,
    `SELECT 'constraint ' || n.nspname || '.' || cl.relname || '.' || con.conname || ' ' || pg_get_constraintdef(con.oid) AS line
       FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
      WHERE n.nspname = ANY($1)`,
    `SELECT 'index ' || pg_get_indexdef(i.indexrelid) AS line
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1)`,
    `SELECT 'policy ' || schemaname || '.' || tablename || '.' || policyname || ' ' || cmd || ' roles=' || roles::text
            || ' using=' || coalesce(qual, '') || ' check=' || coalesce(with_check, '') AS line
       FROM pg_policies WHERE schemaname = ANY($1)`,
    `SELECT 'function ' || pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl, acldefault('f'::"char", p.proowner))::text AS line
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY($1) AND p.prokind IN ('f', 'p')`,
    `SELECT 'trigger ' || pg_get_triggerdef(t.oid) AS line
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1) AND NOT t.tgisinternal`,
    `SELECT 'view ' || schemaname || '.' || viewname || ' ' || definition AS line FROM pg_views WHERE schemaname = ANY($1)`,
    // Comments matter: the drift check reads 'strata:manual' marks from them.
    `SELECT 'comment ' || d.classoid::regclass::text || ' ' || coalesce(c.relname, p.proname, con.conname, '?') || ' ' || d.description AS line
       FROM pg_description d
       LEFT JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND c.oid = d.objoid
       LEFT JOIN pg_proc p ON d.classoid = 'pg_proc'::regclass AND p.oid = d.objoid
       LEFT JOIN pg_constraint con ON d.classoid = 'pg_constraint'::regclass AND con.oid = d.objoid
       JOIN pg_namespace n ON n.oid = coalesce(c.relnamespace, p.pronamespace, con.connamespace)
      WHERE n.nspname = ANY($1)`,
    `SELECT 'schema ' || nspname || ' acl=' || coalesce(nspacl, acldefault('n'::"char", nspowner))::text AS line FROM pg_namespace WHERE nspname = ANY($1)`,
  ];
  const lines: string[] = [];
  for (const sql of queries) {
    const rows: { line: string }[] = await db.query(sql, [schemas]);
    lines.push(...rows.map((r) => r.line));
  }
  return lines.sort();
}

/**
 * Applies a module's migrations one at a time, then reverts them one at a time,
 * and checks that each `down` leaves the catalog of `schemas` exactly as it was
 * before that migration's `up` (a full up → down → up cannot tell which
 * migration's `down` restores an object slightly differently). `requires` are
 * migrated first and left in place. The module's history table is left out:
 * the runner keeps it, not the migrations.
 */
export async function expectEachMigrationReverts(
  db: TestDatabase,
  module: StrataModule,
  { requires = [], schemas = [module.name] }: { requires?: StrataModule[]; schemas?: string[] } = {},
): Promise<void> {
  const runner = new MigrationRunner({ url: db.url });
  await runner.up(requires);
  const history = `${module.name}.migrations`;
  const snapshot = async () => (await catalogSnapshot(db, schemas)).filter((line) => !line.includes(history));
  const before: string[][] = [];
  for (let applied = 0; applied < module.migrations.length; applied++) {
    // With none applied yet, this only lays down the runner's own schema and history table.
    await runner.up([...requires, defineModule({ ...module, migrations: module.migrations.slice(0, applied) })]);
    before.push(await snapshot());
  }
  await runner.up([...requires, module]);
  for (let index = module.migrations.length - 1; index >= 0; index--) {
    const to = index === 0 ? '0' : module.migrations[index - 1].name;
    expect(await runner.down(module, { to })).toEqual([module.migrations[index].name]);
    // The migration's name travels with the catalog, so a failure names the down that is wrong.
    expect({ reverted: module.migrations[index].name, catalog: await snapshot() }).toEqual({
      reverted: module.migrations[index].name,
      catalog: before[index],
    });
  }
}
