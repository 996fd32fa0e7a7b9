import { MigrationRunner, NotMigratedError, TenantError, ValidationError, baseModule, createDataSource, withTenant } from '@strata/base';
import { EntityManager } from 'typeorm';
import { useTestDatabase } from '@strata/testing';
import { MAX_INT32, TaskDefinitionsService, TasksService, WorkQueueService, WorkflowsService, tasksModule } from '../src';
import { createOrganization, expectNothingWritten, expectRefused, rowCounts } from './support';

describe('tasks services in a caller transaction, paging and errors', () => {
  const db = useTestDatabase({ modules: [baseModule, tasksModule] });
  let tasks: TasksService;
  let queue: WorkQueueService;
  let org: string;
  let other: string;

  beforeAll(async () => {
    tasks = new TasksService(db.dataSource);
    queue = new WorkQueueService(db.dataSource);
    org = await createOrganization(db, 'composition');
    other = await createOrganization(db, 'composition-other');
  });

  const statusesOf = async (organizationId: string) =>
    db.query(
      'SELECT t.title, t.status, count(x.*)::int AS executions FROM tasks.tasks t LEFT JOIN tasks.task_executions x ON x.task_id = t.id WHERE t.organization_id = $1 GROUP BY 1, 2 ORDER BY 1',
      [organizationId],
    );

  it('the work queue runs inside the caller transaction: enqueue, claim and complete roll back together, or commit together', async () => {
    const failure = new Error('the caller gives up');
    const before = await rowCounts(db);
    await expect(
      withTenant(db.dataSource, org, async (tx) => {
        const task = await tasks.with(tx).enqueue(org, { title: 'in one transaction' });
        // The queue's SQL functions see the uncommitted task: they run in the same transaction.
        const [claimed] = await queue.with(tx).claim(org, { workerId: 'w', count: 1, leaseSeconds: 60 });
        expect(claimed.id).toBe(task.id);
        expect((await queue.with(tx).complete(org, task.id, { workerId: 'w', inputTokens: 5 })).status).toBe('succeeded');
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await rowCounts(db)).toEqual(before);

    const userId = '00000000-0000-4000-8000-0000000000aa';
    const context = (tx: EntityManager) =>
      tx.query(`SELECT current_setting('strata.user_id') AS user_id, current_setting('strata.actor') AS actor`);
    await withTenant(
      db.dataSource,
      org,
      async (tx) => {
        const task = await tasks.with(tx).enqueue(org, { title: 'committed' });
        await queue.with(tx).claim(org, { workerId: 'w', count: 1, leaseSeconds: 60 });
        await queue.with(tx).complete(org, task.id, { workerId: 'w' });
        // The queue's functions act as the worker, then hand the transaction back as the caller entered it.
        expect(await context(tx)).toEqual([{ user_id: userId, actor: 'reviewer' }]);
      },
      { userId, actor: 'reviewer' },
    );
    expect(await statusesOf(org)).toEqual([{ title: 'committed', status: 'succeeded', executions: 1 }]);
  });

  it('a bound service refuses another organization: a TenantError before any of its SQL runs', async () => {
    await expectNothingWritten(db, async () => {
      await expectRefused(
        withTenant(db.dataSource, org, async (tx) => {
          await tasks.with(tx).enqueue(org, { title: 'never committed' });
          await queue.with(tx).claim(other, { workerId: 'w', count: 1, leaseSeconds: 60 });
        }),
        TenantError,
      );
      await expectRefused(
        withTenant(db.dataSource, org, (tx) => tasks.with(tx).enqueue(other, { title: 'never written' })),
        TenantError,
      );
    });
  });

  it('usage numbers have a maximum that fits their columns; a number out of range that still reaches the database is a ValidationError', async () => {
    const task = await tasks.enqueue(org, { title: 'usage' });
    await queue.claim(org, { workerId: 'w', count: 1, leaseSeconds: 60 });
    await expectNothingWritten(db, async () => {
      for (const [field, value] of [
        ['inputTokens', MAX_INT32 + 1],
        ['outputTokens', MAX_INT32 + 1],
        ['cpuMs', Number.MAX_SAFE_INTEGER + 2],
        ['peakMemoryBytes', 1e300],
      ] as const) {
        await expectRefused(queue.complete(org, task.id, { workerId: 'w', [field]: value }), ValidationError, [field]);
        await expectRefused(queue.fail(org, task.id, { workerId: 'w', error: 'e', [field]: value }), ValidationError, [field]);
      }
    });
    // A column narrower than the service expects (a schema out of step with the code): the database refuses the value.
    await db.query('ALTER TABLE tasks.task_executions ALTER COLUMN input_tokens TYPE smallint');
    try {
      const error = await expectRefused(queue.complete(org, task.id, { workerId: 'w', inputTokens: 40_000 }), ValidationError, [
        'cpuMs,peakMemoryBytes,inputTokens,outputTokens',
      ]);
      expect(error.message).toMatch(/smallint out of range/);
    } finally {
      await db.query('ALTER TABLE tasks.task_executions ALTER COLUMN input_tokens TYPE integer');
    }
    expect((await queue.complete(org, task.id, { workerId: 'w', inputTokens: MAX_INT32 })).status).toBe('succeeded');
    expect(await db.query('SELECT input_tokens FROM tasks.task_executions WHERE task_id = $1', [task.id])).toEqual([
      { input_tokens: MAX_INT32 },
    ]);
  });

  it('tasks.list pages through ties on created_at and rows inserted between pages: every task once, in order', async () => {
    const lister = await createOrganization(db, 'pager');
    await tasks.enqueue(lister, { title: 'alone' });
    // Tasks enqueued in one transaction share created_at (now() is the transaction's start): only the id orders them.
    await withTenant(db.dataSource, lister, async (tx) => {
      for (let i = 0; i < 7; i++) await tasks.with(tx).enqueue(lister, { title: `tied ${i}` });
    });
    const ordered = async () =>
      (await db.query<{ id: string }>('SELECT id FROM tasks.tasks WHERE organization_id = $1 ORDER BY created_at, id', [lister])).map(
        (r) => r.id,
      );
    const before = await ordered();
    expect(
      await db.query(`SELECT count(DISTINCT created_at)::int AS n FROM tasks.tasks WHERE organization_id = $1 AND title LIKE 'tied %'`, [
        lister,
      ]),
    ).toEqual([{ n: 1 }]);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; ; page++) {
      const result = await tasks.list(lister, { limit: 3, cursor });
      seen.push(...result.items.map((t) => t.id));
      if (!result.nextCursor) break;
      cursor = result.nextCursor;
      if (page === 0) await tasks.enqueue(lister, { title: 'inserted between pages' });
    }
    const after = await ordered();
    expect(after).toEqual([...before, after[after.length - 1]]);
    expect(seen).toEqual(after);
    await expectRefused(tasks.list(lister, { limit: 1001 }), ValidationError, ['limit']);
  });

  it('workflows.list pages by name, newest version first', async () => {
    const lister = await createOrganization(db, 'workflow-pager');
    const workflows = new WorkflowsService(db.dataSource);
    for (const name of ['b', 'a', 'b', 'c', 'a', 'b']) {
      await workflows.create(lister, { name, definition: { steps: [{ key: 's', title: 'S' }] } });
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await workflows.list(lister, { limit: 2, cursor });
      seen.push(...page.items.map((w) => `${w.name}${w.version}`));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(['a2', 'a1', 'b3', 'b2', 'b1', 'c1']);
    const definitions = new TaskDefinitionsService(db.dataSource);
    await definitions.create(lister, { name: 'one', kind: 'k' });
    await definitions.create(lister, { name: 'two', kind: 'k' });
    const first = await definitions.list(lister, { limit: 1 });
    expect(first.items.map((d) => d.name)).toEqual(['one']);
    expect((await definitions.list(lister, { limit: 1, cursor: first.nextCursor! })).items.map((d) => d.name)).toEqual(['two']);
    // A cursor of one list is refused by another.
    await expectRefused(workflows.list(lister, { cursor: first.nextCursor! }), ValidationError, ['cursor']);
  });
});

describe('tasks services where the tasks module is not migrated', () => {
  const db = useTestDatabase({ modules: [baseModule] });
  /** A DataSource that maps the tasks entities, as an application importing @strata/tasks has. */
  const connect = async () => createDataSource({ url: db.url, poolSize: 1, modules: [baseModule, tasksModule] }).initialize();

  it('is a NotMigratedError naming tasks and the command to run, from every kind of call; migrating mends it, reverting brings it back', async () => {
    const org = await createOrganization(db, 'unmigrated');
    const application = await connect();
    try {
      const tasks = new TasksService(application);
      const queue = new WorkQueueService(application);
      const error = (await expectRefused(tasks.enqueue(org, { title: 'x' }), NotMigratedError)) as NotMigratedError;
      expect(error.module).toBe('tasks');
      expect(error.message).toContain('`nx run @strata/tasks:migrate`');
      await expectRefused(queue.claim(org, { workerId: 'w', count: 1, leaseSeconds: 60 }), NotMigratedError);
      await expectRefused(
        withTenant(application, org, (tx) => queue.with(tx).claim(org, { workerId: 'w', count: 1, leaseSeconds: 60 })),
        NotMigratedError,
      );

      // Migrated now: the same service works (a failed check is not remembered).
      const runner = new MigrationRunner({ url: db.url });
      await runner.up([baseModule, tasksModule]);
      expect((await tasks.enqueue(org, { title: 'after migrate' })).title).toBe('after migrate');
      // Reverted to nothing, the history table stays behind; the module is not migrated all the same.
      await runner.down(tasksModule, { to: '0' });
      expect(await db.query(`SELECT to_regclass('tasks.migrations') IS NOT NULL AS kept`)).toEqual([{ kept: true }]);
    } finally {
      await application.destroy();
    }
    const restarted = await connect();
    try {
      await expectRefused(new TasksService(restarted).enqueue(org, { title: 'x' }), NotMigratedError);
    } finally {
      await restarted.destroy();
    }
  });
});
