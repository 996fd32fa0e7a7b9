import { NotFoundError, OrganizationsService, ValidationError, baseModule } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { TaskDefinitionsService, TaskStatsService, TasksService, WorkQueueService, WorkflowsService, tasksModule } from '../src';
import { TASK_TABLES, TaskTable, asTenant, createOrganization, expectNothingWritten, expectRefused, rowCounts } from './support';

/** One tenant's rows: at least one in every tasks table. */
interface Fixture {
  org: string;
  definition: string;
  definitionName: string;
  workflow: string;
  workflowName: string;
  draftWorkflow: string;
  /** Held by worker `w-<name>`; has an open execution. */
  running: string;
  /** Depends on `running`. */
  waiting: string;
  parent: string;
  child: string;
  execution: string;
}

/** Row-level security as the application role: withTenant() works as strata_app, without BYPASSRLS. */
describe('tenancy of the tasks schema', () => {
  const db = useTestDatabase({ modules: [baseModule, tasksModule] });
  let a: Fixture;
  let b: Fixture;
  let tasks: TasksService;
  let queue: WorkQueueService;
  let workflows: WorkflowsService;
  let definitions: TaskDefinitionsService;

  async function populate(name: string): Promise<Fixture> {
    const org = await createOrganization(db, name);
    const definition = await definitions.create(org, { name: `review-${name}`, kind: 'code_review', maxAttempts: 4 });
    const workflow = await workflows.create(org, {
      name: `flow-${name}`,
      status: 'active',
      definition: {
        steps: [
          { key: 'build', title: 'Build', definition: definition.name, priority: 10 },
          { key: 'test', title: 'Test' },
        ],
        edges: [{ from: 'build', to: 'test' }],
      },
    });
    const draft = await workflows.create(org, { name: `draft-${name}`, definition: { steps: [{ key: 'only', title: 'Only' }] } });
    const run = await tasks.instantiateWorkflow(org, workflow.id);
    const parent = await tasks.enqueue(org, { title: `epic ${name}` });
    const child = await tasks.enqueue(org, { title: `story ${name}`, parentTaskId: parent.id, definitionId: definition.id });
    const [claimed] = await queue.claim(org, { workerId: `w-${name}`, count: 1, leaseSeconds: 600 });
    expect(claimed.id).toBe(run.tasks[0].id);
    const [execution] = await db.query<{ id: string }>('SELECT id FROM tasks.task_executions WHERE task_id = $1', [claimed.id]);
    return {
      org,
      definition: definition.id,
      definitionName: definition.name,
      workflow: workflow.id,
      workflowName: workflow.name,
      draftWorkflow: draft.id,
      running: claimed.id,
      waiting: run.tasks[1].id,
      parent: parent.id,
      child: child.id,
      execution: execution.id,
    };
  }

  beforeAll(async () => {
    tasks = new TasksService(db.dataSource);
    queue = new WorkQueueService(db.dataSource);
    workflows = new WorkflowsService(db.dataSource);
    definitions = new TaskDefinitionsService(db.dataSource);
    a = await populate('a');
    b = await populate('b');
  });

  /** Per table: how a statement names one of the tenant's rows, and a harmless change to it. */
  const TABLES: Record<TaskTable, { where: (f: Fixture) => [string, string[]]; set: string }> = {
    'tasks.task_definitions': { where: (f) => ['id = $1', [f.definition]], set: `description = 'stolen'` },
    'tasks.workflows': { where: (f) => ['id = $1', [f.workflow]], set: `description = 'stolen'` },
    'tasks.tasks': { where: (f) => ['id = $1', [f.running]], set: `title = 'stolen'` },
    'tasks.task_dependencies': {
      where: (f) => ['task_id = $1 AND depends_on_task_id = $2', [f.waiting, f.running]],
      set: 'created_at = now()',
    },
    'tasks.task_executions': { where: (f) => ['id = $1', [f.execution]], set: `error = 'stolen'` },
  };

  /** A row of the table, read as the owner, to see that nothing changed. */
  const snapshot = async (table: TaskTable, f: Fixture) => {
    const [where, params] = TABLES[table].where(f);
    return db.query(`SELECT * FROM ${table} WHERE ${where}`, params);
  };

  it.each(TASK_TABLES)("in %s, org A sees only its own rows and cannot update or delete org B's", async (table) => {
    const visible = await asTenant<{ organization_id: string }[]>(db, a.org, `SELECT organization_id FROM ${table}`);
    const [owned] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE organization_id = $1`, [a.org]);
    expect(visible.length).toBe(owned.n);
    expect(visible.length).toBeGreaterThan(0);
    expect(new Set(visible.map((r) => r.organization_id))).toEqual(new Set([a.org]));

    const [where, params] = TABLES[table].where(b);
    const before = await snapshot(table, b);
    expect(before).toHaveLength(1);
    expect(await asTenant(db, a.org, `SELECT * FROM ${table} WHERE ${where}`, params)).toEqual([]);
    const [, updated] = await asTenant<[unknown, number]>(db, a.org, `UPDATE ${table} SET ${TABLES[table].set} WHERE ${where}`, params);
    expect(updated).toBe(0);
    if (table === 'tasks.task_executions') {
      // Execution history is never deleted by the application, whoever owns it.
      await expect(asTenant(db, a.org, `DELETE FROM ${table} WHERE ${where}`, params)).rejects.toThrow(/permission denied/);
    } else {
      const [, deleted] = await asTenant<[unknown, number]>(db, a.org, `DELETE FROM ${table} WHERE ${where}`, params);
      expect(deleted).toBe(0);
    }
    expect(await snapshot(table, b)).toEqual(before);
    // B itself sees the row.
    expect(await asTenant(db, b.org, `SELECT 1 AS one FROM ${table} WHERE ${where}`, params)).toEqual([{ one: 1 }]);
  });

  it("org A cannot insert rows carrying org B's organization id, nor move its own rows to B", async () => {
    await expectNothingWritten(db, async () => {
      const inserts: [string, unknown[]][] = [
        [`INSERT INTO tasks.task_definitions (organization_id, name, kind) VALUES ($1, 'x', 'x')`, [b.org]],
        [`INSERT INTO tasks.workflows (organization_id, name, definition) VALUES ($1, 'x', '{}')`, [b.org]],
        [`INSERT INTO tasks.tasks (organization_id, title) VALUES ($1, 'x')`, [b.org]],
        [
          `INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id) VALUES ($1, $2, $3)`,
          [b.org, b.child, b.parent],
        ],
        [`INSERT INTO tasks.task_executions (organization_id, task_id, attempt, worker_id) VALUES ($1, $2, 9, 'w')`, [b.org, b.child]],
      ];
      for (const [sql, params] of inserts) await expect(asTenant(db, a.org, sql, params)).rejects.toThrow(/row-level security/);
      await expect(asTenant(db, a.org, 'UPDATE tasks.task_definitions SET organization_id = $1', [b.org])).rejects.toThrow(
        /row-level security/,
      );
      await expect(asTenant(db, a.org, 'UPDATE tasks.workflows SET organization_id = $1', [b.org])).rejects.toThrow(/row-level security/);
      await expect(asTenant(db, a.org, 'UPDATE tasks.task_executions SET organization_id = $1', [b.org])).rejects.toThrow(
        /row-level security/,
      );
      await expect(asTenant(db, a.org, 'UPDATE tasks.task_dependencies SET organization_id = $1', [b.org])).rejects.toThrow(
        /row-level security/,
      );
      // tasks.organization_id is not even updatable by the application role.
      await expect(asTenant(db, a.org, 'UPDATE tasks.tasks SET organization_id = $1', [b.org])).rejects.toThrow(/permission denied/);
    });
  });

  it("the database refuses references to org B's rows (composite foreign keys), on insert and on update", async () => {
    await expectNothingWritten(db, async () => {
      const refused: [string, unknown[], RegExp][] = [
        [
          `INSERT INTO tasks.tasks (organization_id, title, definition_id) VALUES ($1, 'x', $2)`,
          [a.org, b.definition],
          /tasks_definition_id_organization_id_fkey/,
        ],
        [
          `INSERT INTO tasks.tasks (organization_id, title, workflow_id) VALUES ($1, 'x', $2)`,
          [a.org, b.workflow],
          /tasks_workflow_id_organization_id_fkey/,
        ],
        [
          `INSERT INTO tasks.tasks (organization_id, title, parent_task_id) VALUES ($1, 'x', $2)`,
          [a.org, b.parent],
          /tasks_parent_task_id_organization_id_fkey/,
        ],
        [
          `INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id) VALUES ($1, $2, $3)`,
          [a.org, a.parent, b.parent],
          /task_dependencies_depends_on_task_id_organization_id_fkey/,
        ],
        [
          `INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id) VALUES ($1, $2, $3)`,
          [a.org, b.parent, a.parent],
          /task_dependencies_task_id_organization_id_fkey/,
        ],
        [
          `INSERT INTO tasks.task_executions (organization_id, task_id, attempt, worker_id) VALUES ($1, $2, 1, 'w')`,
          [a.org, b.parent],
          /task_executions_task_id_organization_id_fkey/,
        ],
        [`UPDATE tasks.tasks SET definition_id = $2 WHERE id = $1`, [a.child, b.definition], /tasks_definition_id_organization_id_fkey/],
        [`UPDATE tasks.tasks SET workflow_id = $2 WHERE id = $1`, [a.child, b.workflow], /tasks_workflow_id_organization_id_fkey/],
        [`UPDATE tasks.tasks SET parent_task_id = $2 WHERE id = $1`, [a.child, b.parent], /tasks_parent_task_id_organization_id_fkey/],
        [
          `UPDATE tasks.task_dependencies SET depends_on_task_id = $2 WHERE task_id = $1`,
          [a.waiting, b.parent],
          /task_dependencies_depends_on_task_id_organization_id_fkey/,
        ],
        [
          `UPDATE tasks.task_executions SET task_id = $2 WHERE id = $1`,
          [a.execution, b.parent],
          /task_executions_task_id_organization_id_fkey/,
        ],
      ];
      for (const [sql, params, constraint] of refused) await expect(asTenant(db, a.org, sql, params)).rejects.toThrow(constraint);
    });
  });

  it("services called with org A and org B's ids never succeed: NotFoundError or ValidationError naming the reference", async () => {
    const bRows = async () =>
      Promise.all(TASK_TABLES.map((table) => db.query(`SELECT * FROM ${table} WHERE organization_id = $1 ORDER BY 1, 2`, [b.org])));
    const before = await bRows();
    await expectNothingWritten(db, async () => {
      await expectRefused(tasks.get(a.org, b.running), NotFoundError, 'task');
      await expectRefused(tasks.cancel(a.org, b.running), NotFoundError, 'task');
      await expectRefused(tasks.remove(a.org, b.parent), NotFoundError, 'task');
      await expectRefused(tasks.dependencies(a.org, b.waiting), ValidationError, ['taskId']);
      await expectRefused(tasks.addDependency(a.org, a.parent, b.parent), ValidationError, ['dependsOnTaskId']);
      await expectRefused(tasks.addDependency(a.org, b.parent, a.parent), NotFoundError, 'task');
      await expectRefused(tasks.removeDependency(a.org, b.waiting, b.running), NotFoundError, 'task');
      await expectRefused(tasks.enqueue(a.org, { title: 'x', dependsOn: [b.parent] }), ValidationError, ['dependsOn']);
      await expectRefused(tasks.enqueue(a.org, { title: 'x', dependsOn: [a.parent, b.parent] }), ValidationError, ['dependsOn']);
      await expectRefused(tasks.enqueue(a.org, { title: 'x', parentTaskId: b.parent }), ValidationError, ['parentTaskId']);
      await expectRefused(tasks.enqueue(a.org, { title: 'x', definitionId: b.definition }), ValidationError, ['definitionId']);
      // With maxAttempts given the definition is not read first: the composite foreign key refuses it.
      await expectRefused(tasks.enqueue(a.org, { title: 'x', definitionId: b.definition, maxAttempts: 2 }), ValidationError, [
        'definitionId',
      ]);
      await expectRefused(tasks.instantiateWorkflow(a.org, b.workflow), NotFoundError, 'workflow');
      await expectRefused(tasks.instantiateWorkflow(a.org, a.workflow, { parentTaskId: b.parent }), ValidationError, ['parentTaskId']);

      await expectRefused(queue.complete(a.org, b.running, { workerId: 'w-b' }), NotFoundError, 'task');
      await expectRefused(queue.fail(a.org, b.running, { workerId: 'w-b', error: 'x' }), NotFoundError, 'task');
      await expectRefused(queue.heartbeat(a.org, b.running, { workerId: 'w-b', leaseSeconds: 60 }), NotFoundError, 'task');

      await expectRefused(workflows.get(a.org, b.workflow), NotFoundError, 'workflow');
      await expectRefused(workflows.activate(a.org, b.draftWorkflow), NotFoundError, 'workflow');
      await expectRefused(workflows.retire(a.org, b.workflow), NotFoundError, 'workflow');
      await expectRefused(workflows.getActive(a.org, b.workflowName), NotFoundError, 'workflow');
      await expectRefused(
        workflows.create(a.org, { name: 'borrowing', definition: { steps: [{ key: 's', title: 'S', definition: b.definitionName }] } }),
        ValidationError,
        ['definition.steps.0.definition'],
      );

      await expectRefused(definitions.get(a.org, b.definition), NotFoundError, 'task definition');
      await expectRefused(definitions.getByName(a.org, b.definitionName), NotFoundError, 'task definition');
      await expectRefused(definitions.update(a.org, b.definition, { description: 'stolen' }), NotFoundError, 'task definition');
    });
    expect((await workflows.list(a.org)).items).toEqual(expect.not.arrayContaining([expect.objectContaining({ organizationId: b.org })]));
    expect((await definitions.list(a.org)).items.map((d) => d.organizationId)).toEqual([a.org]);
    expect(await bRows()).toEqual(before);
  });

  it("a claim by org A never returns org B's tasks, and A's lease sweep leaves B's expired leases alone", async () => {
    const ready = [];
    for (let i = 0; i < 3; i++) ready.push((await tasks.enqueue(b.org, { title: `b ready ${i}`, priority: 1000 })).id);
    // B's running task has an expired lease: only B's own claims and sweeps may release it.
    await db.query(`UPDATE tasks.tasks SET lease_expires_at = now() - interval '1 minute' WHERE id = $1`, [b.running]);
    try {
      const claimed = await queue.claim(a.org, { workerId: 'greedy', count: 1000, leaseSeconds: 60 });
      expect(claimed.length).toBeGreaterThan(0);
      expect(claimed.every((t) => t.organizationId === a.org)).toBe(true);
      expect(await queue.releaseExpiredLeases(a.org)).toBe(0);
      const bStatus = await db.query<{ id: string; status: string; locked_by: string | null }>(
        'SELECT id, status, locked_by FROM tasks.tasks WHERE id = ANY ($1) ORDER BY id',
        [[...ready, b.running]],
      );
      expect(bStatus).toEqual(
        [...ready.map((id) => ({ id, status: 'ready', locked_by: null })), { id: b.running, status: 'running', locked_by: 'w-b' }].sort(
          (x, y) => x.id.localeCompare(y.id),
        ),
      );
      const stats = await new TaskStatsService(db.dataSource).stats(a.org, {
        from: new Date(Date.now() - 3_600_000),
        to: new Date(Date.now() + 3_600_000),
      });
      expect(stats.byWorker.map((w) => w.workerId).sort()).toEqual(['greedy', 'w-a']);
      for (const t of claimed) await queue.complete(a.org, t.id, { workerId: 'greedy' });
    } finally {
      await db.query(`UPDATE tasks.tasks SET lease_expires_at = now() + interval '10 minutes' WHERE id = $1`, [b.running]);
    }
  });

  it('erasing an organization removes its rows in every tasks table and its audit rows, and only its rows', async () => {
    const doomed = await populate('doomed');
    // Some history in the DEFAULT partition too.
    await db.query(
      `INSERT INTO tasks.task_executions (organization_id, task_id, attempt, worker_id, status, started_at, finished_at)
       VALUES ($1, $2, 1, 'old', 'failed', now() + interval '5 years', now() + interval '5 years')`,
      [doomed.org, doomed.parent],
    );
    const count = async (table: string, op: '=' | '<>') =>
      Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE organization_id ${op} $1`, [doomed.org]))[0].n);
    const tables = [...TASK_TABLES, 'base.audit_log'];
    const others: Record<string, number> = {};
    for (const table of tables) {
      expect(await count(table, '=')).toBeGreaterThan(0);
      others[table] = await count(table, '<>');
    }
    const auditedTasksTables = await db.query<{ table_name: string }>(
      `SELECT DISTINCT table_name FROM base.audit_log WHERE organization_id = $1 AND table_name LIKE 'tasks.%' ORDER BY 1`,
      [doomed.org],
    );
    expect(auditedTasksTables.map((r) => r.table_name)).toEqual(['tasks.task_definitions', 'tasks.workflows']);
    const totalsBefore = await rowCounts(db);

    await new OrganizationsService(db.dataSource).erase(doomed.org);

    for (const table of tables) {
      expect({ table, n: await count(table, '=') }).toEqual({ table, n: 0 });
      expect({ table, n: await count(table, '<>') }).toEqual({ table, n: others[table] });
    }
    const totalsAfter = await rowCounts(db);
    for (const table of tables) expect(totalsAfter[table]).toBe(others[table]);
    expect(Object.keys(totalsAfter)).toEqual(Object.keys(totalsBefore));
  });
});
