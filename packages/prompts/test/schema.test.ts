import { baseModule, checkSchemaDrift, healthCheck, validateIntegrity, withTenant } from '@strata/base';
import { createTestDatabase, expectEachMigrationReverts, useTestDatabase } from '@strata/testing';
import { promptsModule } from '../src';
import { PROMPT_TABLES, asTenant, createOrganization } from './support';

const MANUAL_INDEXES = ['prompt_templates_organization_id_name_key', 'prompt_templates_tags_idx'];
const HASH = 'a'.repeat(64);

describe('prompts schema', () => {
  const db = useTestDatabase({ modules: [baseModule, promptsModule] });
  let org: string;
  let other: string;

  beforeAll(async () => {
    org = await createOrganization(db, 'schema-a');
    other = await createOrganization(db, 'schema-b');
  });

  const newTemplate = async (organizationId: string, name: string) =>
    (
      await asTenant<{ id: string }[]>(
        db,
        organizationId,
        `INSERT INTO prompts.prompt_templates (organization_id, name) VALUES ($1, $2) RETURNING id`,
        [organizationId, name],
      )
    )[0].id;
  const newVersion = async (organizationId: string, templateId: string, content: unknown = 'Hello') =>
    (
      await asTenant<{ version: number }[]>(
        db,
        organizationId,
        `INSERT INTO prompts.prompt_versions (organization_id, template_id, content, content_hash) VALUES ($1, $2, $3::jsonb, $4) RETURNING version`,
        [organizationId, templateId, JSON.stringify(content), HASH],
      )
    )[0].version;

  it('the migrated schema matches the entities: only the hand-written strata:manual indexes are left to the migration', async () => {
    const report = await checkSchemaDrift(db.url, promptsModule, [baseModule, promptsModule]);
    expect(report.statements).toEqual([]);
    for (const statement of report.ignored) expect(MANUAL_INDEXES.filter((name) => statement.includes(name))).toHaveLength(1);
  });

  it('passes base.validate_integrity(): forced RLS, tenant-consistent references, cascading erasure', async () => {
    const report = await validateIntegrity(db);
    expect(report.checks.filter((c) => c.violations.length > 0)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('every table but the shared price list is a tenant table with forced RLS; the executions and the ledger are partitioned monthly', async () => {
    const tables = await db.query<{ name: string; rls: boolean; forced: boolean; partitioned: boolean }>(
      `SELECT c.oid::regclass::text AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced, c.relkind = 'p' AS partitioned
         FROM pg_class c
        WHERE c.relnamespace = 'prompts'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'migrations'
        ORDER BY 1`,
    );
    expect(tables.map((t) => t.name)).toEqual([...PROMPT_TABLES].sort());
    const partitioned = ['prompts.prompt_executions', 'prompts.llm_interactions', 'prompts.llm_usage'];
    for (const table of tables) {
      const tenant = table.name !== 'prompts.model_prices';
      expect(table).toEqual({ name: table.name, rls: tenant, forced: tenant, partitioned: partitioned.includes(table.name) });
    }
    const policies = await db.query(
      `SELECT parent_table, partition_interval, premake FROM base.partition_policies WHERE parent_table LIKE 'prompts.%' ORDER BY 1`,
    );
    expect(policies).toEqual(partitioned.sort().map((parent_table) => ({ parent_table, partition_interval: 'month', premake: 3 })));
    const health = await healthCheck(db, [baseModule, promptsModule]);
    expect(health.problems).toEqual([]);
  });

  it('an organization sees only its own rows as strata_app', async () => {
    const mine = await newTemplate(org, 'tenancy');
    await newTemplate(other, 'tenancy');
    await newVersion(org, mine);
    const seen = await asTenant<{ organization_id: string }[]>(db, org, `SELECT DISTINCT organization_id FROM prompts.prompt_templates`);
    expect(seen).toEqual([{ organization_id: org }]);
    expect(await asTenant(db, other, `SELECT * FROM prompts.prompt_versions WHERE template_id = $1`, [mine])).toEqual([]);
    // Another organization's template cannot be given a version, even by its id.
    await expect(newVersion(other, mine)).rejects.toThrow(/prompt_versions_organization_id_template_id_fkey|does not exist/);
  });

  it('versions are numbered 1, 2, 3 by the database whatever the caller writes, and latest follows the newest', async () => {
    const template = await newTemplate(org, 'numbering');
    expect([await newVersion(org, template), await newVersion(org, template)]).toEqual([1, 2]);
    await asTenant(
      db,
      org,
      `INSERT INTO prompts.prompt_versions (organization_id, template_id, version, content, content_hash) VALUES ($1, $2, 40, '"x"', $3)`,
      [org, template, HASH],
    );
    const rows = await db.query(`SELECT version FROM prompts.prompt_versions WHERE template_id = $1 ORDER BY version`, [template]);
    expect(rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
    expect(await db.query(`SELECT name, version FROM prompts.prompt_labels WHERE template_id = $1`, [template])).toEqual([
      { name: 'latest', version: 3 },
    ]);
    const moves = await db.query(
      `SELECT label, from_version, to_version FROM prompts.prompt_label_moves WHERE template_id = $1 ORDER BY moved_at`,
      [template],
    );
    expect(moves).toEqual([
      { label: 'latest', from_version: null, to_version: 1 },
      { label: 'latest', from_version: 1, to_version: 2 },
      { label: 'latest', from_version: 2, to_version: 3 },
    ]);
    // A failed create gives its number back: no gap.
    await expect(
      asTenant(
        db,
        org,
        `INSERT INTO prompts.prompt_versions (organization_id, template_id, content, content_hash) VALUES ($1, $2, '42', $3)`,
        [org, template, HASH],
      ),
    ).rejects.toThrow(/prompt_versions_content_check/);
    expect(await newVersion(org, template)).toBe(4);
    // A soft-deleted template takes no new version.
    await asTenant(db, org, `UPDATE prompts.prompt_templates SET deleted_at = now() WHERE id = $1`, [template]);
    await expect(newVersion(org, template)).rejects.toThrow(/does not exist or is deleted/);
  });

  it('a version is immutable: UPDATE and DELETE are refused by the database, for the application and the owner alike', async () => {
    const template = await newTemplate(org, 'immutable');
    await newVersion(org, template, 'original');
    await expect(
      asTenant(db, org, `UPDATE prompts.prompt_versions SET content = '"changed"' WHERE template_id = $1`, [template]),
    ).rejects.toThrow(/permission denied/);
    await expect(asTenant(db, org, `DELETE FROM prompts.prompt_versions WHERE template_id = $1`, [template])).rejects.toThrow(
      /permission denied/,
    );
    await expect(db.query(`UPDATE prompts.prompt_versions SET content = '"changed"' WHERE template_id = $1`, [template])).rejects.toThrow(
      /immutable/,
    );
    await expect(db.query(`DELETE FROM prompts.prompt_versions WHERE template_id = $1`, [template])).rejects.toThrow(/immutable/);
    expect(await db.query(`SELECT content FROM prompts.prompt_versions WHERE template_id = $1`, [template])).toEqual([
      { content: 'original' },
    ]);
  });

  it('template names are unique per organization regardless of case among live templates; a deleted one frees its name', async () => {
    const first = await newTemplate(org, 'Summarize');
    await expect(newTemplate(org, 'summarize')).rejects.toThrow(/prompt_templates_organization_id_name_key/);
    await newTemplate(other, 'SUMMARIZE');
    await asTenant(db, org, `UPDATE prompts.prompt_templates SET deleted_at = now() WHERE id = $1`, [first]);
    await newTemplate(org, 'summarize');
  });

  it('two prices of one model and usage type may not be in effect at once; back-to-back periods are fine', async () => {
    const insert = (from: string, to: string | null) =>
      db.query(
        `INSERT INTO prompts.model_prices (provider, model_pattern, usage_type, price_per_million, effective_from, effective_to)
         VALUES ('openai', 'overlap-model', 'input', 1, $1, $2)`,
        [from, to],
      );
    await insert('2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z');
    await insert('2026-02-01T00:00:00Z', null);
    await expect(insert('2026-01-15T00:00:00Z', '2026-01-20T00:00:00Z')).rejects.toThrow(/already in effect/);
    await expect(insert('2027-01-01T00:00:00Z', null)).rejects.toThrow(/already in effect/);
    // The application reads prices and cannot write them.
    await expect(
      asTenant(
        db,
        org,
        `INSERT INTO prompts.model_prices (provider, model_pattern, usage_type, price_per_million, effective_from) VALUES ('x', 'y', 'input', 1, now())`,
      ),
    ).rejects.toThrow(/permission denied/);
    expect(await asTenant<unknown[]>(db, org, `SELECT 1 FROM prompts.model_prices WHERE model_pattern = 'overlap-model'`)).toHaveLength(2);
  });

  it('erasing an organization removes its templates, versions, labels, history and ledger', async () => {
    const doomed = await createOrganization(db, 'schema-doomed');
    const template = await newTemplate(doomed, 'doomed');
    await newVersion(doomed, template);
    await withTenant(db.dataSource, doomed, async (m) => {
      const [execution] = await m.query(
        `INSERT INTO prompts.prompt_executions (organization_id, template_id, version) VALUES ($1, $2, 1) RETURNING id, started_at::text`,
        [doomed, template],
      );
      const [interaction] = await m.query(
        `INSERT INTO prompts.llm_interactions (organization_id, execution_id, execution_started_at, provider, requested_model, status)
         VALUES ($1, $2, $3, 'openai', 'gpt-4o', 'succeeded') RETURNING id, started_at::text`,
        [doomed, execution.id, execution.started_at],
      );
      await m.query(
        `INSERT INTO prompts.llm_usage (organization_id, interaction_id, started_at, usage_type, tokens) VALUES ($1, $2, $3, 'input', 10)`,
        [doomed, interaction.id, interaction.started_at],
      );
    });
    await db.query(`DELETE FROM base.organizations WHERE id = $1`, [doomed]);
    for (const table of PROMPT_TABLES.filter((t) => t !== 'prompts.model_prices')) {
      expect({ table, rows: await db.query(`SELECT 1 FROM ${table} WHERE organization_id = $1`, [doomed]) }).toEqual({ table, rows: [] });
    }
  });

  it("each migration's down restores exactly the catalog its up found", async () => {
    const stepwise = await createTestDatabase({ modules: [baseModule, promptsModule], migrate: false });
    try {
      await expectEachMigrationReverts(stepwise, promptsModule, { requires: [baseModule] });
    } finally {
      await stepwise.close();
    }
  }, 180_000);
});
