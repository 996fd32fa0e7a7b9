import { EntityManager } from 'typeorm';
import { expectRefused, useTestDatabase } from '@strata/testing';
import {
  NotMigratedError,
  OrganizationsService,
  TenantConnection,
  TenantError,
  TenantService,
  baseModule,
  defineModule,
  enterTenant,
  withTenant,
} from '../src';

/** A module of its own that is never migrated, with the smallest service on it. */
const widgetsModule = defineModule({ name: 'widgets', entities: [], migrations: [] });

class WidgetsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, widgetsModule);
  }

  count(organizationId: string): Promise<number> {
    return this.scope.run(organizationId, async (m) => Number((await m.query('SELECT count(*) AS n FROM widgets.widgets'))[0].n));
  }
}

describe('services in a caller transaction (TenantService.with)', () => {
  const db = useTestDatabase({ modules: [baseModule] });
  let orgs: OrganizationsService;
  let a: string;
  let b: string;

  beforeAll(async () => {
    orgs = new OrganizationsService(db.dataSource);
    a = (await orgs.create({ name: 'Org A', slug: 'scope-a' })).id;
    b = (await orgs.create({ name: 'Org B', slug: 'scope-b' })).id;
    await db.query(`
      CREATE SCHEMA scope_test;
      CREATE TABLE scope_test.notes (
        id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES base.organizations(id) ON DELETE CASCADE,
        body text NOT NULL);
      SELECT base.enable_tenant_rls('scope_test.notes');
      GRANT USAGE ON SCHEMA scope_test TO strata_app;
      GRANT SELECT, INSERT ON scope_test.notes TO strata_app;`);
  });

  const members = async (org: string) => (await orgs.listMembers(org)).items.map((m) => m.userId);
  const notes = async (org: string) =>
    (await db.query<{ body: string }>('SELECT body FROM scope_test.notes WHERE organization_id = $1 ORDER BY body', [org])).map(
      (r) => r.body,
    );
  const note = (tx: EntityManager, org: string, body: string) =>
    tx.query('INSERT INTO scope_test.notes (organization_id, body) VALUES ($1, $2)', [org, body]);

  it('a bound service works inside the caller transaction: rolled back with it, committed with it', async () => {
    const failure = new Error('the caller changes its mind');
    const invite = { email: 'scope@example.com', name: 'Scope', role: 'member' } as const;
    await expect(
      withTenant(db.dataSource, a, async (tx) => {
        const { userId } = await orgs.with(tx).inviteMember(a, invite);
        await note(tx, a, 'rolled back');
        // Inside the transaction the membership is already there.
        expect((await orgs.with(tx).listMembers(a)).items.map((m) => m.userId)).toEqual([userId]);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect({ members: await members(a), notes: await notes(a) }).toEqual({ members: [], notes: [] });

    const userId = await withTenant(db.dataSource, a, async (tx) => {
      const membership = await orgs.with(tx).inviteMember(a, { ...invite, role: 'admin' });
      await note(tx, a, 'committed');
      return membership.userId;
    });
    expect({ members: await members(a), notes: await notes(a) }).toEqual({ members: [userId], notes: ['committed'] });
  });

  it('refuses a transaction of another organization, one that is not a tenant transaction, and one that has ended', async () => {
    const refused = await expectRefused(
      withTenant(db.dataSource, a, async (tx) => {
        await note(tx, a, 'never written');
        await orgs.with(tx).inviteMember(b, { email: 'scope@example.com', role: 'member' });
      }),
      TenantError,
    );
    expect(refused.message).toBe(`the transaction given to .with() works in organization ${a}, not ${b}`);
    await expect(db.dataSource.transaction((tx) => orgs.with(tx).get(a))).rejects.toThrow(TenantError);
    let ended!: EntityManager;
    await withTenant(db.dataSource, a, async (tx) => {
      ended = tx;
    });
    await expectRefused(orgs.with(ended).get(a), TenantError);
    expect(() => orgs.with(db.dataSource as never)).toThrow(TenantError);
    // A transaction entered by hand (enterTenant) is a tenant transaction too.
    const found = await db.dataSource.transaction(async (tx) => {
      await enterTenant(tx.queryRunner!, b);
      return orgs.with(tx).get(b);
    });
    expect(found.id).toBe(b);
    expect(await members(b)).toEqual([]);
    expect(await notes(a)).toEqual(['committed']);
  });

  it('a module that is not migrated is a NotMigratedError naming it and the command, standalone and bound', async () => {
    const widgets = new WidgetsService(db.dataSource);
    const error = (await expectRefused(widgets.count(a), NotMigratedError)) as NotMigratedError;
    expect(error.module).toBe('widgets');
    expect(error.message).toBe(
      'module widgets is not migrated in this database: run `npm run strata -- migrate` (every module) or `nx run @strata/widgets:migrate`',
    );
    await withTenant(db.dataSource, a, async (tx) => {
      await expectRefused(widgets.with(tx).count(a), NotMigratedError);
    });
  });
});

describe('services on a database that is not migrated', () => {
  const empty = useTestDatabase({ modules: [baseModule], migrate: false });

  it('base: NotMigratedError naming base, from a service and from withTenant', async () => {
    const orgs = new OrganizationsService(empty.dataSource);
    const error = (await expectRefused(orgs.create({ name: 'Early', slug: 'early' }), NotMigratedError)) as NotMigratedError;
    expect(error.module).toBe('base');
    expect(error.message).toMatch(/`npm run strata -- migrate`.*`nx run @strata\/base:migrate`/);
    await expectRefused(new WidgetsService(empty.dataSource).count('00000000-0000-4000-8000-000000000001'), NotMigratedError);
    await expectRefused(
      withTenant(empty.dataSource, '00000000-0000-4000-8000-000000000001', () => Promise.resolve()),
      NotMigratedError,
    );
  });
});
