import { randomBytes } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { expectRefused, useTestDatabase } from '@strata/testing';
import {
  ConflictError,
  ForbiddenError,
  MigrationError,
  MigrationRunner,
  OrganizationsService,
  ValidationError,
  baseModule,
  withTenant,
} from '../src';

/**
 * Every SECURITY DEFINER function of schema base, who may execute it, and how it
 * is kept from reaching another organization's rows. A new one fails the
 * inventory test below until it is listed here and tested as strata_app.
 */
const BASE_SECURITY_DEFINER = {
  /** Tenant path: checks the tenant context and the acting user's role; writes only the current organization. */
  'invite_member(text,text,text)': { strataApp: true },
  /** Tenant path: the tenant context's own user (strata.user_id, a member of the organization) changes only their own row. */
  'update_own_profile(text,jsonb)': { strataApp: true },
  /** Operator only (maintenance takes ACCESS EXCLUSIVE locks and applies retention for every tenant). */
  'run_maintenance(text)': { strataApp: false },
  'create_partitions(text)': { strataApp: false },
  /** Migrations only. */
  'register_partitioned_table(text,text,text,integer,interval,text)': { strataApp: false },
  'unregister_partitioned_table(text)': { strataApp: false },
  /** A trigger function: fires on inserts into the table it is attached to, never callable directly. */
  'analyze_if_grown()': { strataApp: false },
};

describe('security as strata_app', () => {
  const db = useTestDatabase({ modules: [baseModule] });
  let orgs: OrganizationsService;
  let a: string;
  let b: string;
  let ownerA: string;
  let adminA: string;
  let viewerA: string;
  let userB: string;

  beforeAll(async () => {
    orgs = new OrganizationsService(db.dataSource);
    a = (await orgs.create({ name: 'Org A', slug: 'org-a' })).id;
    b = (await orgs.create({ name: 'Org B', slug: 'org-b' })).id;
    ownerA = (await orgs.inviteMember(a, { email: 'owner@a.example', name: 'Owner A', role: 'owner' })).userId;
    adminA = (await orgs.inviteMember(a, { email: 'admin@a.example', name: 'Admin A', role: 'admin' })).userId;
    viewerA = (await orgs.inviteMember(a, { email: 'viewer@a.example', name: 'Viewer A', role: 'viewer' })).userId;
    userB = (await orgs.inviteMember(b, { email: 'bob@b.example', name: 'Bob', role: 'owner' })).userId;
  });

  /** As strata_app in the organization's tenant context; a refusal rolls the transaction back. */
  const asTenant = <T>(org: string, work: (m: EntityManager) => Promise<T>) => withTenant(db.dataSource, org, work);
  const userRow = async (id: string) => (await db.query('SELECT email, name FROM base.users WHERE id = $1', [id]))[0];

  describe('users', () => {
    it("a tenant reads only its own members; another organization's user is invisible by id and by email", async () => {
      const emails = await asTenant(a, (m) => m.query('SELECT email FROM base.users ORDER BY email'));
      expect(emails.map((r: { email: string }) => r.email)).toEqual(['admin@a.example', 'owner@a.example', 'viewer@a.example']);
      await asTenant(a, async (m) => {
        expect(await m.query('SELECT * FROM base.users WHERE id = $1', [userB])).toEqual([]);
        expect(await m.query(`SELECT * FROM base.users WHERE email = 'bob@b.example'`)).toEqual([]);
      });
      expect(await orgs.findMemberByEmail(a, 'BOB@b.example')).toBeNull();
      expect(await orgs.findMemberByEmail(b, 'BOB@b.example')).toMatchObject({ id: userB, name: 'Bob' });
      // Outside any tenant context, strata_app sees no user at all.
      const none = await db.dataSource.transaction(async (m) => {
        await m.query('SET LOCAL ROLE strata_app');
        return m.query('SELECT count(*)::int AS n FROM base.users');
      });
      expect(none).toEqual([{ n: 0 }]);
    });

    it('a tenant cannot update, delete or insert users, not even its own members', async () => {
      for (const target of [userB, ownerA]) {
        await expect(asTenant(a, (m) => m.query(`UPDATE base.users SET name = 'stolen' WHERE id = $1`, [target]))).rejects.toThrow(
          /permission denied for table users/,
        );
        await expect(asTenant(a, (m) => m.query('DELETE FROM base.users WHERE id = $1', [target]))).rejects.toThrow(
          /permission denied for table users/,
        );
      }
      await expect(asTenant(a, (m) => m.query(`INSERT INTO base.users (email, name) VALUES ('mallory@a.example', 'M')`))).rejects.toThrow(
        /permission denied for table users/,
      );
      expect(await userRow(userB)).toEqual({ email: 'bob@b.example', name: 'Bob' });
      expect(await userRow(ownerA)).toEqual({ email: 'owner@a.example', name: 'Owner A' });
      expect(await db.query(`SELECT * FROM base.users WHERE email = 'mallory@a.example'`)).toEqual([]);
    });

    it("a tenant cannot pull another organization's user in by id: no membership INSERT, no change of a membership's user", async () => {
      await expect(
        asTenant(a, (m) =>
          m.query(`INSERT INTO base.organization_memberships (organization_id, user_id, role) VALUES ($1, $2, 'member')`, [a, userB]),
        ),
      ).rejects.toThrow(/permission denied for table organization_memberships/);
      await expect(
        asTenant(a, (m) => m.query('UPDATE base.organization_memberships SET user_id = $1 WHERE user_id = $2', [userB, viewerA])),
      ).rejects.toThrow(/permission denied for table organization_memberships/);
      expect(await db.query('SELECT organization_id FROM base.organization_memberships WHERE user_id = $1', [userB])).toEqual([
        { organization_id: b },
      ]);
    });

    it("a tenant still changes its members' roles and removes members, only its own", async () => {
      const temp = (await orgs.inviteMember(a, { email: 'temp@a.example', name: 'Temp', role: 'member' })).userId;
      await asTenant(a, async (m) => {
        const [, changed] = await m.query(
          `UPDATE base.organization_memberships SET role = 'admin', updated_at = now() WHERE user_id = $1`,
          [temp],
        );
        expect(changed).toBe(1);
        const [, stolen] = await m.query(`UPDATE base.organization_memberships SET role = 'viewer' WHERE user_id = $1`, [userB]);
        expect(stolen).toBe(0);
        const [, removedOther] = await m.query('DELETE FROM base.organization_memberships WHERE user_id = $1', [userB]);
        expect(removedOther).toBe(0);
        const [, removed] = await m.query('DELETE FROM base.organization_memberships WHERE user_id = $1', [temp]);
        expect(removed).toBe(1);
      });
      expect(await db.query('SELECT role FROM base.organization_memberships WHERE user_id = $1', [userB])).toEqual([{ role: 'owner' }]);
    });
  });

  describe('base.invite_member (SECURITY DEFINER, granted to strata_app)', () => {
    it('creates a new user and their membership in the current organization only', async () => {
      const before = await db.query('SELECT count(*)::int AS n FROM base.organization_memberships WHERE organization_id = $1', [b]);
      const membership = await orgs.inviteMember(a, { email: 'New.Person@A.example', name: 'New Person', role: 'member' });
      expect(membership).toMatchObject({ organizationId: a, role: 'member', user: { email: 'new.person@a.example', name: 'New Person' } });
      expect(await db.query('SELECT count(*)::int AS n FROM base.organization_memberships WHERE organization_id = $1', [b])).toEqual(
        before,
      );
    });

    it("adds an existing user of another organization by email, without changing that user's name", async () => {
      const membership = await orgs.inviteMember(a, { email: 'bob@b.example', name: 'Renamed by A', role: 'viewer' });
      expect(membership).toMatchObject({ organizationId: a, userId: userB, role: 'viewer', user: { name: 'Bob' } });
      expect(await userRow(userB)).toEqual({ email: 'bob@b.example', name: 'Bob' });
      // Now a member of A: A sees Bob, and still none of B's rows.
      expect(await orgs.findMemberByEmail(a, 'bob@b.example')).toMatchObject({ id: userB });
      expect(await asTenant(a, (m) => m.query('SELECT id FROM base.organizations'))).toEqual([{ id: a }]);
      await asTenant(a, (m) => m.query('DELETE FROM base.organization_memberships WHERE user_id = $1', [userB]));
      expect(await orgs.findMemberByEmail(a, 'bob@b.example')).toBeNull();
    });

    it('refuses a second membership, and a new email without a name; writes nothing', async () => {
      const count = async () =>
        (await db.query('SELECT (SELECT count(*) FROM base.users) + (SELECT count(*) FROM base.organization_memberships) AS n'))[0];
      const before = await count();
      await expectRefused(orgs.inviteMember(a, { email: 'admin@a.example', role: 'member' }), ConflictError, ['email']);
      await expectRefused(orgs.inviteMember(a, { email: 'nobody@a.example', role: 'member' }), ValidationError, ['name']);
      expect(await count()).toEqual(before);
    });

    it("on a user's behalf: owners and admins invite, only owners make owners, viewers and strangers may not", async () => {
      const invite = (actor: string, email: string, role: 'owner' | 'member') =>
        orgs.inviteMember(a, { email, name: email, role }, { userId: actor });
      await expect(invite(adminA, 'by-admin@a.example', 'member')).resolves.toMatchObject({ role: 'member' });
      await expect(invite(ownerA, 'owner2@a.example', 'owner')).resolves.toMatchObject({ role: 'owner' });
      await expectRefused(invite(adminA, 'owner3@a.example', 'owner'), ForbiddenError);
      await expectRefused(invite(viewerA, 'by-viewer@a.example', 'member'), ForbiddenError);
      await expectRefused(invite(userB, 'by-bob@a.example', 'member'), ForbiddenError); // B's owner is nobody in A
      expect(
        await db.query(`SELECT email FROM base.users WHERE email IN ('owner3@a.example', 'by-viewer@a.example', 'by-bob@a.example')`),
      ).toEqual([]);
    });

    it('as strata_app without a tenant context it is refused', async () => {
      await expect(
        db.dataSource.transaction(async (m) => {
          await m.query('SET LOCAL ROLE strata_app');
          return m.query(`SELECT base.invite_member('x@y.example', 'member', 'X')`);
        }),
      ).rejects.toThrow(/needs a tenant context/);
    });
  });

  describe('base.update_own_profile (SECURITY DEFINER, granted to strata_app)', () => {
    it("a member changes their own name and preferences, and nobody else's", async () => {
      const user = await orgs.updateOwnProfile(a, viewerA, { name: 'Viewer Renamed', preferences: { theme: 'dark' } });
      expect(user).toMatchObject({ id: viewerA, name: 'Viewer Renamed', preferences: { theme: 'dark' } });
      expect(await orgs.updateOwnProfile(a, viewerA, { name: 'Viewer A' })).toMatchObject({
        name: 'Viewer A',
        preferences: { theme: 'dark' },
      });
      expect(await userRow(ownerA)).toEqual({ email: 'owner@a.example', name: 'Owner A' });
    });

    it('refuses a user who is not a member of the tenant, a context without a user, and empty input; writes nothing', async () => {
      await expectRefused(orgs.updateOwnProfile(a, userB, { name: 'Bob in A' }), ForbiddenError);
      await expectRefused(orgs.updateOwnProfile(a, viewerA, {}), ValidationError, ['(input)']);
      await expectRefused(orgs.updateOwnProfile(a, 'x', { name: 'X' }), ValidationError, ['userId']);
      await expectRefused(orgs.updateOwnProfile(a, viewerA, { name: '' }), ValidationError, ['name']);
      await expect(asTenant(a, (m) => m.query(`SELECT base.update_own_profile('Nobody', NULL)`))).rejects.toThrow(
        /needs a tenant context with a user/,
      );
      expect(await userRow(userB)).toEqual({ email: 'bob@b.example', name: 'Bob' });
    });
  });

  describe('maintenance and health are operator-only', () => {
    beforeAll(async () => {
      await db.query(`CREATE TABLE base.security_events (id bigint, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at)`);
      await db.query(`SELECT base.register_partitioned_table('base.security_events', 'created_at', 'day', 2)`);
    });

    it.each([
      ['base.run_maintenance()', `SELECT base.run_maintenance()`],
      ['base.run_maintenance(table)', `SELECT base.run_maintenance('base.security_events')`],
      ['base.create_partitions(table)', `SELECT base.create_partitions('base.security_events')`],
      ['base.health_check()', `SELECT base.health_check()`],
    ])('%s: a tenant request gets permission denied', async (_label, sql) => {
      await expect(asTenant(a, (m) => m.query(sql))).rejects.toThrow(/permission denied for function/);
    });

    it('the owner still runs them', async () => {
      const [{ report }] = await db.query<{ report: { tables: { table: string }[] } }>(`SELECT base.run_maintenance() AS report`);
      expect(report.tables.map((t) => t.table)).toContain('base.security_events');
      expect(await db.query(`SELECT base.create_partitions('base.security_events') AS n`)).toEqual([{ n: 0 }]);
      const [{ health }] = await db.query<{ health: { status: string; modules: { module: string }[] } }>(
        `SELECT base.health_check() AS health`,
      );
      expect(health.modules.map((m) => m.module)).toContain('base');
    });
  });

  describe('SECURITY DEFINER inventory', () => {
    it('lists every SECURITY DEFINER function of schema base; each pins search_path, none is PUBLIC, strata_app runs only the tenant paths', async () => {
      const rows = await db.query<{ fn: string; app: boolean; public_exec: boolean; pinned: boolean }>(
        `SELECT substr(p.oid::regprocedure::text, length('base.') + 1) AS fn,
                has_function_privilege('strata_app', p.oid, 'EXECUTE') AS app,
                coalesce(EXISTS (SELECT 1 FROM aclexplode(p.proacl) x WHERE x.grantee = 0), true) AS public_exec,
                'search_path=pg_catalog, pg_temp' = ANY (p.proconfig) AS pinned
           FROM pg_proc p WHERE p.prosecdef AND p.pronamespace = 'base'::regnamespace`,
      );
      expect(rows.sort((x, y) => x.fn.localeCompare(y.fn))).toEqual(
        Object.entries(BASE_SECURITY_DEFINER)
          .map(([fn, { strataApp }]) => ({ fn, app: strataApp, public_exec: false, pinned: true }))
          .sort((x, y) => x.fn.localeCompare(y.fn)),
      );
    });

    it('analyze_if_grown: strata_app cannot call it, and the statistics it gathers stay hidden from tenants', async () => {
      await db.query(`
        CREATE TABLE base.security_notes (organization_id uuid NOT NULL REFERENCES base.organizations(id) ON DELETE CASCADE, secret text NOT NULL);
        SELECT base.enable_tenant_rls('base.security_notes');
        SELECT base.enable_auto_analyze('base.security_notes');`);
      await expect(asTenant(a, (m) => m.query('SELECT base.analyze_if_grown()'))).rejects.toThrow(/permission denied for function/);
      // Inserts as strata_app make the trigger ANALYZE the table, as its owner: the sample spans every organization.
      await asTenant(b, (m) => m.query(`INSERT INTO base.security_notes SELECT $1, 'b-secret' FROM generate_series(1, 2000)`, [b]));
      await asTenant(a, (m) => m.query(`INSERT INTO base.security_notes SELECT $1, 'a-note' FROM generate_series(1, 2000)`, [a]));
      const [{ analyzed }] = await db.query<{ analyzed: boolean }>(
        `SELECT reltuples > 0 AS analyzed FROM pg_class WHERE oid = 'base.security_notes'::regclass`,
      );
      expect(analyzed).toBe(true);
      expect(
        await db.query(`SELECT count(*)::int AS n FROM pg_stats WHERE schemaname = 'base' AND tablename = 'security_notes'`),
      ).not.toEqual([{ n: 0 }]);
      await asTenant(a, async (m) => {
        expect(await m.query(`SELECT most_common_vals FROM pg_stats WHERE schemaname = 'base' AND tablename = 'security_notes'`)).toEqual(
          [],
        );
        expect(await m.query(`SELECT DISTINCT secret FROM base.security_notes`)).toEqual([{ secret: 'a-note' }]);
      });
    });
  });
});

describe('the migrating role must be able to act as strata_app', () => {
  const migrationName = 'RequireAppRoleMembership1796200200000';
  const index = baseModule.migrations.findIndex((m) => m.name === migrationName);
  const previous = baseModule.migrations[index - 1].name;
  // The role migrates base up to this migration only: later ones alter tables the owner created.
  const throughIt = { ...baseModule, migrations: baseModule.migrations.slice(0, index + 1) };
  // Each test starts from the migration before it (its own down, as the owner) and a new role; roles are cluster-wide.
  const db = useTestDatabase({ modules: [baseModule] });

  it('fails with a clear message naming the role and the fix when the grant is refused, and applies once it is fixed', async () => {
    const role = `strata_sec_${randomBytes(5).toString('hex')}`;
    const [{ database }] = await db.query<{ database: string }>('SELECT current_database() AS database');
    try {
      await new MigrationRunner({ url: db.url }).down(baseModule, { to: previous });
      // A non-superuser that may migrate schema base (it owns it) but cannot be granted strata_app.
      await db.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOCREATEROLE NOINHERIT`);
      await db.query(`GRANT CREATE ON DATABASE "${database}" TO ${role}`);
      await db.query(`ALTER SCHEMA base OWNER TO ${role}`);
      await db.query(`ALTER TABLE base.migrations OWNER TO ${role}`);

      const error = await asRole(db, role, (url) => new MigrationRunner({ url }).up([throughIt])).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as Error).message).toContain(`the migrating role ${role} cannot act as strata_app`);
      expect((error as Error).message).toContain(`run GRANT strata_app TO ${role}, then migrate again`);
      expect(await db.query(`SELECT name FROM base.migrations WHERE name = $1`, [migrationName])).toEqual([]);
      expect(await db.query(`SELECT to_regclass('base.app_role_grants') AS t`)).toEqual([{ t: null }]);

      // Fixed as the message says: it applies, and the membership it did not grant is not its to revoke.
      await db.query(`GRANT strata_app TO ${role}`);
      await asRole(db, role, (url) => new MigrationRunner({ url }).up([throughIt]));
      expect(await db.query(`SELECT member FROM base.app_role_grants`)).toEqual([]);
      await asRole(db, role, (url) => new MigrationRunner({ url }).down(baseModule, { to: previous }));
      expect(await db.query(`SELECT pg_has_role($1, 'strata_app', 'MEMBER') AS member`, [role])).toEqual([{ member: true }]);
    } finally {
      await db.query(`ALTER SCHEMA base OWNER TO CURRENT_USER`).catch(() => undefined);
      await db.query(`REASSIGN OWNED BY ${role} TO CURRENT_USER`).catch(() => undefined);
      await db.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await db.query(`DROP ROLE IF EXISTS ${role}`);
    }
  }, 120_000);

  it('grants strata_app to a role that may be granted it, and its down revokes exactly that grant', async () => {
    const role = `strata_sec_${randomBytes(5).toString('hex')}`;
    const [{ database, version }] = await db.query<{ database: string; version: number }>(
      `SELECT current_database() AS database, current_setting('server_version_num')::int AS version`,
    );
    // PostgreSQL 16 separated ADMIN from SET: there a role may hold the right to grant strata_app without being able to act as it.
    const canActAs = version >= 160000 ? 'SET' : 'MEMBER';
    try {
      await new MigrationRunner({ url: db.url }).down(baseModule, { to: previous });
      await db.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER NOINHERIT`);
      await db.query(
        version >= 160000 ? `GRANT strata_app TO ${role} WITH ADMIN TRUE, INHERIT FALSE, SET FALSE` : `ALTER ROLE ${role} CREATEROLE`,
      );
      await db.query(`GRANT CREATE ON DATABASE "${database}" TO ${role}`);
      await db.query(`ALTER SCHEMA base OWNER TO ${role}`);
      await db.query(`ALTER TABLE base.migrations OWNER TO ${role}`);
      const actsAs = async () =>
        (await db.query<{ ok: boolean }>(`SELECT pg_has_role($1, 'strata_app', $2) AS ok`, [role, canActAs]))[0].ok;
      expect(await actsAs()).toBe(false);

      await asRole(db, role, (url) => new MigrationRunner({ url }).up([throughIt]));
      expect(await actsAs()).toBe(true);
      expect(await db.query(`SELECT member FROM base.app_role_grants`)).toEqual([{ member: role }]);

      await asRole(db, role, (url) => new MigrationRunner({ url }).down(baseModule, { to: previous }));
      expect(await actsAs()).toBe(false);
    } finally {
      await db.query(`ALTER SCHEMA base OWNER TO CURRENT_USER`).catch(() => undefined);
      await db.query(`REASSIGN OWNED BY ${role} TO CURRENT_USER`).catch(() => undefined);
      await db.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await db.query(`DROP ROLE IF EXISTS ${role}`);
    }
  }, 120_000);
});

/**
 * Runs `work` connected as `role`. On a server that is a real login as the role; the
 * embedded database has one session for every client, so there the session's role is set.
 */
async function asRole<T>(
  db: { kind: string; url: string; query: (sql: string) => Promise<unknown> },
  role: string,
  work: (url: string) => Promise<T>,
): Promise<T> {
  if (db.kind !== 'embedded') {
    const url = new URL(db.url);
    url.username = role;
    url.password = '';
    return work(url.toString());
  }
  await db.query(`SET ROLE ${role}`);
  try {
    return await work(db.url);
  } finally {
    await db.query('RESET ROLE');
  }
}
