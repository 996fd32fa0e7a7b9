import { ConflictError, NotFoundError, OrganizationsService, TenantError, ValidationError, baseModule, withTenant } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { TeamsService, projectsModule } from '../src';
import { Tenant, UNKNOWN_ID, createTenant, expectNothingWritten, expectRefused } from './support';

describe('TeamsService', () => {
  const db = useTestDatabase({ modules: [baseModule, projectsModule] });
  let teams: TeamsService;
  let organizations: OrganizationsService;
  let a: Tenant;
  let b: Tenant;
  /** A second member of organization A. */
  let ada: string;

  beforeAll(async () => {
    teams = new TeamsService(db.dataSource);
    organizations = new OrganizationsService(db.dataSource);
    a = await createTenant(db, 'a');
    b = await createTenant(db, 'b');
    ada = (await organizations.inviteMember(a.id, { email: 'ada@example.com', name: 'Ada', role: 'admin' })).userId;
  });

  describe('create, get, list, rename and delete', () => {
    it('creates teams, finds and lists them with member counts, renames and deletes them', async () => {
      const tenant = await createTenant(db, 'crud');
      const core = await teams.create(tenant.id, { name: 'Core', slug: 'core', description: 'Platform team' });
      expect(core).toMatchObject({ organizationId: tenant.id, name: 'Core', slug: 'core', description: 'Platform team' });
      const docs = await teams.create(tenant.id, { name: 'Docs', slug: 'docs' });
      expect(docs.description).toBeNull();
      expect(await teams.get(tenant.id, core.id)).toEqual(core);
      await teams.addMember(tenant.id, core.id, { userId: tenant.userId });

      expect((await teams.list(tenant.id)).items.map((s) => [s.team.name, s.memberCount])).toEqual([
        ['Core', 1],
        ['Docs', 0],
      ]);
      expect((await teams.list(tenant.id)).items[0].team).toEqual(core);

      expect(await teams.rename(tenant.id, docs.id, { name: 'Writers' })).toMatchObject({ name: 'Writers', slug: 'docs' });
      expect(await teams.rename(tenant.id, docs.id, { slug: 'writers' })).toMatchObject({ name: 'Writers', slug: 'writers' });

      await teams.delete(tenant.id, core.id);
      await expectRefused(teams.get(tenant.id, core.id), NotFoundError, 'team');
      expect(
        Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM projects.team_members WHERE team_id = $1', [core.id]))[0].n),
      ).toBe(0);
      expect((await teams.list(tenant.id)).items.map((s) => s.team.name)).toEqual(['Writers']);
    });

    it("refuses bad input, duplicates, unknown and other organizations' teams; writes nothing", async () => {
      const mine = await teams.create(a.id, { name: 'Mine', slug: 'mine' });
      await teams.create(a.id, { name: 'Taken', slug: 'taken' });
      const theirs = await teams.create(b.id, { name: 'Theirs', slug: 'theirs' });
      await expectNothingWritten(db, async () => {
        await expectRefused(teams.create(a.id, {} as never), ValidationError, ['name', 'slug']);
        await expectRefused(teams.create(a.id, { name: '', slug: 'UPPER' }), ValidationError, ['name', 'slug']);
        await expectRefused(teams.create(a.id, { name: 'x', slug: 'x', description: false } as never), ValidationError, ['description']);
        await expectRefused(teams.create(a.id, { name: 'x', slug: 'x', members: [] } as never), ValidationError, ['members']);
        await expectRefused(teams.create(a.id, { name: 'Again', slug: 'taken' }), ConflictError, ['slug']);
        await expectRefused(teams.create(UNKNOWN_ID, { name: 'x', slug: 'x' }), NotFoundError, 'organization');
        await expectRefused(teams.create('nope', { name: 'x', slug: 'x' }), TenantError);

        await expectRefused(teams.get(a.id, 'x'), ValidationError, ['teamId']);
        await expectRefused(teams.get(a.id, UNKNOWN_ID), NotFoundError, 'team');
        await expectRefused(teams.get(a.id, theirs.id), NotFoundError, 'team');

        await expectRefused(teams.rename(a.id, mine.id, {}), ValidationError, ['(input)']);
        await expectRefused(teams.rename(a.id, mine.id, { slug: 'no spaces allowed' }), ValidationError, ['slug']);
        await expectRefused(teams.rename(a.id, mine.id, { name: null } as never), ValidationError, ['name']);
        await expectRefused(teams.rename(a.id, mine.id, { slug: 'taken' }), ConflictError, ['slug']);
        await expectRefused(teams.rename(a.id, 'x', { name: 'x' }), ValidationError, ['teamId']);
        await expectRefused(teams.rename(a.id, UNKNOWN_ID, { name: 'x' }), NotFoundError, 'team');
        await expectRefused(teams.rename(a.id, theirs.id, { name: 'Stolen' }), NotFoundError, 'team');

        await expectRefused(teams.delete(a.id, 'x'), ValidationError, ['teamId']);
        await expectRefused(teams.delete(a.id, UNKNOWN_ID), NotFoundError, 'team');
        await expectRefused(teams.delete(a.id, theirs.id), NotFoundError, 'team');
        await expectRefused(teams.list('nope'), TenantError);
      });
      expect(await teams.get(b.id, theirs.id)).toMatchObject({ name: 'Theirs' });
    });
  });

  describe('members', () => {
    it('adds members of the organization, changes roles, lists both ways and removes them', async () => {
      const team = await teams.create(a.id, { name: 'Reviewers', slug: 'reviewers' });
      const other = await teams.create(a.id, { name: 'Architects', slug: 'architects' });
      const member = await teams.addMember(a.id, team.id, { userId: a.userId });
      expect(member).toMatchObject({ organizationId: a.id, teamId: team.id, userId: a.userId, role: 'member' });
      await teams.addMember(a.id, team.id, { userId: ada, role: 'maintainer' });
      await teams.addMember(a.id, other.id, { userId: ada });

      const listed = (await teams.listMembers(a.id, team.id)).items;
      expect(listed.map((m) => [m.user.email, m.user.name, m.role])).toEqual([
        ['ada@example.com', 'Ada', 'maintainer'],
        ['a@example.com', 'User a', 'member'],
      ]);

      expect(await teams.changeRole(a.id, team.id, a.userId, { role: 'maintainer' })).toMatchObject({
        userId: a.userId,
        role: 'maintainer',
      });
      const adaTeams = (await teams.listTeamsForUser(a.id, ada)).items;
      expect(adaTeams.map((m) => [m.team.name, m.role])).toEqual([
        ['Architects', 'member'],
        ['Reviewers', 'maintainer'],
      ]);

      await teams.removeMember(a.id, team.id, ada);
      expect((await teams.listMembers(a.id, team.id)).items.map((m) => m.userId)).toEqual([a.userId]);
      expect((await teams.listTeamsForUser(a.id, ada)).items.map((m) => m.team.name)).toEqual(['Architects']);
      expect((await teams.listMembers(a.id, (await teams.create(a.id, { name: 'Empty', slug: 'empty' })).id)).items).toEqual([]);
      const loner = await createTenant(db, 'loner');
      expect((await teams.listTeamsForUser(loner.id, loner.userId)).items).toEqual([]);
    });

    it('a user who leaves the organization leaves its teams', async () => {
      const tenant = await createTenant(db, 'leaver');
      const team = await teams.create(tenant.id, { name: 'Team', slug: 'team' });
      await teams.addMember(tenant.id, team.id, { userId: tenant.userId });
      await withTenant(db.dataSource, tenant.id, (m) =>
        m.query('DELETE FROM base.organization_memberships WHERE user_id = $1', [tenant.userId]),
      );
      expect((await teams.listMembers(tenant.id, team.id)).items).toEqual([]);
    });

    it("refuses users outside the organization, duplicates, bad roles, unknown and other organizations' teams; writes nothing", async () => {
      const team = await teams.create(a.id, { name: 'Guarded', slug: 'guarded' });
      await teams.addMember(a.id, team.id, { userId: a.userId });
      const theirTeam = await teams.create(b.id, { name: 'Their team', slug: 'their-team' });
      await teams.addMember(b.id, theirTeam.id, { userId: b.userId });
      // A user of no organization (left behind by an erased one): only the owner can write users directly.
      const [{ id: stranger }] = await db.query<{ id: string }>(
        `INSERT INTO base.users (email, name) VALUES ('stranger@example.com', 'Stranger') RETURNING id`,
      );

      await expectNothingWritten(db, async () => {
        await expectRefused(teams.addMember(a.id, team.id, { userId: b.userId }), ValidationError, ['userId']);
        await expectRefused(teams.addMember(a.id, team.id, { userId: stranger }), ValidationError, ['userId']);
        await expectRefused(teams.addMember(a.id, team.id, { userId: UNKNOWN_ID }), ValidationError, ['userId']);
        await expectRefused(teams.addMember(a.id, team.id, { userId: a.userId }), ConflictError, ['userId']);
        await expectRefused(teams.addMember(a.id, team.id, {} as never), ValidationError, ['userId']);
        await expectRefused(teams.addMember(a.id, team.id, { userId: 'x', role: 'owner' } as never), ValidationError, ['userId', 'role']);
        await expectRefused(teams.addMember(a.id, team.id, { userId: ada, role: null } as never), ValidationError, ['role']);
        await expectRefused(teams.addMember(a.id, 'x', { userId: ada }), ValidationError, ['teamId']);
        await expectRefused(teams.addMember(a.id, UNKNOWN_ID, { userId: ada }), NotFoundError, 'team');
        await expectRefused(teams.addMember(a.id, theirTeam.id, { userId: ada }), NotFoundError, 'team');
        await expectRefused(teams.addMember(a.id, theirTeam.id, { userId: b.userId }), NotFoundError, 'team');
        await expectRefused(teams.addMember('nope', team.id, { userId: ada }), TenantError);

        await expectRefused(teams.changeRole(a.id, team.id, a.userId, { role: 'owner' } as never), ValidationError, ['role']);
        await expectRefused(teams.changeRole(a.id, team.id, a.userId, {} as never), ValidationError, ['role']);
        await expectRefused(teams.changeRole(a.id, team.id, 'x', { role: 'member' }), ValidationError, ['userId']);
        await expectRefused(teams.changeRole(a.id, 'x', a.userId, { role: 'member' }), ValidationError, ['teamId']);
        await expectRefused(teams.changeRole(a.id, team.id, ada, { role: 'maintainer' }), NotFoundError, 'team member');
        await expectRefused(teams.changeRole(a.id, theirTeam.id, b.userId, { role: 'maintainer' }), NotFoundError, 'team member');

        await expectRefused(teams.removeMember(a.id, team.id, 'x'), ValidationError, ['userId']);
        await expectRefused(teams.removeMember(a.id, team.id, ada), NotFoundError, 'team member');
        await expectRefused(teams.removeMember(a.id, theirTeam.id, b.userId), NotFoundError, 'team member');

        await expectRefused(teams.listMembers(a.id, 'x'), ValidationError, ['teamId']);
        await expectRefused(teams.listMembers(a.id, UNKNOWN_ID), NotFoundError, 'team');
        await expectRefused(teams.listMembers(a.id, theirTeam.id), NotFoundError, 'team');

        await expectRefused(teams.listTeamsForUser(a.id, 'x'), ValidationError, ['userId']);
        await expectRefused(teams.listTeamsForUser(a.id, stranger), NotFoundError, 'organization member');
        await expectRefused(teams.listTeamsForUser(a.id, b.userId), NotFoundError, 'organization member');
      });
      expect((await teams.listMembers(b.id, theirTeam.id)).items.map((m) => m.role)).toEqual(['member']);
    });
  });
});
