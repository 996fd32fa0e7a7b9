import { MigrationRunner, Queryable, StrataModule, defineModule } from '@strata/base';
import { TestDatabase } from './test-database';

/**
 * Everything a migration can create in the given schemas, as sorted text lines:
 * tables (with partition bounds), columns with their full types (`vector(768)`,
 * `numeric(10,4)`), constraints, indexes, policies, RLS flags, functions,
 * triggers, views, comments, owners, grants, and the memberships between the
 * roles those objects name. Two equal snapshots mean the same catalog, so
 * up → down → up can be compared exactly. Privileges are compared as they take
 * effect: a NULL ACL is spelled out as the owner's defaults, so revoking the
 * last grant equals never having granted.
 */
export async function catalogSnapshot(db: Queryable, schemas: string[]): Promise<string[]> {
  const queries = [
    `SELECT 'table ' || n.nspname || '.' || c.relname || ' kind=' || c.relkind::text || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
            || coalesce(' bound=' || pg_get_expr(c.relpartbound, c.oid), '') || ' owner=' || pg_get_userbyid(c.relowner)
            || ' acl=' || coalesce(c.relacl, acldefault(CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END::"char", c.relowner))::text AS line
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')`,
    // format_type gives the type with its modifier: vector(768), numeric(10,4), varchar(64), timestamp(3) with time zone.
    // Not the column's position: a column dropped and added back lands at the end, and means the same.
    `SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
            || ' null=' || CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END || coalesce(' default=' || pg_get_expr(d.adbin, d.adrelid), '')
            || CASE WHEN a.attidentity <> '' THEN ' identity=' || a.attidentity::text ELSE '' END
            || CASE WHEN a.attgenerated <> '' THEN ' generated=' || a.attgenerated::text ELSE '' END
            || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN ' collation=' || a.attcollation::regcollation::text ELSE '' END
            || coalesce(' acl=' || a.attacl::text, '') AS line
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped`,
    `SELECT 'constraint ' || n.nspname || '.' || cl.relname || '.' || con.conname || ' ' || pg_get_constraintdef(con.oid) AS line
       FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace
      WHERE n.nspname = ANY($1)`,
    `SELECT 'index ' || pg_get_indexdef(i.indexrelid) AS line
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1)`,
    `SELECT 'policy ' || schemaname || '.' || tablename || '.' || policyname || ' ' || cmd || ' roles=' || roles::text
            || ' using=' || coalesce(qual, '') || ' check=' || coalesce(with_check, '') AS line
       FROM pg_policies WHERE schemaname = ANY($1)`,
    `SELECT 'function ' || pg_get_functiondef(p.oid) || ' owner=' || pg_get_userbyid(p.proowner)
            || ' acl=' || coalesce(p.proacl, acldefault('f'::"char", p.proowner))::text AS line
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY($1) AND p.prokind IN ('f', 'p')`,
    `SELECT 'trigger ' || pg_get_triggerdef(t.oid) AS line
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ANY($1) AND NOT t.tgisinternal`,
    `SELECT 'view ' || schemaname || '.' || viewname || ' ' || definition AS line FROM pg_views WHERE schemaname = ANY($1)`,
    // Comments matter: the drift check reads 'strata:manual' marks from them, the runner 'strata:requires'.
    `SELECT 'comment ' || d.classoid::regclass::text || ' ' || n.nspname || '.' || coalesce(c.relname, p.proname, con.conname, '?')
            || CASE WHEN d.objsubid <> 0 THEN '.' || d.objsubid ELSE '' END || ' ' || d.description AS line
       FROM pg_description d
       LEFT JOIN pg_class c ON d.classoid = 'pg_class'::regclass AND c.oid = d.objoid
       LEFT JOIN pg_proc p ON d.classoid = 'pg_proc'::regclass AND p.oid = d.objoid
       LEFT JOIN pg_constraint con ON d.classoid = 'pg_constraint'::regclass AND con.oid = d.objoid
       JOIN pg_namespace n ON n.oid = coalesce(c.relnamespace, p.pronamespace, con.connamespace)
      WHERE n.nspname = ANY($1)`,
    `SELECT 'schema ' || nspname || ' owner=' || pg_get_userbyid(nspowner) || ' acl=' || coalesce(nspacl, acldefault('n'::"char", nspowner))::text AS line
       FROM pg_namespace WHERE nspname = ANY($1)`,
    // Roles are cluster-wide; only memberships between roles that these schemas' objects
    // name (owners and grantees) belong to this catalog, e.g. GRANT strata_app TO <owner>.
    // The runner's history table and its sequence name no role: they are the runner's, not a migration's.
    `WITH objects AS (
       SELECT c.relowner AS owner, c.relacl AS acl FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY($1) AND c.relname NOT IN ('migrations', 'migrations_id_seq')
       UNION ALL SELECT p.proowner, p.proacl FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY($1)
       UNION ALL SELECT nspowner, nspacl FROM pg_namespace WHERE nspname = ANY($1)),
     named AS (
       SELECT owner AS role FROM objects
       UNION SELECT (aclexplode(acl)).grantee FROM objects WHERE acl IS NOT NULL)
     SELECT 'membership ' || pg_get_userbyid(m.roleid) || ' member=' || pg_get_userbyid(m.member) || ' admin=' || m.admin_option AS line
       FROM pg_auth_members m
      WHERE m.roleid IN (SELECT role FROM named) AND m.member IN (SELECT role FROM named)`,
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
