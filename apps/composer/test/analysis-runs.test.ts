import { OrganizationsService, ValidationError, validateIntegrity, withTenant } from '@strata/base';
import { AnalysisRunsService } from '@strata/analytics';
import { ProjectsService, RepositoriesService } from '@strata/projects';
import { expectRefused, useTestDatabase } from '@strata/testing';
import { installedModules } from '../src/modules';

/** analytics.analysis_runs → projects.projects and projects.repositories, composite with organization_id. */
describe('analysis runs in the composed platform', () => {
  const db = useTestDatabase({ modules: installedModules });
  let a: string;
  let b: string;
  let runs: AnalysisRunsService;

  beforeAll(async () => {
    const orgs = new OrganizationsService(db.dataSource);
    a = (await orgs.create({ name: 'A', slug: 'runs-a' })).id;
    b = (await orgs.create({ name: 'B', slug: 'runs-b' })).id;
    runs = new AnalysisRunsService(db.dataSource);
  });

  const count = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM analytics.analysis_runs`))[0].n;

  it('a run refers to a project and a repository of its own organization; any other is refused naming the field', async () => {
    const projects = new ProjectsService(db.dataSource);
    const repositories = new RepositoriesService(db.dataSource);
    const projectA = (await projects.create(a, { name: 'Web', slug: 'web' })).id;
    const repositoryA = (await repositories.register(a, { provider: 'github', fullName: 'acme/web' })).id;
    const projectB = (await projects.create(b, { name: 'Web', slug: 'web' })).id;
    const repositoryB = (await repositories.register(b, { provider: 'github', fullName: 'acme/web' })).id;
    const run = await runs.create(a, { kind: 'quality', tool: 'eslint', projectId: projectA, repositoryId: repositoryA });
    expect(run).toMatchObject({ projectId: projectA, repositoryId: repositoryA });

    const before = await count();
    await expectRefused(runs.create(a, { kind: 'quality', tool: 'eslint', projectId: projectB }), ValidationError, ['projectId']);
    await expectRefused(runs.create(a, { kind: 'quality', tool: 'eslint', repositoryId: repositoryB }), ValidationError, ['repositoryId']);
    expect(await count()).toBe(before);

    // The runs of a deleted repository go with it; the others stay.
    const kept = await runs.create(a, { kind: 'quality', tool: 'eslint', projectId: projectA });
    await withTenant(db.dataSource, a, (m) => m.query('DELETE FROM projects.repositories WHERE id = $1', [repositoryA]));
    const left = await withTenant(db.dataSource, a, (m) => m.query(`SELECT id FROM analytics.analysis_runs ORDER BY id`));
    expect(left).toEqual([{ id: kept.id }]);
  });

  it('the keys are validated and tenant-consistent, and the composed database passes the integrity rules', async () => {
    const keys = await db.query(
      `SELECT conname, convalidated, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = 'analytics.analysis_runs'::regclass AND contype = 'f' AND confrelid <> 'base.organizations'::regclass ORDER BY 1`,
    );
    expect(keys).toEqual([
      {
        conname: 'analysis_runs_organization_id_project_id_fkey',
        convalidated: true,
        def: 'FOREIGN KEY (organization_id, project_id) REFERENCES projects.projects(organization_id, id) ON DELETE CASCADE',
      },
      {
        conname: 'analysis_runs_organization_id_repository_id_fkey',
        convalidated: true,
        def: 'FOREIGN KEY (organization_id, repository_id) REFERENCES projects.repositories(organization_id, id) ON DELETE CASCADE',
      },
    ]);
    expect((await validateIntegrity(db.dataSource)).ok).toBe(true);
  });
});
