import { MigrationRunner, defineModule, validateIntegrity } from '@strata/base';
import { createTestDatabase, TestDatabase } from '@strata/testing';
import { installedModules } from '../src/modules';

/** The first migration of issue 8's tenant keys: what a database migrated before them has applied. */
const TENANT_KEYS = 1796203000000;
const stamp = (name: string) => Number(name.slice(-13));

/**
 * A database migrated before the tenant keys, with the composer's references in place and rows in
 * them, moves to PRIMARY KEY (organization_id, id): the references resting on the old keys (the
 * composer's too) are re-created on the new ones as they were, and then replaced by the composer.
 */
describe('upgrading a composed database to the tenant keys', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ modules: installedModules, migrate: false });
  });
  afterAll(async () => db?.close());

  it('keeps every row and reference, and ends with the same catalog rules as a fresh database', async () => {
    const runner = new MigrationRunner({ url: db.url });
    const before = installedModules.map((m) => defineModule({ ...m, migrations: m.migrations.filter((c) => stamp(c.name) < TENANT_KEYS) }));
    await runner.up(before);
    const [org] = await db.query<{ id: string }>(`INSERT INTO base.organizations (name, slug) VALUES ('U', 'upgrade') RETURNING id`);
    const [project] = await db.query<{ id: string }>(
      `INSERT INTO projects.projects (organization_id, name, slug) VALUES ($1, 'P', 'p') RETURNING id`,
      [org.id],
    );
    const [task] = await db.query<{ id: string }>(
      `INSERT INTO tasks.tasks (organization_id, project_id, title) VALUES ($1, $2, 't') RETURNING id`,
      [org.id, project.id],
    );

    await runner.up(installedModules);
    expect((await validateIntegrity(db)).checks.filter((c) => c.violations.length)).toEqual([]);
    expect(
      await db.query(
        `SELECT conname, obj_description(oid, 'pg_constraint') AS comment FROM pg_constraint
          WHERE connamespace = 'tasks'::regnamespace AND conname LIKE '%organization_id_project_id_fkey' ORDER BY 1`,
      ),
    ).toEqual([
      { conname: 'tasks_organization_id_project_id_fkey', comment: 'strata:manual cross-module reference owned by the composer' },
      { conname: 'workflows_organization_id_project_id_fkey', comment: 'strata:manual cross-module reference owned by the composer' },
    ]);
    await db.query('DELETE FROM projects.projects WHERE id = $1', [project.id]);
    expect(await db.query('SELECT project_id FROM tasks.tasks WHERE id = $1', [task.id])).toEqual([{ project_id: null }]);
  });
});
