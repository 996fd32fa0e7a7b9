import { DataSource } from 'typeorm';
import { OrganizationsService, ValidationError, baseModule, createDataSource, withTenant } from '@strata/base';
import { useTestDatabase, waitFor } from '@strata/testing';
import { Task, TasksService, WorkQueueService, WorkflowsService, tasksModule } from '../src';

const TASKS = 2000;
const WORKERS = 8;

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('concurrency', () => {
  const db = useTestDatabase({ modules: [baseModule, tasksModule] });
  let org: string;
  // Every worker has a connection of its own.
  const connections: DataSource[] = [];

  beforeAll(async () => {
    org = (await new OrganizationsService(db.dataSource).create({ name: 'Busy', slug: 'busy' })).id;
    for (let i = 0; i < WORKERS; i++) {
      const connection = createDataSource({ url: db.url, poolSize: 1, modules: [baseModule, tasksModule] });
      connections.push(await connection.initialize());
    }
  });
  afterAll(async () => {
    for (const connection of connections) await connection.destroy();
  });

  it(`${WORKERS} workers drain ${TASKS} tasks with dependencies: each runs exactly once, never before its dependencies succeed`, async () => {
    // One workflow of 2,000 steps; each step depends on up to three earlier ones.
    const next = random(42);
    const steps = Array.from({ length: TASKS }, (_, i) => ({ key: `s${i}`, title: `step ${i}`, priority: Math.floor(next() * 5) }));
    const edges: { from: string; to: string }[] = [];
    for (let i = 1; i < TASKS; i++) {
      const parents = new Set(Array.from({ length: Math.floor(next() * 4) }, () => Math.floor(next() * i)));
      for (const p of parents) edges.push({ from: `s${p}`, to: `s${i}` });
    }
    const workflow = await new WorkflowsService(db.dataSource).create(org, { name: 'big', definition: { steps, edges }, status: 'active' });
    const run = await new TasksService(db.dataSource).instantiateWorkflow(org, workflow.id);
    const idOf = new Map(run.tasks.map((t) => [t.workflowStep!, t.id]));
    const dependencies = new Map<string, string[]>(run.tasks.map((t) => [t.id, []]));
    for (const e of edges) dependencies.get(idOf.get(e.to)!)!.push(idOf.get(e.from)!);

    const claims: { task: Task; worker: string }[] = [];
    // A task is reported done (complete() called) before its dependents may be
    // claimed; the exact order is checked in the database below.
    const reported = new Set<string>();
    const completed = new Set<string>();
    const early: string[] = [];
    // A worker that finds nothing ready waits for the next completion by any worker (only a
    // completion can make a task ready), never for a while: a slow machine only takes longer.
    let completions = 0;
    let wake = (): void => undefined;
    let completion = new Promise<void>((resolve) => (wake = resolve));
    const completedOne = (): void => {
      completions++;
      const wakeWaiting = wake;
      completion = new Promise<void>((resolve) => (wake = resolve));
      wakeWaiting();
    };
    const worker = async (index: number): Promise<void> => {
      const name = `worker-${index}`;
      const queue = new WorkQueueService(connections[index]);
      while (completed.size < TASKS) {
        const seen = completions; // taken before the claim, so a completion during it is not missed
        const batch = await queue.claim(org, { workerId: name, count: 1 + (index % 3), leaseSeconds: 300 });
        if (batch.length === 0) {
          while (completions === seen && completed.size < TASKS) await completion;
          continue;
        }
        for (const task of batch) {
          claims.push({ task, worker: name });
          for (const d of dependencies.get(task.id)!) if (!reported.has(d)) early.push(`${task.workflowStep} before ${d}`);
          reported.add(task.id);
          await queue.complete(org, task.id, { workerId: name, output: { by: name } });
          completed.add(task.id);
          completedOne();
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));

    expect(early).toEqual([]);
    expect(claims).toHaveLength(TASKS);
    expect(new Set(claims.map((c) => c.task.id)).size).toBe(TASKS);
    expect(new Set(claims.map((c) => c.worker)).size).toBeGreaterThan(1);
    const [summary] = await db.query<{ succeeded: number; attempts: number; executions: number; running: number }>(
      `SELECT count(*) FILTER (WHERE t.status = 'succeeded')::int AS succeeded, max(t.attempts)::int AS attempts,
              (SELECT count(*)::int FROM tasks.task_executions x WHERE x.organization_id = $1) AS executions,
              (SELECT count(*)::int FROM tasks.task_executions x WHERE x.organization_id = $1 AND x.status <> 'succeeded') AS running
         FROM tasks.tasks t WHERE t.organization_id = $1`,
      [org],
    );
    expect(summary).toEqual({ succeeded: TASKS, attempts: 1, executions: TASKS, running: 0 });
    // The database's clock agrees: no task was claimed before each of its
    // dependencies had finished (a claim and a completion are each one
    // transaction, and now() is the start of the transaction). The embedded
    // database's clock ticks in milliseconds, so a claim right after the
    // completion can carry the same time.
    const violations = await db.query(
      `SELECT d.task_id FROM tasks.task_dependencies d
         JOIN tasks.task_executions xt ON xt.task_id = d.task_id
         JOIN tasks.task_executions xd ON xd.task_id = d.depends_on_task_id
        WHERE d.organization_id = $1 AND NOT xt.started_at >= xd.finished_at`,
      [org],
    );
    expect(violations).toEqual([]);
  });

  it('two sessions racing to close a cycle: one succeeds, one is refused (the database decides)', async () => {
    const tasks = new TasksService(db.dataSource);
    for (let round = 0; round < 10; round++) {
      const a = await tasks.enqueue(org, { title: `a${round}` });
      const b = await tasks.enqueue(org, { title: `b${round}` });
      const results = await Promise.allSettled([
        new TasksService(connections[0]).addDependency(org, a.id, b.id),
        new TasksService(connections[1]).addDependency(org, b.id, a.id),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
      const refusal = (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
      expect(refusal).toBeInstanceOf(ValidationError);
      expect(refusal.fields).toEqual(['dependsOnTaskId']);
      expect(refusal.message).toMatch(/cycle/);
      expect(await db.query('SELECT count(*)::int AS n FROM tasks.task_dependencies WHERE task_id = ANY ($1)', [[a.id, b.id]])).toEqual([
        { n: 1 },
      ]);
    }
  });

  it('both halves of a cycle written in open transactions at once: the second waits for the first, then is refused', async () => {
    const tasks = new TasksService(db.dataSource);
    const a = await tasks.enqueue(org, { title: 'x' });
    const b = await tasks.enqueue(org, { title: 'y' });
    const insert = (from: string, to: string) =>
      `INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id) VALUES ('${org}', '${from}', '${to}')`;
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>((resolve) => (releaseFirst = resolve));
    const first = withTenant(connections[2], org, async (m) => {
      await m.query(insert(a.id, b.id));
      await firstMayCommit;
    });
    // The embedded database runs one transaction at a time: there the second simply
    // starts after the first commits. A server runs both at once.
    const concurrent = db.kind !== 'embedded';
    // Wait until the first edge is written (its transaction still open).
    // pg_locks and pg_stat_activity show the whole cluster, where other test files work at the same time: only this database counts.
    if (concurrent)
      await waitFor(
        async () =>
          (
            await db.query(
              `SELECT 1 FROM pg_locks WHERE locktype = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
              ['advisory'],
            )
          ).length > 0,
      );
    const second = withTenant(connections[3], org, (m) => m.query(insert(b.id, a.id)));
    const parked = () =>
      db.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO tasks.task_dependencies%'`,
      );
    if (concurrent) {
      // The server runs both at once: the second session is parked on the first one's lock.
      await waitFor(async () => (await parked()).length > 0);
      expect(await parked()).toHaveLength(1);
    }
    releaseFirst();
    await first;
    await expect(second).rejects.toThrow(/would close a cycle/);
    expect(await db.query('SELECT task_id FROM tasks.task_dependencies WHERE task_id = ANY ($1)', [[a.id, b.id]])).toEqual([
      { task_id: a.id },
    ]);
  });
});
