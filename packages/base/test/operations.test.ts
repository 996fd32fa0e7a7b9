import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Column, Entity, PrimaryColumn, QueryRunner } from 'typeorm';
import { useTestDatabase } from '@strata/testing';
import {
  DatabaseTarget,
  MigrationClass,
  MigrationRunner,
  PartitionPolicyRow,
  baseModule,
  checkModuleDrift,
  databaseHealth,
  databaseIntegrity,
  generateMigration,
  defineModule,
  maintainPartitions,
  revertModule,
} from '../src';

// base.partition_policies as a developer edits it: one new column.
@Entity({ schema: 'base', name: 'partition_policies' })
class EditedPartitionPolicy extends PartitionPolicyRow {
  @PrimaryColumn({ type: 'text' }) declare parentTable: string;
  @Column({ type: 'varchar', length: 64, nullable: true }) ownerTeam!: string | null;
}
const edited = { ...baseModule, entities: [...baseModule.entities.filter((e) => e !== PartitionPolicyRow), EditedPartitionPolicy] };

describe('operations behind the CLIs', () => {
  const db = useTestDatabase({ modules: [baseModule] });
  const target = (): DatabaseTarget => ({ kind: 'server', url: db.url });

  it('migration:generate writes a migration that, applied, leaves no drift, and reverts cleanly', async () => {
    const packageDir = mkdtempSync(join(tmpdir(), 'strata-generate-'));
    try {
      expect((await checkModuleDrift(edited, [edited], { target: target() })).statements).not.toEqual([]);
      const generated = await generateMigration(edited, [edited], 'add-owner-team', packageDir, { target: target() });
      expect(generated.file).toMatch(/src\/migrations\/\d{13}-add-owner-team\.ts$/);
      expect(generated.className).toMatch(/^AddOwnerTeam\d{13}$/);
      expect(readdirSync(join(packageDir, 'src', 'migrations'))).toHaveLength(1);

      // The generated file is real TypeScript: load it and run it like any migration.
      const migration = (await import(generated.file!))[generated.className] as MigrationClass;
      const withMigration = { ...edited, migrations: [...baseModule.migrations, migration] };
      const runner = new MigrationRunner({ url: db.url });
      expect((await runner.up([withMigration]))[0].applied).toEqual([generated.className]);
      expect((await checkModuleDrift(withMigration, [withMigration], { target: target() })).statements).toEqual([]);
      expect(
        await db.query(
          `SELECT column_name FROM information_schema.columns WHERE table_name = 'partition_policies' AND column_name = 'owner_team'`,
        ),
      ).toHaveLength(1);

      expect(await runner.down(withMigration)).toEqual([generated.className]);
      expect(
        await db.query(
          `SELECT column_name FROM information_schema.columns WHERE table_name = 'partition_policies' AND column_name = 'owner_team'`,
        ),
      ).toEqual([]);
      expect((await checkModuleDrift(baseModule, [baseModule], { target: target() })).statements).toEqual([]);
    } finally {
      rmSync(packageDir, { recursive: true, force: true });
    }
  });

  it('nothing to generate when the entities match', async () => {
    const packageDir = mkdtempSync(join(tmpdir(), 'strata-generate-'));
    try {
      const result = await generateMigration(baseModule, [baseModule], 'nothing', packageDir, { target: target() });
      expect(result.file).toBeNull();
    } finally {
      rmSync(packageDir, { recursive: true, force: true });
    }
  });

  it('the health report turns degraded on stray rows and unprotected tenant tables, and healthy again after the fix', async () => {
    expect((await databaseHealth([baseModule], { target: target() })).status).toBe('healthy');

    const [org] = await db.query<{ id: string }>(`INSERT INTO base.organizations (name, slug) VALUES ('H', 'health') RETURNING id`);
    await db.query(
      `INSERT INTO base.audit_log (organization_id, action, table_name, created_at) VALUES ($1, 'test', 'x.y', now() + interval '5 years')`,
      [org.id],
    );
    await db.query(`CREATE TABLE base.unprotected (id int PRIMARY KEY, organization_id uuid NOT NULL)`);

    const degraded = await databaseHealth([baseModule], { target: target() });
    expect(degraded.status).toBe('degraded');
    expect(degraded.partitions.find((p) => p.table === 'base.audit_log')?.default_rows).toBe(1);
    expect(degraded.tenant_tables_without_forced_rls).toEqual(['base.unprotected']);
    expect(degraded.problems.join('\n')).toMatch(/base\.audit_log has 1 row\(s\) in its DEFAULT partition/);

    const maintenance = await maintainPartitions({ target: target() });
    expect(maintenance.tables.find((t) => t.table === 'base.audit_log')?.moved_rows).toBe(1);
    await db.query(`SELECT base.enable_tenant_rls('base.unprotected')`);

    const healthy = await databaseHealth([baseModule], { target: target() });
    expect(healthy.problems).toEqual([]);
    expect(healthy.status).toBe('healthy');
    expect(await db.query(`SELECT count(*)::int AS n FROM base.audit_log WHERE action = 'test'`)).toEqual([{ n: 1 }]);
    await db.query('DROP TABLE base.unprotected');
  });

  it('reports pending migrations the code has and the database lacks', async () => {
    class Later1899999999999 {
      async up(q: QueryRunner) {
        await q.query('SELECT 1');
      }
      async down(q: QueryRunner) {
        await q.query('SELECT 1');
      }
    }
    const ahead = { ...baseModule, migrations: [...baseModule.migrations, Later1899999999999] };
    const report = await databaseHealth([ahead], { target: target() });
    expect(report.modules.find((m) => m.module === 'base')?.pending).toEqual(['Later1899999999999']);
    expect(report.status).toBe('degraded');
  });

  it('validate_integrity passes on a migrated database and names each broken rule', async () => {
    const clean = await databaseIntegrity({ target: target() });
    expect(clean.checks.filter((c) => c.violations.length)).toEqual([]);
    expect(clean.ok).toBe(true);

    await db.query(`
      CREATE SCHEMA integrity_test;
      CREATE TABLE integrity_test.migrations (id int);
      CREATE TABLE integrity_test.parents (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL REFERENCES base.organizations(id) ON DELETE CASCADE);
      -- references another tenant table by id alone, and is not erased with its organization
      CREATE TABLE integrity_test.children (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        organization_id uuid NOT NULL,
        parent_id uuid NOT NULL CONSTRAINT children_parent_id_fkey REFERENCES integrity_test.parents(id));
      SELECT base.enable_tenant_rls('integrity_test.parents');
      CREATE TABLE integrity_test.events (id int, at timestamptz NOT NULL, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);`);

    const broken = await databaseIntegrity({ target: target() });
    expect(broken.ok).toBe(false);
    const violations = Object.fromEntries(broken.checks.map((c) => [c.check, c.violations]));
    expect(violations['tenant tables force row-level security']).toEqual(['integrity_test.children']);
    expect(violations['references between tenant tables are tenant-consistent']).toEqual([
      'integrity_test.children.children_parent_id_fkey',
    ]);
    expect(violations['tenant rows are erased with their organization (ON DELETE CASCADE)']).toEqual(['integrity_test.children']);
    expect(violations['partitioned tables have a partition policy']).toEqual(['integrity_test.events']);
    expect(violations['tenant tables have a primary key that includes organization_id']).toEqual([
      'integrity_test.children',
      'integrity_test.parents',
    ]);
    expect(violations['constraints are validated']).toEqual([]);
  });

  it('refuses to revert a module, entirely or in part, while a module that requires it is applied', async () => {
    class CreateWidgets1800000000101 {
      async up(q: QueryRunner) {
        await q.query('CREATE TABLE dependent_test.widgets (id int PRIMARY KEY)');
      }
      async down(q: QueryRunner) {
        await q.query('DROP TABLE dependent_test.widgets');
      }
    }
    const dependent = defineModule({ name: 'dependent_test', entities: [], migrations: [CreateWidgets1800000000101] });
    await new MigrationRunner({ url: db.url }).up([baseModule, dependent]);

    for (const to of ['0', 'CreateAuditLog1795443300000']) {
      await expect(revertModule([baseModule, dependent], 'base', to, { target: target() })).rejects.toThrow(
        /Cannot revert base: dependent_test still depend on it; revert them first/,
      );
    }
    expect((await new MigrationRunner({ url: db.url }).status([baseModule]))[0].pending).toEqual([]);

    expect((await revertModule([baseModule, dependent], 'dependent_test', '0', { target: target() })).reverted).toEqual([
      'CreateWidgets1800000000101',
    ]);
  });
});
