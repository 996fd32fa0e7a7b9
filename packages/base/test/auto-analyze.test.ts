import { useTestDatabase } from '@strata/testing';
import { OrganizationsService, baseModule, withTenant } from '../src';

/** base.enable_auto_analyze(): statistics that follow a growing table where no autovacuum runs. */
describe('auto analyze', () => {
  const db = useTestDatabase({ modules: [baseModule] });
  let org: string;

  beforeAll(async () => {
    org = (await new OrganizationsService(db.dataSource).create({ name: 'Growing', slug: 'growing' })).id;
    // A tenant table, written as the application role, that autovacuum leaves alone (as on the embedded database).
    await db.query(`
      CREATE SCHEMA auto_analyze_test;
      CREATE TABLE auto_analyze_test.items (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES base.organizations(id) ON DELETE CASCADE,
        body text NOT NULL) WITH (autovacuum_enabled = false);
      SELECT base.enable_tenant_rls('auto_analyze_test.items');
      SELECT base.enable_auto_analyze('auto_analyze_test.items');`);
  });

  const stats = async () =>
    (
      await db.query<{ analyzed_pages: number; pages: number; analyzed_rows: number }>(
        `SELECT relpages AS analyzed_pages, reltuples::int AS analyzed_rows,
              (pg_relation_size(oid) / current_setting('block_size')::int)::int AS pages
         FROM pg_class WHERE oid = 'auto_analyze_test.items'::regclass`,
      )
    )[0];
  const insert = (rows: number) =>
    withTenant(db.dataSource, org, (m) =>
      m.query(`INSERT INTO auto_analyze_test.items (organization_id, body) SELECT $1, repeat('x', 200) FROM generate_series(1, $2)`, [
        org,
        rows,
      ]),
    );

  it('is analyzed by the insert that finds it twice as large as at its last ANALYZE, so its statistics are never more than 2x behind', async () => {
    await insert(10); // one page: too small to bother
    expect(await stats()).toMatchObject({ analyzed_pages: 0, pages: 1 });
    const seen: number[] = [];
    for (let batch = 0; batch < 12; batch++) {
      await insert(200);
      const { analyzed_pages, pages, analyzed_rows } = await stats();
      if (pages > 8) expect(2 * analyzed_pages).toBeGreaterThanOrEqual(pages);
      if (!seen.includes(analyzed_pages)) seen.push(analyzed_pages);
      if (analyzed_pages > 0) expect(analyzed_rows).toBeGreaterThan(0);
    }
    // The table grew from 1 to about 80 pages and was analyzed at each doubling, not at every insert.
    const { pages } = await stats();
    expect(pages).toBeGreaterThan(64);
    expect(seen.filter((p) => p > 0).length).toBeGreaterThanOrEqual(3);
    expect(seen.filter((p) => p > 0).length).toBeLessThanOrEqual(5);
  });

  it('disable_auto_analyze removes the trigger again', async () => {
    const triggers = () =>
      db.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'auto_analyze_test.items'::regclass AND NOT tgisinternal`);
    expect(await triggers()).toEqual([{ tgname: 'items_auto_analyze' }]);
    await db.query(`SELECT base.disable_auto_analyze('auto_analyze_test.items')`);
    expect(await triggers()).toEqual([]);
    await db.query(`SELECT base.enable_auto_analyze('auto_analyze_test.items')`);
  });
});
