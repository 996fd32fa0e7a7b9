import { OrganizationsService, baseModule, withTenant } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { ProjectsService, RepositoriesService, TeamsService, projectsModule } from '../src';
import { PROJECT_TABLES, Tenant, createTenant, rowCounts } from './support';

/** Row-level security as the application role: withTenant() works as strata_app, without BYPASSRLS. */
describe('tenancy of the projects schema', () => {
  const db = useTestDatabase({ modules: [baseModule, projectsModule] });
  const ids: Record<string, Record<string, string>> = {};
  let a: Tenant;
  let b: Tenant;

  /** One row in every projects table for the organization; returns their ids by table. */
  async function populate(tenant: Tenant, name: string): Promise<Record<string, string>> {
    const project = await new ProjectsService(db.dataSource).create(tenant.id, { name, slug: name });
    const repositories = new RepositoriesService(db.dataSource);
    const repository = await repositories.register(tenant.id, { provider: 'github', fullName: `${name}/app` });
    const link = await repositories.linkToProject(tenant.id, project.id, repository.id);
    const teams = new TeamsService(db.dataSource);
    const team = await teams.create(tenant.id, { name, slug: name });
    const member = await teams.addMember(tenant.id, team.id, { userId: tenant.userId });
    return {
      'projects.projects': project.id,
      'projects.repositories': repository.id,
      'projects.project_repositories': link.id,
      'projects.teams': team.id,
      'projects.team_members': member.id,
    };
  }

  beforeAll(async () => {
    a = await createTenant(db, 'a');
    b = await createTenant(db, 'b');
    ids.a = await populate(a, 'alpha');
    ids.b = await populate(b, 'beta');
  });

  const asTenant = <T>(tenant: Tenant, sql: string, params: unknown[] = []) =>
    withTenant(db.dataSource, tenant.id, (m) => m.query(sql, params) as Promise<T>);

  it.each(PROJECT_TABLES)("in %s, org A sees only its own rows and cannot update or delete org B's", async (table) => {
    const visible = await asTenant<{ id: string; organization_id: string }[]>(a, `SELECT id, organization_id FROM ${table}`);
    expect(visible).toEqual([{ id: ids.a[table], organization_id: a.id }]);
    const [, updated] = await asTenant<[unknown, number]>(a, `UPDATE ${table} SET updated_at = now() WHERE id = $1`, [ids.b[table]]);
    expect(updated).toBe(0);
    const [, deleted] = await asTenant<[unknown, number]>(a, `DELETE FROM ${table} WHERE id = $1`, [ids.b[table]]);
    expect(deleted).toBe(0);
    expect(await asTenant(b, `SELECT id FROM ${table}`)).toEqual([{ id: ids.b[table] }]);
  });

  it("org A cannot write a row carrying org B's id", async () => {
    await expect(asTenant(a, `INSERT INTO projects.projects (organization_id, name, slug) VALUES ($1, 'x', 'x')`, [b.id])).rejects.toThrow(
      /row-level security/,
    );
    await expect(asTenant(a, `UPDATE projects.teams SET organization_id = $1`, [b.id])).rejects.toThrow(/row-level security/);
  });

  it("the database refuses links to another organization's repository or project, and team members from outside", async () => {
    const before = await rowCounts(db);
    await expect(
      asTenant(a, `INSERT INTO projects.project_repositories (organization_id, project_id, repository_id) VALUES ($1, $2, $3)`, [
        a.id,
        ids.a['projects.projects'],
        ids.b['projects.repositories'],
      ]),
    ).rejects.toThrow(/project_repositories_organization_id_repository_id_fkey/);
    await expect(
      asTenant(a, `INSERT INTO projects.project_repositories (organization_id, project_id, repository_id) VALUES ($1, $2, $3)`, [
        a.id,
        ids.b['projects.projects'],
        ids.a['projects.repositories'],
      ]),
    ).rejects.toThrow(/project_repositories_organization_id_project_id_fkey/);
    await expect(
      asTenant(a, `INSERT INTO projects.team_members (organization_id, team_id, user_id) VALUES ($1, $2, $3)`, [
        a.id,
        ids.a['projects.teams'],
        b.userId,
      ]),
    ).rejects.toThrow(/team_members_organization_id_user_id_fkey/);
    await expect(
      asTenant(a, `INSERT INTO projects.team_members (organization_id, team_id, user_id) VALUES ($1, $2, $3)`, [
        a.id,
        ids.b['projects.teams'],
        a.userId,
      ]),
    ).rejects.toThrow(/team_members_organization_id_team_id_fkey/);
    // Repointing an existing link is refused the same way.
    await expect(
      asTenant(a, `UPDATE projects.project_repositories SET repository_id = $1`, [ids.b['projects.repositories']]),
    ).rejects.toThrow(/project_repositories_organization_id_repository_id_fkey/);
    expect(await rowCounts(db)).toEqual(before);
  });

  it('erasing an organization removes its rows in every projects table, and only its rows', async () => {
    const doomed = await createTenant(db, 'doomed');
    await populate(doomed, 'doomed');
    const count = async (table: string, op: '=' | '<>') =>
      Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE organization_id ${op} $1`, [doomed.id]))[0].n);
    const others: Record<string, number> = {};
    for (const table of PROJECT_TABLES) {
      expect(await count(table, '=')).toBe(1);
      others[table] = await count(table, '<>');
    }

    await new OrganizationsService(db.dataSource).erase(doomed.id);

    for (const table of PROJECT_TABLES) {
      expect(await count(table, '=')).toBe(0);
      expect(await count(table, '<>')).toBe(others[table]);
    }
  });
});
