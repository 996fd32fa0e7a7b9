import { baseModule, checkSchemaDrift, validateIntegrity, withTenant } from '@strata/base';
import { createTestDatabase, expectEachMigrationReverts, useTestDatabase } from '@strata/testing';
import { codebaseModule } from '../src';

const TABLES = [
  'codebase.code_elements',
  'codebase.codebases',
  'codebase.element_relations',
  'codebase.file_analysis',
  'codebase.file_quality_scores',
  'codebase.snapshots',
];

describe('codebase schema', () => {
  const db = useTestDatabase({ modules: [baseModule, codebaseModule] });

  it('the migrated schema matches the entities', async () => {
    const report = await checkSchemaDrift(db.url, codebaseModule, [baseModule, codebaseModule]);
    expect(report.statements).toEqual([]);
  });

  it('passes base.validate_integrity(): forced RLS, tenant-consistent references, cascading erasure', async () => {
    const report = await validateIntegrity(db);
    expect(report.checks.filter((c) => c.violations.length > 0)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('every table is tenant-scoped: forced RLS, PRIMARY KEY (organization_id, id), erased with its organization', async () => {
    const tables = await db.query<{ name: string; forced: boolean; tenant_key: boolean; erased: boolean }>(
      `SELECT c.oid::regclass::text AS name, c.relrowsecurity AND c.relforcerowsecurity AS forced,
              EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p'
                        AND pg_get_constraintdef(k.oid) = 'PRIMARY KEY (organization_id, id)') AS tenant_key,
              EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f'
                        AND k.confrelid = 'base.organizations'::regclass AND k.confdeltype = 'c') AS erased
         FROM pg_class c WHERE c.relnamespace = 'codebase'::regnamespace AND c.relkind = 'r' AND c.relname <> 'migrations'
        ORDER BY 1`,
    );
    expect(tables).toEqual(TABLES.map((name) => ({ name, forced: true, tenant_key: true, erased: true })));
    // Every reference between the module's tables is composite on organization_id.
    const references = await db.query<{ definition: string }>(
      `SELECT pg_get_constraintdef(oid) AS definition FROM pg_constraint
        WHERE contype = 'f' AND connamespace = 'codebase'::regnamespace AND confrelid <> 'base.organizations'::regclass`,
    );
    expect(references).toHaveLength(12);
    for (const { definition } of references)
      expect(definition).toMatch(/^FOREIGN KEY \(organization_id, \w+\) REFERENCES codebase\.\w+\(organization_id, id\)/);
  });

  it("an organization sees only its own rows, and cannot point at another organization's row (as strata_app)", async () => {
    const organizations = await db.query<{ id: string }>(
      `INSERT INTO base.organizations (name, slug) VALUES ('A', 'codebase-a'), ('B', 'codebase-b') RETURNING id`,
    );
    const codebaseIds: string[] = [];
    for (const { id } of organizations) {
      const [row] = await withTenant(db.dataSource, id, (tx) =>
        tx.query(`INSERT INTO codebase.codebases (organization_id, name) VALUES ($1, 'mine') RETURNING id`, [id]),
      );
      codebaseIds.push(row.id);
    }
    const [a] = organizations;
    const seen = await withTenant(db.dataSource, a.id, (tx) => tx.query(`SELECT organization_id FROM codebase.codebases`));
    expect(seen).toEqual([{ organization_id: a.id }]);
    // A's snapshot of B's codebase: the composite reference refuses it although foreign-key checks ignore RLS.
    await expect(
      withTenant(db.dataSource, a.id, (tx) =>
        tx.query(`INSERT INTO codebase.snapshots (organization_id, codebase_id, tool, tool_version) VALUES ($1, $2, 't', '1')`, [
          a.id,
          codebaseIds[1],
        ]),
      ),
    ).rejects.toThrow(/snapshots_organization_id_codebase_id_fkey/);
    const [count] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM codebase.snapshots`);
    expect(count.n).toBe(0);
  });

  it("each migration's down restores exactly the catalog its up found", async () => {
    const stepwise = await createTestDatabase({ modules: [baseModule, codebaseModule], migrate: false });
    try {
      await expectEachMigrationReverts(stepwise, codebaseModule, { requires: [baseModule] });
    } finally {
      await stepwise.close();
    }
  });
});
