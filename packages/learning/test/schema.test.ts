import { baseModule, checkSchemaDrift, validateIntegrity, withTenant } from '@strata/base';
import { createTestDatabase, expectEachMigrationReverts, useTestDatabase } from '@strata/testing';
import { learningModule } from '../src';

const LEARNING_TABLES = [
  'ml_models',
  'model_versions',
  'model_aliases',
  'model_alias_history',
  'artifacts',
  'artifact_blobs',
  'model_version_artifacts',
  'feature_views',
  'feature_rows',
  'online_features',
  'predictions',
];

describe('learning schema', () => {
  const db = useTestDatabase({ modules: [baseModule, learningModule] });
  let a: string;
  let b: string;

  beforeAll(async () => {
    const organizations = await db.query<{ id: string }>(
      `INSERT INTO base.organizations (name, slug) VALUES ('A', 'learning-a'), ('B', 'learning-b') RETURNING id`,
    );
    [a, b] = organizations.map((o) => o.id);
  });

  it('the migrated schema matches the entities', async () => {
    const report = await checkSchemaDrift(db.url, learningModule, [baseModule, learningModule]);
    expect(report.statements).toEqual([]);
  });

  it('passes base.validate_integrity(): forced RLS, tenant-consistent references, cascading erasure', async () => {
    const report = await validateIntegrity(db);
    expect(report.checks.filter((c) => c.violations.length > 0)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('every table is a tenant table with forced row-level security and a key that starts with organization_id', async () => {
    const rows = await db.query<{ table: string; forced: boolean; key: string }>(
      `SELECT c.relname AS table, c.relforcerowsecurity AS forced,
              (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = k.conkey[1]) AS key
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'p'
        WHERE n.nspname = 'learning' AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'migrations' ORDER BY 1`,
    );
    expect(rows.map((r) => r.table).sort()).toEqual([...LEARNING_TABLES].sort());
    for (const row of rows) expect(row).toEqual({ table: row.table, forced: true, key: 'organization_id' });
  });

  it('predictions are partitioned monthly on predicted_at under a registered policy, with a DEFAULT partition', async () => {
    const [policy] = await db.query<{ control_column: string; partition_interval: string }>(
      `SELECT control_column, partition_interval FROM base.partition_policies WHERE parent_table = 'learning.predictions'`,
    );
    expect(policy).toEqual({ control_column: 'predicted_at', partition_interval: 'month' });
    const partitions = await db.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'learning.predictions'::regclass`,
    );
    expect(partitions.map((p) => p.name)).toContain('predictions_default');
    expect(partitions.length).toBeGreaterThan(1);
  });

  it('an organization sees only its own rows (row-level security as strata_app)', async () => {
    for (const id of [a, b]) {
      await withTenant(db.dataSource, id, (tx) =>
        tx.query(`INSERT INTO learning.ml_models (organization_id, name, type) VALUES ($1, 'bug-risk', 'prediction')`, [id]),
      );
    }
    const seen = await withTenant(db.dataSource, a, (tx) => tx.query(`SELECT organization_id FROM learning.ml_models`));
    expect(seen).toEqual([{ organization_id: a }]);
    // Writing a row of another organization is refused by the policy.
    await expect(
      withTenant(db.dataSource, a, (tx) =>
        tx.query(`INSERT INTO learning.ml_models (organization_id, name, type) VALUES ($1, 'other', 'prediction')`, [b]),
      ),
    ).rejects.toThrow(/row-level security/);
  });

  it("references are tenant-consistent: a version cannot hang off another organization's model", async () => {
    const [modelOfB] = await db.query<{ id: string }>(`SELECT id FROM learning.ml_models WHERE organization_id = $1`, [b]);
    await expect(
      db.query(`INSERT INTO learning.model_versions (organization_id, model_id, version) VALUES ($1, $2, 1)`, [a, modelOfB.id]),
    ).rejects.toThrow(/model_versions_organization_id_model_id_fkey/);
  });

  it('a version keeps its model, number and parent once inserted', async () => {
    const [model] = await db.query<{ id: string }>(`SELECT id FROM learning.ml_models WHERE organization_id = $1`, [a]);
    const [v1] = await db.query<{ id: string }>(
      `INSERT INTO learning.model_versions (organization_id, model_id, version) VALUES ($1, $2, 1) RETURNING id`,
      [a, model.id],
    );
    const [v2] = await db.query<{ id: string }>(
      `INSERT INTO learning.model_versions (organization_id, model_id, version, parent_version_id) VALUES ($1, $2, 2, $3) RETURNING id`,
      [a, model.id, v1.id],
    );
    // Pointing v1 at its own child would close a cycle.
    await expect(db.query(`UPDATE learning.model_versions SET parent_version_id = $2 WHERE id = $1`, [v1.id, v2.id])).rejects.toThrow(
      /keeps its model, number and parent/,
    );
    await expect(db.query(`UPDATE learning.model_versions SET version = 7 WHERE id = $1`, [v2.id])).rejects.toThrow(
      /keeps its model, number and parent/,
    );
    await db.query(`UPDATE learning.model_versions SET status = 'active' WHERE id = $1`, [v2.id]);
  });

  it('erasing an organization erases its learning rows, lineage, aliases and linked artifacts included', async () => {
    const [model] = await db.query<{ id: string }>(`SELECT id FROM learning.ml_models WHERE organization_id = $1`, [b]);
    const [v1] = await db.query<{ id: string }>(
      `INSERT INTO learning.model_versions (organization_id, model_id, version) VALUES ($1, $2, 1) RETURNING id`,
      [b, model.id],
    );
    const [v2] = await db.query<{ id: string }>(
      `INSERT INTO learning.model_versions (organization_id, model_id, version, parent_version_id) VALUES ($1, $2, 2, $3) RETURNING id`,
      [b, model.id, v1.id],
    );
    await db.query(`INSERT INTO learning.model_aliases (organization_id, model_id, alias, version_id) VALUES ($1, $2, 'champion', $3)`, [
      b,
      model.id,
      v2.id,
    ]);
    const [artifact] = await db.query<{ id: string }>(
      `INSERT INTO learning.artifacts (organization_id, sha256, size_bytes, storage) VALUES ($1, repeat('a', 64), 1, 'database') RETURNING id`,
      [b],
    );
    await db.query(`INSERT INTO learning.artifact_blobs (organization_id, artifact_id, content) VALUES ($1, $2, 'x')`, [b, artifact.id]);
    await db.query(
      `INSERT INTO learning.model_version_artifacts (organization_id, version_id, name, artifact_id) VALUES ($1, $2, 'w', $3)`,
      [b, v2.id, artifact.id],
    );
    await db.query(
      `INSERT INTO learning.predictions (organization_id, version_id, prediction_type, value_kind, target_type, target_id, predicted_value)
       VALUES ($1, $2, 'risk', 'probability', 'file', 'a.ts', 0.5)`,
      [b, v2.id],
    );
    await db.query(`DELETE FROM base.organizations WHERE id = $1`, [b]);
    for (const table of LEARNING_TABLES) {
      const [{ count }] = await db.query<{ count: number }>(
        `SELECT count(*)::int AS count FROM learning.${table} WHERE organization_id = $1`,
        [b],
      );
      expect({ table, count }).toEqual({ table, count: 0 });
    }
  });

  it("each migration's down restores exactly the catalog its up found", async () => {
    const stepwise = await createTestDatabase({ modules: [baseModule, learningModule], migrate: false });
    try {
      await expectEachMigrationReverts(stepwise, learningModule, { requires: [baseModule] });
    } finally {
      await stepwise.close();
    }
  });
});
