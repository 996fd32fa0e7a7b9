import { OrganizationsService, ValidationError, validateIntegrity, withTenant } from '@strata/base';
import { ProjectsService } from '@strata/projects';
import { PromptLedgerService, PromptTemplatesService, PromptVersionsService } from '@strata/prompts';
import { TasksService } from '@strata/tasks';
import { expectRefused, useTestDatabase } from '@strata/testing';
import { installedModules } from '../src/modules';

const UNKNOWN = '00000000-0000-4000-8000-000000000000';

/** Prompt templates belong to projects and executions to tasks, tenant-consistently; deleting either detaches them. */
describe('prompts ↔ projects and tasks', () => {
  const db = useTestDatabase({ modules: installedModules });
  let a: string;
  let b: string;
  let projectA: string;
  let projectB: string;
  let templates: PromptTemplatesService;
  let ledger: PromptLedgerService;
  let tasks: TasksService;

  beforeAll(async () => {
    const orgs = new OrganizationsService(db.dataSource);
    a = (await orgs.create({ name: 'A', slug: 'prompts-a' })).id;
    b = (await orgs.create({ name: 'B', slug: 'prompts-b' })).id;
    const projects = new ProjectsService(db.dataSource);
    projectA = (await projects.create(a, { name: 'Agents', slug: 'agents' })).id;
    projectB = (await projects.create(b, { name: 'Agents', slug: 'agents' })).id;
    templates = new PromptTemplatesService(db.dataSource);
    ledger = new PromptLedgerService(db.dataSource);
    tasks = new TasksService(db.dataSource);
  });

  const counts = () =>
    db.query(
      'SELECT (SELECT count(*) FROM prompts.prompt_templates)::int AS templates, (SELECT count(*) FROM prompts.prompt_executions)::int AS executions',
    );

  it('the references are validated and pass the integrity rules', async () => {
    const keys = await db.query(
      `SELECT conname, convalidated FROM pg_constraint WHERE conname IN ('prompt_templates_organization_id_project_id_fkey', 'prompt_executions_organization_id_task_id_fkey') AND conparentid = 0 ORDER BY 1`,
    );
    expect(keys).toEqual([
      { conname: 'prompt_executions_organization_id_task_id_fkey', convalidated: true },
      { conname: 'prompt_templates_organization_id_project_id_fkey', convalidated: true },
    ]);
    expect((await validateIntegrity(db)).ok).toBe(true);
  });

  it("another organization's project or task, or none at all, is refused naming the field; nothing is written", async () => {
    const template = await templates.create(a, { name: 'scoped', projectId: projectA });
    await new PromptVersionsService(db.dataSource).create(a, template.id, { content: 'hi' });
    const taskB = (await tasks.enqueue(b, { title: 'theirs' })).id;
    const before = await counts();
    for (const projectId of [projectB, UNKNOWN])
      await expectRefused(templates.create(a, { name: 'sneaky', projectId }), ValidationError, ['projectId']);
    for (const taskId of [taskB, UNKNOWN]) {
      await expectRefused(
        ledger.recordExecution(a, { templateId: template.id, version: 1, status: 'succeeded', taskId }),
        ValidationError,
        ['taskId'],
      );
    }
    expect(await counts()).toEqual(before);
  });

  it('a worker records its task completion and the prompt execution in one transaction; deleting the project or the task detaches them', async () => {
    const template = await templates.create(a, { name: 'worker', projectId: projectA });
    await new PromptVersionsService(db.dataSource).create(a, template.id, { content: 'work' });
    const task = await tasks.enqueue(a, { title: 'summarize', projectId: projectA });
    const execution = await withTenant(db.dataSource, a, (tx) =>
      ledger.with(tx).recordExecution(a, { templateId: template.id, version: 1, status: 'succeeded', taskId: task.id }),
    );
    expect(execution.taskId).toBe(task.id);

    await db.query('DELETE FROM tasks.tasks WHERE id = $1', [task.id]);
    expect(await db.query('SELECT task_id FROM prompts.prompt_executions WHERE id = $1', [execution.id])).toEqual([{ task_id: null }]);
    await new ProjectsService(db.dataSource).archive(a, projectA);
    await db.query('DELETE FROM projects.projects WHERE id = $1', [projectA]);
    expect((await templates.get(a, template.id)).projectId).toBeNull();
  });
});
