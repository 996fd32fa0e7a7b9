import { useTestDatabase } from '@strata/testing';
import { ConflictError, OrganizationsService, TenantError, baseModule, withTenant } from '../src';

/**
 * Row-level security as the application role. withTenant() switches the
 * transaction to strata_app (no BYPASSRLS), whatever the test connected as.
 */
describe('tenancy', () => {
  const db = useTestDatabase({ modules: [baseModule] });
  let orgs: OrganizationsService;
  let a: string;
  let b: string;

  beforeAll(async () => {
    orgs = new OrganizationsService(db.dataSource);
    a = (await orgs.create({ name: 'Org A', slug: 'org-a' })).id;
    b = (await orgs.create({ name: 'Org B', slug: 'org-b' })).id;
    // A module-like pair of tenant tables with a tenant-consistent reference.
    await db.query(`
      CREATE SCHEMA tenancy_test;
      CREATE TABLE tenancy_test.parents (
        id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES base.organizations(id) ON DELETE CASCADE,
        name text NOT NULL,
        CONSTRAINT parents_organization_id_id_key UNIQUE (organization_id, id));
      CREATE TABLE tenancy_test.children (
        id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES base.organizations(id) ON DELETE CASCADE,
        parent_id uuid NOT NULL,
        CONSTRAINT children_organization_id_parent_id_fkey FOREIGN KEY (organization_id, parent_id)
          REFERENCES tenancy_test.parents (organization_id, id) ON DELETE CASCADE);
      SELECT base.enable_tenant_rls('tenancy_test.parents');
      SELECT base.enable_tenant_rls('tenancy_test.children');`);
    for (const org of [a, b]) {
      await withTenant(db.dataSource, org, (m) =>
        m.query(`INSERT INTO tenancy_test.parents (organization_id, name) VALUES ($1, 'p')`, [org]),
      );
    }
  });

  const parentOf = async (org: string) =>
    (await withTenant(db.dataSource, org, (m) => m.query('SELECT id FROM tenancy_test.parents')))[0].id as string;

  it('works as the application role, which cannot bypass row-level security', async () => {
    const [row] = await withTenant(db.dataSource, a, (m) =>
      m.query(`SELECT current_user AS role, r.rolbypassrls, r.rolsuper FROM pg_roles r WHERE r.rolname = current_user`),
    );
    expect(row).toEqual({ role: 'strata_app', rolbypassrls: false, rolsuper: false });
  });

  it('the policy reads the tenant setting inline: an index key read once per scan, no function call per row', async () => {
    const plan = await withTenant(db.dataSource, a, (m) =>
      m.query(`EXPLAIN (FORMAT JSON, COSTS OFF) SELECT id FROM tenancy_test.parents WHERE organization_id = $1`, [a]),
    );
    const text = JSON.stringify(plan);
    expect(text).toContain("current_setting('strata.organization_id'::text, true)");
    expect(text).not.toContain('current_organization_id');
    // Outside a tenant transaction the setting is empty, and the function answers NULL (no rows match).
    expect(await db.query('SELECT base.current_organization_id() AS org')).toEqual([{ org: null }]);
  });

  it("org A cannot read, update or delete org B's rows", async () => {
    const parentB = await parentOf(b);
    await withTenant(db.dataSource, a, async (m) => {
      expect(await m.query('SELECT * FROM tenancy_test.parents WHERE id = $1', [parentB])).toEqual([]);
      expect(await m.query('SELECT id FROM base.organizations')).toEqual([{ id: a }]);
      const [, updated] = await m.query(`UPDATE tenancy_test.parents SET name = 'stolen' WHERE id = $1`, [parentB]);
      expect(updated).toBe(0);
      const [, deleted] = await m.query('DELETE FROM tenancy_test.parents WHERE id = $1', [parentB]);
      expect(deleted).toBe(0);
    });
    const [still] = await withTenant(db.dataSource, b, (m) => m.query('SELECT name FROM tenancy_test.parents'));
    expect(still.name).toBe('p');
  });

  it("org A cannot insert a row carrying org B's id", async () => {
    await expect(
      withTenant(db.dataSource, a, (m) => m.query(`INSERT INTO tenancy_test.parents (organization_id, name) VALUES ($1, 'x')`, [b])),
    ).rejects.toThrow(/row-level security/);
  });

  it("org A cannot insert a row that references org B's row (the database refuses)", async () => {
    const parentB = await parentOf(b);
    await expect(
      withTenant(db.dataSource, a, (m) =>
        m.query('INSERT INTO tenancy_test.children (organization_id, parent_id) VALUES ($1, $2)', [a, parentB]),
      ),
    ).rejects.toThrow(/children_organization_id_parent_id_fkey/);
    const counts = await db.query<{ n: string }>('SELECT count(*) AS n FROM tenancy_test.children');
    expect(Number(counts[0].n)).toBe(0);
  });

  it('enters the tenant with SET LOCAL commands (what Citus propagates to its workers), which end with the transaction', async () => {
    const [definition] = await db.query(`SELECT pg_get_functiondef('base.enter_tenant(uuid, uuid, text)'::regprocedure) AS def`);
    expect(definition.def).toContain('SET LOCAL strata.organization_id = %L');
    expect(definition.def).not.toContain('set_config');
    const actor = "O'Brien; RESET ROLE"; // quoted as a value, never run
    const inside = await withTenant(
      db.dataSource,
      a,
      (m) =>
        m.query(
          `SELECT current_setting('strata.organization_id') AS org, current_setting('strata.actor') AS actor,
                  current_setting('strata.user_id') AS user_id, current_user AS role`,
        ),
      { actor },
    );
    expect(inside).toEqual([{ org: a, actor, user_id: '', role: 'strata_app' }]);
    const [after] = await db.query(`SELECT coalesce(current_setting('strata.organization_id', true), '') AS org, current_user AS role`);
    expect(after.org).toBe('');
    expect(after.role).not.toBe('strata_app');
  });

  it('lists members a page at a time, each once, oldest first, with their users; only its own organization', async () => {
    const org = (await orgs.create({ name: 'Paged', slug: 'paged-members' })).id;
    const emails: string[] = [];
    for (let i = 0; i < 5; i++) {
      emails.push((await orgs.inviteMember(org, { email: `member-${i}@paged.example`, name: `Member ${i}`, role: 'member' })).user.email);
    }
    await orgs.inviteMember(b, { email: 'elsewhere@paged.example', name: 'Elsewhere', role: 'member' });
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await orgs.listMembers(org, { limit: 2, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((m) => m.user.email));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(seen).toEqual(emails);
    expect(pages).toBe(3);
  });

  it('refuses work without a valid organization id', async () => {
    await expect(withTenant(db.dataSource, 'not-a-uuid', async () => 1)).rejects.toThrow(TenantError);
  });

  it('duplicate slugs are a ConflictError naming the field; nothing is written', async () => {
    const before = await db.query<{ n: string }>('SELECT count(*) AS n FROM base.organizations');
    const error = await orgs.create({ name: 'Again', slug: 'org-a' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as ConflictError).fields).toEqual(['slug']);
    expect(await db.query('SELECT count(*) AS n FROM base.organizations')).toEqual(before);
  });

  it('the audit log records changes and refuses UPDATE and DELETE', async () => {
    const { user } = await orgs.inviteMember(a, { email: 'Ada@Example.com', name: 'Ada', role: 'admin' });
    expect(user.email).toBe('ada@example.com');
    const entries = await db.query<{ action: string; table_name: string }>(
      `SELECT action, table_name FROM base.audit_log WHERE organization_id = $1 ORDER BY created_at`,
      [a],
    );
    expect(entries).toEqual(
      expect.arrayContaining([
        { action: 'insert', table_name: 'base.organizations' },
        { action: 'insert', table_name: 'base.organization_memberships' },
      ]),
    );
    await expect(db.query(`UPDATE base.audit_log SET action = 'x' WHERE organization_id = $1`, [a])).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM base.audit_log WHERE organization_id = $1', [a])).rejects.toThrow(/append-only/);
    await expect(db.query('TRUNCATE base.audit_log')).rejects.toThrow(/append-only/);
  });

  it('deleting an organization removes its rows everywhere, and only its rows', async () => {
    const doomed = (await orgs.create({ name: 'Doomed', slug: 'doomed' })).id;
    await withTenant(db.dataSource, doomed, async (m) => {
      const [parent] = await m.query(`INSERT INTO tenancy_test.parents (organization_id, name) VALUES ($1, 'p') RETURNING id`, [doomed]);
      await m.query('INSERT INTO tenancy_test.children (organization_id, parent_id) VALUES ($1, $2)', [doomed, parent.id]);
    });
    await orgs.inviteMember(doomed, { email: 'doomed@example.com', name: 'D', role: 'owner' });
    const count = async (sql: string) => Number((await db.query<{ n: string }>(sql, [doomed]))[0].n);
    const tables = ['tenancy_test.parents', 'tenancy_test.children', 'base.organization_memberships', 'base.audit_log'];
    for (const t of tables) expect(await count(`SELECT count(*) AS n FROM ${t} WHERE organization_id = $1`)).toBeGreaterThan(0);
    const othersBefore = await db.query('SELECT count(*) AS n FROM tenancy_test.parents WHERE organization_id <> $1', [doomed]);

    await orgs.erase(doomed);

    for (const t of tables) expect(await count(`SELECT count(*) AS n FROM ${t} WHERE organization_id = $1`)).toBe(0);
    expect(await count('SELECT count(*) AS n FROM base.organizations WHERE id = $1')).toBe(0);
    expect(await db.query('SELECT count(*) AS n FROM tenancy_test.parents WHERE organization_id <> $1', [doomed])).toEqual(othersBefore);
  });
});
