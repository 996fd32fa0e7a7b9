import { OrganizationsService, withTenant } from '@strata/base';
import { ProjectsService, TeamsService } from '@strata/projects';
import { TasksService, WorkQueueService } from '@strata/tasks';
import { useTestDatabase } from '@strata/testing';
import { installedModules } from '../src/modules';

/**
 * Work in two modules as one atomic step: the services of projects and tasks,
 * bound to one caller transaction with `.with(tx)`, commit together or roll back
 * together. The task refers to the project created in the same transaction
 * (the composer's cross-module foreign key sees it: same transaction).
 */
describe('one transaction across modules', () => {
  const db = useTestDatabase({ modules: installedModules });
  let org: string;
  const projects = () => new ProjectsService(db.dataSource);
  const teams = () => new TeamsService(db.dataSource);
  const tasks = () => new TasksService(db.dataSource);
  const queue = () => new WorkQueueService(db.dataSource);

  beforeAll(async () => {
    org = (await new OrganizationsService(db.dataSource).create({ name: 'Composed', slug: 'composed' })).id;
  });

  const stored = async () => ({
    projects: (await db.query<{ slug: string }>('SELECT slug FROM projects.projects WHERE organization_id = $1 ORDER BY slug', [org])).map(
      (r) => r.slug,
    ),
    teams: (await db.query<{ slug: string }>('SELECT slug FROM projects.teams WHERE organization_id = $1 ORDER BY slug', [org])).map(
      (r) => r.slug,
    ),
    tasks: await db.query(
      'SELECT t.title, p.slug AS project, t.status FROM tasks.tasks t JOIN projects.projects p ON p.id = t.project_id WHERE t.organization_id = $1 ORDER BY t.title',
      [org],
    ),
  });

  it('an error rolls back the work of both modules together', async () => {
    const failure = new Error('the third step fails');
    await expect(
      withTenant(db.dataSource, org, async (tx) => {
        const project = await projects().with(tx).create(org, { name: 'Doomed', slug: 'doomed' });
        await teams().with(tx).create(org, { name: 'Doomed team', slug: 'doomed-team' });
        const task = await tasks().with(tx).enqueue(org, { title: 'index the repository', projectId: project.id });
        await queue().with(tx).claim(org, { workerId: 'indexer', count: 1, leaseSeconds: 60 });
        // Everything is visible inside the transaction, across both modules.
        expect((await tasks().with(tx).get(org, task.id)).status).toBe('running');
        expect((await projects().with(tx).list(org)).items.map((s) => s.project.slug)).toEqual(['doomed']);
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await stored()).toEqual({ projects: [], teams: [], tasks: [] });
  });

  it('success commits the work of both modules together', async () => {
    await withTenant(db.dataSource, org, async (tx) => {
      const project = await projects().with(tx).create(org, { name: 'Kept', slug: 'kept' });
      await teams().with(tx).create(org, { name: 'Kept team', slug: 'kept-team' });
      await tasks().with(tx).enqueue(org, { title: 'index the repository', projectId: project.id });
      await queue().with(tx).claim(org, { workerId: 'indexer', count: 1, leaseSeconds: 60 });
    });
    expect(await stored()).toEqual({
      projects: ['kept'],
      teams: ['kept-team'],
      tasks: [{ title: 'index the repository', project: 'kept', status: 'running' }],
    });
    // Standalone, the same services work as before: each call is a transaction of its own.
    expect((await projects().list(org)).items.map((s) => s.project.slug)).toEqual(['kept']);
  });
});
