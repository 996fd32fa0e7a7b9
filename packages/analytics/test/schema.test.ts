import { baseModule, checkSchemaDrift, runMaintenance, validateIntegrity, withTenant } from '@strata/base';
import { createTestDatabase, expectEachMigrationReverts, useTestDatabase } from '@strata/testing';
import { analyticsModule } from '../src';
import { ANALYTICS_TABLES, createOrganization } from './support';

describe('analytics schema', () => {
  const db = useTestDatabase({ modules: [baseModule, analyticsModule] });

  it('the migrated schema matches the entities (the GIN index on tags is left to the migration)', async () => {
    const report = await checkSchemaDrift(db.url, analyticsModule, [baseModule, analyticsModule]);
    expect(report.statements).toEqual([]);
  });

  it('passes base.validate_integrity(): forced RLS, tenant-consistent references, cascading erasure, partition policy', async () => {
    const report = await validateIntegrity(db);
    expect(report.checks.filter((c) => c.violations.length > 0)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('every table is a tenant table: key starts with organization_id, forced RLS, erased with its organization', async () => {
    const tables = await db.query<{ name: string; key: string; forced: boolean; erased: boolean }>(
      `SELECT c.oid::regclass::text AS name, pg_get_constraintdef(k.oid) AS key, c.relrowsecurity AND c.relforcerowsecurity AS forced,
              EXISTS (SELECT 1 FROM pg_constraint f WHERE f.conrelid = c.oid AND f.contype = 'f'
                        AND f.confrelid = 'base.organizations'::regclass AND f.confdeltype = 'c') AS erased
         FROM pg_class c JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'p'
        WHERE c.relnamespace = 'analytics'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'migrations'
        ORDER BY 1`,
    );
    expect(tables.map((t) => t.name).sort()).toEqual([...ANALYTICS_TABLES].sort());
    for (const table of tables) {
      expect(table.key).toMatch(/^PRIMARY KEY \(organization_id[,)]/);
      expect({ name: table.name, forced: table.forced, erased: table.erased }).toEqual({ name: table.name, forced: true, erased: true });
    }
  });

  it('metric_points is partitioned daily on ts, kept 30 days, with a DEFAULT partition and a GIN index on tags', async () => {
    const [policy] = await db.query<{ column: string; interval: string; retention: string; partitions: number; has_default: boolean }>(
      `SELECT p.control_column AS column, p.partition_interval AS interval, p.retention::text AS retention,
              (SELECT count(*)::int FROM base.partition_bounds('analytics.metric_points') b WHERE NOT b.is_default) AS partitions,
              EXISTS (SELECT 1 FROM base.partition_bounds('analytics.metric_points') b WHERE b.is_default) AS has_default
         FROM base.partition_policies p WHERE p.parent_table = 'analytics.metric_points'`,
    );
    expect(policy).toEqual({ column: 'ts', interval: 'day', retention: '30 days', partitions: 8, has_default: true });
    const [index] = await db.query<{ definition: string }>(
      `SELECT pg_get_indexdef('analytics.metric_points_tags_idx'::regclass) AS definition`,
    );
    expect(index.definition).toContain('USING gin (tags)');
  });

  it('a point before the first partition lands in DEFAULT, and maintenance moves it into its day', async () => {
    const org = await createOrganization(db, 'partitions');
    const old = new Date(Date.now() - 20 * 86_400_000);
    await withTenant(db.dataSource, org, (tx) =>
      tx.query(`INSERT INTO analytics.metric_points (organization_id, name, ts, value) VALUES ($1, 'late', $2, 1)`, [org, old]),
    );
    const where = async () =>
      (
        await db.query<{ partition: string }>(
          `SELECT tableoid::regclass::text AS partition FROM analytics.metric_points WHERE organization_id = $1`,
          [org],
        )
      )[0].partition;
    expect(await where()).toBe('analytics.metric_points_default');
    const report = await runMaintenance(db, 'analytics.metric_points');
    expect(report.tables[0].moved_rows).toBe(1);
    const day = old.toISOString().slice(0, 10).replace(/-/g, '');
    expect(await where()).toBe(`analytics.metric_points_p${day}`);
  });

  it('an organization sees and changes only its own rows in every table (row-level security as strata_app)', async () => {
    const orgs = [await createOrganization(db, 'tenant-a'), await createOrganization(db, 'tenant-b')];
    for (const org of orgs) {
      await withTenant(db.dataSource, org, async (tx) => {
        const [run] = await tx.query(
          `INSERT INTO analytics.analysis_runs (organization_id, kind, tool) VALUES ($1, 'quality', 'eslint') RETURNING id`,
          [org],
        );
        await tx.query(`INSERT INTO analytics.analysis_run_metrics (organization_id, run_id, name, value) VALUES ($1, $2, 'warnings', 3)`, [
          org,
          run.id,
        ]);
        await tx.query(`INSERT INTO analytics.metric_points (organization_id, name, ts, value) VALUES ($1, 'latency', now(), 1)`, [org]);
        for (const table of ['metric_rollups_hourly', 'metric_rollups_daily', 'rollup_deltas'])
          await tx.query(
            `INSERT INTO analytics.${table} (organization_id, name, bucket_start, tags, count, sum, min, max, sketch_keys, sketch_counts)
             VALUES ($1, 'latency', date_trunc('hour', now()), '{}', 1, 1, 1, 1, '{35419}', '{1}')`,
            [org],
          );
        await tx.query(`INSERT INTO analytics.rollup_watermarks (organization_id) VALUES ($1)`, [org]);
        const [experiment] = await tx.query(
          `INSERT INTO analytics.experiments (organization_id, key, name, variations, weights, seed) VALUES ($1, 'e', 'E', '["a", "b"]', '{0.5,0.5}', 'e') RETURNING id`,
          [org],
        );
        await tx.query(
          `INSERT INTO analytics.experiment_assignments (organization_id, experiment_id, unit_id, variation, seed) VALUES ($1, $2, 'u', 0, 'e')`,
          [org, experiment.id],
        );
      });
    }
    const [a, b] = orgs;
    for (const table of ANALYTICS_TABLES) {
      const seen = await withTenant(db.dataSource, a, (tx) => tx.query(`SELECT DISTINCT organization_id FROM ${table}`));
      expect({ table, seen }).toEqual({ table, seen: [{ organization_id: a }] });
      const [, changed] = await withTenant(db.dataSource, a, (tx) => tx.query(`DELETE FROM ${table} WHERE organization_id = $1`, [b]));
      expect({ table, changed }).toEqual({ table, changed: 0 });
    }
    await expect(
      withTenant(db.dataSource, a, (tx) =>
        tx.query(`INSERT INTO analytics.metric_points (organization_id, name, ts, value) VALUES ($1, 'x', now(), 1)`, [b]),
      ),
    ).rejects.toThrow(/row-level security/);
    // A run's figures cannot point at another organization's run.
    const [runOfB] = await withTenant(db.dataSource, b, (tx) => tx.query(`SELECT id FROM analytics.analysis_runs`));
    await expect(
      withTenant(db.dataSource, a, (tx) =>
        tx.query(`INSERT INTO analytics.analysis_run_metrics (organization_id, run_id, name, value) VALUES ($1, $2, 'x', 1)`, [
          a,
          runOfB.id,
        ]),
      ),
    ).rejects.toThrow(/analysis_run_metrics_organization_id_run_id_fkey/);
  });

  it('the database refuses points that are not finite, and inconsistent rollups', async () => {
    const org = await createOrganization(db, 'checks');
    for (const value of ['NaN', 'Infinity', '-Infinity']) {
      await expect(
        withTenant(db.dataSource, org, (tx) =>
          tx.query(`INSERT INTO analytics.metric_points (organization_id, name, ts, value) VALUES ($1, 'x', now(), $2::float8)`, [
            org,
            value,
          ]),
        ),
      ).rejects.toThrow(/metric_points_value_check/);
    }
    await expect(
      withTenant(db.dataSource, org, (tx) =>
        tx.query(
          `INSERT INTO analytics.metric_rollups_hourly (organization_id, name, bucket_start, tags, count, sum, min, max, sketch_keys, sketch_counts)
           VALUES ($1, 'x', now(), '{}', 2, 1, 1, 1, '{1,2}', '{2}')`,
          [org],
        ),
      ),
    ).rejects.toThrow(/metric_rollups_hourly_sketch_check/);
  });

  it("each migration's down restores exactly the catalog its up found", async () => {
    const stepwise = await createTestDatabase({ modules: [baseModule, analyticsModule], migrate: false });
    try {
      await expectEachMigrationReverts(stepwise, analyticsModule, { requires: [baseModule] });
    } finally {
      await stepwise.close();
    }
  });
});
