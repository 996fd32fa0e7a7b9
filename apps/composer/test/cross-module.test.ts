import { OrganizationsService, ValidationError, validateIntegrity, withTenant } from '@strata/base';
import { ProjectsService } from '@strata/projects';
import { TasksService, WorkflowsService } from '@strata/tasks';
import { useTestDatabase } from '@strata/testing';
import { installedModules } from '../src/modules';

/** What only the composed platform has: tasks and workflows that belong to projects, tenant-consistently. */
describe('cross-module relations', () => {
  const db = useTestDatabase({ modules: installedModules });
  let a: string;
  let b: string;
  let projectA: string;
  let projectB: string;
  let tasks: TasksService;
  let workflows: WorkflowsService;

  beforeAll(async () => {
    const orgs = new OrganizationsService(db.dataSource);
    a = (await orgs.create({ name: 'A', slug: 'a' })).id;
    b = (await orgs.create({ name: 'B', slug: 'b' })).id;
    const projects = new ProjectsService(db.dataSource);
    projectA = (await projects.create(a, { name: 'Platform', slug: 'platform' })).id;
    projectB = (await projects.create(b, { name: 'Platform', slug: 'platform' })).id;
    tasks = new TasksService(db.dataSource);
    workflows = new WorkflowsService(db.dataSource);
  });

  const counts = async () =>
    db.query('SELECT (SELECT count(*) FROM tasks.tasks)::int AS tasks, (SELECT count(*) FROM tasks.workflows)::int AS workflows');

  it('a task and a workflow may belong to a project of their organization', async () => {
    const task = await tasks.enqueue(a, { title: 'ship', projectId: projectA });
    expect(task.projectId).toBe(projectA);
    const workflow = await workflows.create(a, {
      name: 'release',
      projectId: projectA,
      definition: { steps: [{ key: 'build', title: 'Build' }] },
      status: 'active',
    });
    const run = await tasks.instantiateWorkflow(a, workflow.id);
    expect(run.tasks.map((t) => t.projectId)).toEqual([projectA]);
  });

  it("another organization's project, or no project at all, is refused by the database, naming projectId; nothing is written", async () => {
    const before = await counts();
    for (const projectId of [projectB, '00000000-0000-4000-8000-000000000000']) {
      const taskError = await tasks.enqueue(a, { title: 'sneaky', projectId }).catch((e: unknown) => e);
      expect(taskError).toBeInstanceOf(ValidationError);
      expect((taskError as ValidationError).fields).toEqual(['projectId']);
      const workflowError = await workflows
        .create(a, { name: 'sneaky', projectId, definition: { steps: [{ key: 's', title: 'S' }] } })
        .catch((e: unknown) => e);
      expect(workflowError).toBeInstanceOf(ValidationError);
      expect((workflowError as ValidationError).fields).toEqual(['projectId']);
    }
    expect(await counts()).toEqual(before);
  });

  it('deleting a project detaches its tasks and workflows; they stay in their organization', async () => {
    const projects = new ProjectsService(db.dataSource);
    const doomed = (await projects.create(a, { name: 'Spike', slug: 'spike' })).id;
    const task = await tasks.enqueue(a, { title: 'try', projectId: doomed });
    const workflow = await workflows.create(a, { name: 'spike', projectId: doomed, definition: { steps: [{ key: 's', title: 'S' }] } });
    const kept = await tasks.enqueue(a, { title: 'stays', projectId: projectA });
    // As the application role: the composer's trigger clears the references (Citus refuses ON DELETE SET NULL (project_id)).
    await withTenant(db.dataSource, a, (m) => m.query('DELETE FROM projects.projects WHERE id = $1', [doomed]));
    expect(await tasks.get(a, task.id)).toMatchObject({ projectId: null, organizationId: a });
    expect(await workflows.get(a, workflow.id)).toMatchObject({ projectId: null, organizationId: a });
    expect(await tasks.get(a, kept.id)).toMatchObject({ projectId: projectA });
    // Plain references, which a distributed PostgreSQL accepts: no column list to clear on delete.
    expect(
      await db.query(
        `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'tasks'::regnamespace AND conname LIKE '%organization_id_project_id_fkey' ORDER BY 1`,
      ),
    ).toEqual([
      {
        conname: 'tasks_organization_id_project_id_fkey',
        def: 'FOREIGN KEY (organization_id, project_id) REFERENCES projects.projects(organization_id, id)',
      },
      {
        conname: 'workflows_organization_id_project_id_fkey',
        def: 'FOREIGN KEY (organization_id, project_id) REFERENCES projects.projects(organization_id, id)',
      },
    ]);
  });

  it('the composed database passes the integrity rules, and erasing an organization removes its rows in every module', async () => {
    expect((await validateIntegrity(db.dataSource)).ok).toBe(true);
    const rows = async (org: string) =>
      (
        await db.query<{ n: number }>(
          `SELECT ((SELECT count(*) FROM projects.projects WHERE organization_id = $1) + (SELECT count(*) FROM tasks.tasks WHERE organization_id = $1)
               + (SELECT count(*) FROM tasks.workflows WHERE organization_id = $1))::int AS n`,
          [org],
        )
      )[0].n;
    expect(await rows(a)).toBeGreaterThan(0);
    const others = await rows(b);
    await new OrganizationsService(db.dataSource).erase(a);
    expect(await rows(a)).toBe(0);
    expect(await rows(b)).toBe(others);
  });
});
