import { MigrationRunner, baseModule, checkSchemaDrift, validateIntegrity, withTenant } from '@strata/base';
import { catalogSnapshot, useTestDatabase } from '@strata/testing';
import { FULL_NAME_SOURCE, SLUG_PATTERN, projectsModule } from '../src';
import { PROJECT_TABLES, createTenant } from './support';

describe('projects schema', () => {
  const db = useTestDatabase({ modules: [baseModule, projectsModule] });

  it('the migrated schema matches the entities (only the hand-written index is left to the migration)', async () => {
    const report = await checkSchemaDrift(db.url, projectsModule, [baseModule, projectsModule]);
    expect(report.statements).toEqual([]);
    expect(report.ignored.length).toBeGreaterThan(0);
    expect(report.ignored.every((sql) => sql.includes('repositories_organization_id_provider_full_name_key'))).toBe(true);
  });

  it('passes base.validate_integrity(): forced RLS, tenant-consistent references, cascading erasure', async () => {
    const report = await validateIntegrity(db);
    expect(report.checks.filter((c) => c.violations.length > 0)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('every table is tenant-scoped: forced RLS, PRIMARY KEY (organization_id, id), cascading FK to organizations, audited', async () => {
    const tables = await db.query<{ name: string; rls: boolean; forced: boolean; tenant_key: boolean; erased: boolean; audited: boolean }>(
      `SELECT c.oid::regclass::text AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
              EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p'
                        AND pg_get_constraintdef(k.oid) = 'PRIMARY KEY (organization_id, id)') AS tenant_key,
              EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f'
                        AND k.confrelid = 'base.organizations'::regclass AND k.confdeltype = 'c') AS erased,
              EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'audit_row_change') AS audited
         FROM pg_class c WHERE c.relnamespace = 'projects'::regnamespace AND c.relkind = 'r' AND c.relname <> 'migrations'
        ORDER BY 1`,
    );
    expect(tables.map((t) => t.name).sort()).toEqual([...PROJECT_TABLES].sort());
    for (const table of tables)
      expect(table).toEqual({ name: table.name, rls: true, forced: true, tenant_key: true, erased: true, audited: true });
  });

  it('the CHECK constraints use the same patterns as the services, read alike by PostgreSQL', async () => {
    const checks = await db.query<{ name: string; definition: string }>(
      `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
        WHERE conname IN ('projects_slug_check', 'teams_slug_check', 'repositories_full_name_check')`,
    );
    expect(checks).toHaveLength(3);
    for (const check of checks) {
      expect(check.definition).toContain(check.name === 'repositories_full_name_check' ? FULL_NAME_SOURCE : SLUG_PATTERN.source);
    }
    const samples = [
      'acme/app',
      'Acme/.github',
      'g/sub/name',
      'web-app',
      'a',
      'x'.repeat(100),
      'noslash',
      '/a/b',
      'a/b/',
      'a//b',
      'a/..',
      '../b',
      'a b/c',
      '-web',
      'web-',
      'Web',
    ];
    for (const source of [SLUG_PATTERN.source, FULL_NAME_SOURCE]) {
      const [row] = await db.query<{ matches: boolean[] }>(
        `SELECT array_agg(s ~ $2 ORDER BY i) AS matches FROM unnest($1::text[]) WITH ORDINALITY AS t(s, i)`,
        [samples, source],
      );
      expect(row.matches).toEqual(samples.map((s) => new RegExp(source).test(s)));
    }
  });

  it('the database itself refuses rows the services would never write', async () => {
    const tenant = await createTenant(db, 'checks');
    const insert = (sql: string) => withTenant(db.dataSource, tenant.id, (m) => m.query(sql, [tenant.id]));
    await expect(
      insert(`INSERT INTO projects.projects (organization_id, name, slug, status) VALUES ($1, 'x', 'x', 'archived')`),
    ).rejects.toThrow(/projects_archived_at_check/);
    await expect(insert(`INSERT INTO projects.projects (organization_id, name, slug) VALUES ($1, 'x', 'Bad Slug')`)).rejects.toThrow(
      /projects_slug_check/,
    );
    await expect(
      insert(`INSERT INTO projects.repositories (organization_id, provider, full_name) VALUES ($1, 'svn', 'a/b')`),
    ).rejects.toThrow(/repositories_provider_check/);
    await expect(
      insert(`INSERT INTO projects.repositories (organization_id, provider, full_name) VALUES ($1, 'github', 'a b')`),
    ).rejects.toThrow(/repositories_full_name_check/);
    await expect(insert(`INSERT INTO projects.teams (organization_id, name, slug) VALUES ($1, '', 'x')`)).rejects.toThrow(
      /teams_name_check/,
    );
  });

  it('up → down → up leaves the catalog exactly as it was, and base stays while projects is reverted', async () => {
    const runner = new MigrationRunner({ url: db.url });
    const first = await catalogSnapshot(db, ['projects']);
    const base = await catalogSnapshot(db, ['base']);
    expect(first.some((line) => line.startsWith('policy projects.team_members.tenant_isolation'))).toBe(true);
    expect(
      first.some((line) => line.includes('repositories_organization_id_provider_full_name_key') && line.includes('strata:manual')),
    ).toBe(true);

    expect(await runner.down(projectsModule, { to: '0' })).toEqual(projectsModule.migrations.map((m) => m.name).reverse());
    const empty = await catalogSnapshot(db, ['projects']);
    // Only the schema itself is left: the runner created it and keeps its history table there.
    expect(empty.filter((line) => !/projects\.migrations/.test(line)).map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
      'schema projects',
    ]);
    expect(await catalogSnapshot(db, ['base'])).toEqual(base);
    expect((await validateIntegrity(db)).ok).toBe(true);

    await runner.up([baseModule, projectsModule]);
    expect(await catalogSnapshot(db, ['projects'])).toEqual(first);
  });
});
