import { NotFoundError, OrganizationsService, StateError, baseModule } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { TaskDefinitionsService, TaskStatsService, TasksService, WorkQueueService, tasksModule } from '../src';

describe('work queue', () => {
  const db = useTestDatabase({ modules: [baseModule, tasksModule] });
  let org: string;
  let tasks: TasksService;
  let queue: WorkQueueService;
  let definitions: TaskDefinitionsService;

  beforeAll(async () => {
    org = (await new OrganizationsService(db.dataSource).create({ name: 'Queue', slug: 'queue' })).id;
    tasks = new TasksService(db.dataSource);
    queue = new WorkQueueService(db.dataSource);
    definitions = new TaskDefinitionsService(db.dataSource);
  });

  // Each test works on its own tasks: leave nothing claimable behind.
  afterEach(async () => {
    await db.query(`UPDATE tasks.tasks SET status = 'cancelled', finished_at = now(), locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
                     WHERE status NOT IN ('succeeded', 'failed', 'cancelled')`);
  });

  /**
   * `seconds` pass for a task, as the queue sees time: the deadlines it compares with now(), its
   * lease expiry and run_after, move that far into the past (as the owner). No test waits for a clock.
   */
  const timePasses = (taskId: string, seconds: number) =>
    db.query(
      `UPDATE tasks.tasks SET lease_expires_at = lease_expires_at - make_interval(secs => $2), run_after = run_after - make_interval(secs => $2)
        WHERE id = $1`,
      [taskId, seconds],
    );

  const execution = async (taskId: string, attempt: number) =>
    (
      await db.query<{ status: string; worker_id: string; error: string | null; duration_ms: number | null; input_tokens: number | null }>(
        'SELECT status, worker_id, error, duration_ms, input_tokens FROM tasks.task_executions WHERE task_id = $1 AND attempt = $2',
        [taskId, attempt],
      )
    )[0];

  it('claims the best ready tasks first: priority, then age; never a task whose run_after has not come', async () => {
    const low = await tasks.enqueue(org, { title: 'low', priority: 1 });
    const high = await tasks.enqueue(org, { title: 'high', priority: 9 });
    const later = await tasks.enqueue(org, { title: 'later', priority: 100, runAfter: new Date(Date.now() + 3_600_000) });
    const low2 = await tasks.enqueue(org, { title: 'low, younger', priority: 1 });
    const claimed = await queue.claim(org, { workerId: 'w1', count: 10, leaseSeconds: 60 });
    expect(claimed.map((t) => t.id)).toEqual([high.id, low.id, low2.id]);
    expect(claimed.every((t) => t.status === 'running' && t.lockedBy === 'w1' && t.attempts === 1)).toBe(true);
    expect(claimed[0].leaseExpiresAt!.getTime() - claimed[0].lockedAt!.getTime()).toBe(60_000);
    expect((await tasks.get(org, later.id)).status).toBe('ready');
    expect(await execution(high.id, 1)).toMatchObject({ status: 'running', worker_id: 'w1' });
    expect(await queue.claim(org, { workerId: 'w2', count: 10, leaseSeconds: 60 })).toEqual([]);
  });

  it('runs a task only after its dependencies succeeded', async () => {
    const build = await tasks.enqueue(org, { title: 'build' });
    const test = await tasks.enqueue(org, { title: 'test', dependsOn: [build.id] });
    const deploy = await tasks.enqueue(org, { title: 'deploy', dependsOn: [build.id, test.id] });
    expect([test.status, deploy.status]).toEqual(['pending', 'pending']);
    expect((await queue.claim(org, { workerId: 'w', count: 5, leaseSeconds: 60 })).map((t) => t.title)).toEqual(['build']);
    const done = await queue.complete(org, build.id, { workerId: 'w', output: { artifact: 'a.tgz' }, inputTokens: 12 });
    expect(done).toMatchObject({ status: 'succeeded', output: { artifact: 'a.tgz' }, lockedBy: null });
    expect(await execution(build.id, 1)).toMatchObject({ status: 'succeeded', input_tokens: 12 });
    expect((await tasks.get(org, deploy.id)).status).toBe('pending');
    expect((await queue.claim(org, { workerId: 'w', count: 5, leaseSeconds: 60 })).map((t) => t.title)).toEqual(['test']);
    await queue.complete(org, test.id, { workerId: 'w' });
    expect((await queue.claim(org, { workerId: 'w', count: 5, leaseSeconds: 60 })).map((t) => t.title)).toEqual(['deploy']);
    // A task enqueued after its dependency succeeded is ready at once.
    expect((await tasks.enqueue(org, { title: 'notify', dependsOn: [build.id] })).status).toBe('ready');
  });

  it('retries a failing task with growing delays, then fails it for good and blocks what depends on it', async () => {
    const flaky = await definitions.create(org, {
      name: 'flaky',
      kind: 'test_run',
      maxAttempts: 3,
      backoffBaseSeconds: 60,
      backoffFactor: 2,
      backoffMaxSeconds: 3600,
    });
    const task = await tasks.enqueue(org, { title: 'flaky tests', definitionId: flaky.id });
    const downstream = await tasks.enqueue(org, { title: 'after', dependsOn: [task.id] });
    const further = await tasks.enqueue(org, { title: 'further', dependsOn: [downstream.id] });
    expect(task.maxAttempts).toBe(3);

    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const claimed = await queue.claim(org, { workerId: 'w', count: 1, leaseSeconds: 60 });
      expect(claimed.map((t) => [t.id, t.attempts])).toEqual([[task.id, attempt]]);
      const failed = await queue.fail(org, task.id, { workerId: 'w', error: `boom ${attempt}` });
      expect(await execution(task.id, attempt)).toMatchObject({ status: 'failed', error: `boom ${attempt}` });
      if (attempt < 3) {
        expect(failed.status).toBe('ready');
        const [row] = await db.query<{ delay: number }>(
          'SELECT extract(epoch FROM run_after - updated_at)::float8 AS delay FROM tasks.tasks WHERE id = $1',
          [task.id],
        );
        delays.push(row.delay);
        // Not claimable before its backoff has passed; claimable once it has.
        await timePasses(task.id, row.delay / 2);
        expect(await queue.claim(org, { workerId: 'w', count: 1, leaseSeconds: 60 })).toEqual([]);
        await timePasses(task.id, row.delay / 2);
      } else {
        expect(failed).toMatchObject({ status: 'failed', lastError: 'boom 3' });
        expect(failed.finishedAt).not.toBeNull();
      }
    }
    expect(delays).toEqual([60, 120]);
    expect((await tasks.get(org, downstream.id)).status).toBe('blocked');
    expect((await tasks.get(org, further.id)).status).toBe('blocked');
  });

  it('a non-retryable failure fails for good at once', async () => {
    const task = await tasks.enqueue(org, { title: 'bad input', maxAttempts: 5 });
    await queue.claim(org, { workerId: 'w', count: 1, leaseSeconds: 60 });
    expect(await queue.fail(org, task.id, { workerId: 'w', error: 'schema mismatch', retryable: false })).toMatchObject({
      status: 'failed',
      attempts: 1,
    });
  });

  it('a worker that dies loses its task to another worker when the lease expires; its execution is closed as lost', async () => {
    const task = await tasks.enqueue(org, { title: 'long job' });
    expect((await queue.claim(org, { workerId: 'dies', count: 1, leaseSeconds: 60 })).map((t) => t.id)).toEqual([task.id]);
    expect(await queue.claim(org, { workerId: 'survivor', count: 1, leaseSeconds: 60 })).toEqual([]);
    await timePasses(task.id, 30);
    expect(await queue.claim(org, { workerId: 'survivor', count: 1, leaseSeconds: 60 })).toEqual([]); // the lease still holds
    await timePasses(task.id, 31);
    const taken = await queue.claim(org, { workerId: 'survivor', count: 1, leaseSeconds: 60 });
    expect(taken.map((t) => [t.id, t.lockedBy, t.attempts])).toEqual([[task.id, 'survivor', 2]]);
    expect(await execution(task.id, 1)).toMatchObject({ status: 'lost', worker_id: 'dies' });
    expect((await execution(task.id, 1)).error).toMatch(/lease expired/);
    // The dead worker comes back: it no longer holds the task.
    await expect(queue.complete(org, task.id, { workerId: 'dies' })).rejects.toThrow(StateError);
    await expect(queue.heartbeat(org, task.id, { workerId: 'dies', leaseSeconds: 60 })).rejects.toThrow(StateError);
    expect((await queue.complete(org, task.id, { workerId: 'survivor' })).status).toBe('succeeded');
  });

  it('a lost task with no attempts left fails for good', async () => {
    const task = await tasks.enqueue(org, { title: 'one shot', maxAttempts: 1 });
    const downstream = await tasks.enqueue(org, { title: 'after one shot', dependsOn: [task.id] });
    await queue.claim(org, { workerId: 'dies', count: 1, leaseSeconds: 60 });
    expect(await queue.releaseExpiredLeases(org)).toBe(0);
    await timePasses(task.id, 61);
    expect(await queue.releaseExpiredLeases(org)).toBe(1);
    expect(await tasks.get(org, task.id)).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/lease expired/) });
    expect((await tasks.get(org, downstream.id)).status).toBe('blocked');
  });

  it('heartbeats extend the lease of the holder only', async () => {
    const task = await tasks.enqueue(org, { title: 'beating' });
    const [claimed] = await queue.claim(org, { workerId: 'w', count: 1, leaseSeconds: 30 });
    const extended = await queue.heartbeat(org, task.id, { workerId: 'w', leaseSeconds: 120 });
    expect(extended.getTime()).toBeGreaterThan(claimed.leaseExpiresAt!.getTime() + 60_000);
    await timePasses(task.id, 60); // past the first lease, within the extended one
    expect(await queue.claim(org, { workerId: 'other', count: 1, leaseSeconds: 60 })).toEqual([]);
    await expect(queue.heartbeat(org, task.id, { workerId: 'other', leaseSeconds: 60 })).rejects.toThrow(/held by w/);
    await timePasses(task.id, 61); // past the extended lease too
    expect((await queue.claim(org, { workerId: 'other', count: 1, leaseSeconds: 60 })).map((t) => t.id)).toEqual([task.id]);
  });

  it('illegal transitions are typed errors: completing a task nobody claimed, failing a finished one, an unknown task', async () => {
    const task = await tasks.enqueue(org, { title: 'never claimed' });
    await expect(queue.complete(org, task.id, { workerId: 'w' })).rejects.toThrow(StateError);
    await expect(queue.fail(org, task.id, { workerId: 'w', error: 'x' })).rejects.toThrow(/it is ready/);
    await queue.claim(org, { workerId: 'w', count: 1, leaseSeconds: 60 });
    await queue.complete(org, task.id, { workerId: 'w' });
    await expect(queue.complete(org, task.id, { workerId: 'w' })).rejects.toThrow(/it is succeeded/);
    await expect(tasks.cancel(org, task.id)).rejects.toThrow(StateError);
    await expect(queue.complete(org, '00000000-0000-4000-8000-000000000000', { workerId: 'w' })).rejects.toThrow(NotFoundError);
  });

  it('cancel cascades to subtasks, releases a running one, and blocks what depends on them', async () => {
    const parent = await tasks.enqueue(org, { title: 'epic' });
    const child = await tasks.enqueue(org, { title: 'story', parentTaskId: parent.id, priority: 5 });
    const grandchild = await tasks.enqueue(org, { title: 'subtask', parentTaskId: child.id });
    const dependent = await tasks.enqueue(org, { title: 'after story', dependsOn: [child.id] });
    const unrelated = await tasks.enqueue(org, { title: 'unrelated' });
    const [running] = await queue.claim(org, { workerId: 'w', count: 1, leaseSeconds: 60 });
    expect(running.id).toBe(child.id);

    const result = await tasks.cancel(org, parent.id, 'scope cut');
    expect(result.cancelled.sort()).toEqual([parent.id, child.id, grandchild.id].sort());
    expect(result.blocked).toEqual([dependent.id]);
    expect(await tasks.get(org, child.id)).toMatchObject({ status: 'cancelled', lockedBy: null, lastError: 'scope cut' });
    expect(await execution(child.id, 1)).toMatchObject({ status: 'cancelled', error: 'scope cut' });
    expect((await tasks.get(org, unrelated.id)).status).toBe('ready');
    await expect(queue.complete(org, child.id, { workerId: 'w' })).rejects.toThrow(StateError);
  });

  it('completeAndClaim reports a task and takes the next in one call, including a dependent it just made ready; a refused report claims nothing', async () => {
    const first = await tasks.enqueue(org, { title: 'first' });
    const second = await tasks.enqueue(org, { title: 'second', dependsOn: [first.id] });
    const [held] = await queue.claim(org, { workerId: 'loop', count: 1, leaseSeconds: 60 });
    expect(held.id).toBe(first.id);
    const { completed, claimed } = await queue.completeAndClaim(org, first.id, {
      workerId: 'loop',
      output: { n: 1 },
      count: 5,
      leaseSeconds: 60,
    });
    expect(completed).toMatchObject({ id: first.id, status: 'succeeded', output: { n: 1 } });
    expect(claimed.map((t) => [t.id, t.status, t.lockedBy])).toEqual([[second.id, 'running', 'loop']]);
    expect(await execution(second.id, 1)).toMatchObject({ status: 'running', worker_id: 'loop' });

    const spare = await tasks.enqueue(org, { title: 'spare' });
    await expect(queue.completeAndClaim(org, first.id, { workerId: 'loop', count: 1, leaseSeconds: 60 })).rejects.toThrow(
      /it is succeeded/,
    );
    expect((await tasks.get(org, spare.id)).status).toBe('ready');
    expect(
      (await queue.completeAndClaim(org, second.id, { workerId: 'loop', count: 1, leaseSeconds: 60 })).claimed.map((t) => t.id),
    ).toEqual([spare.id]);
  });

  it('enqueue is idempotent on the key: the same key returns the same task', async () => {
    const first = await tasks.enqueue(org, { title: 'deploy v1', idempotencyKey: 'deploy-v1' });
    const again = await tasks.enqueue(org, { title: 'deploy v1 (retry of the request)', idempotencyKey: 'deploy-v1' });
    expect(again.id).toBe(first.id);
    const racing = await Promise.all(Array.from({ length: 6 }, () => tasks.enqueue(org, { title: 'race', idempotencyKey: 'race-key' })));
    expect(new Set(racing.map((t) => t.id)).size).toBe(1);
    expect(await db.query(`SELECT count(*)::int AS n FROM tasks.tasks WHERE idempotency_key = 'race-key'`)).toEqual([{ n: 1 }]);
  });

  it('stats: queue depth by status, throughput and p50/p95 per definition and per worker', async () => {
    // An organization of its own, so the other tests' executions stay out of the window.
    const org = (await new OrganizationsService(db.dataSource).create({ name: 'Stats', slug: 'stats' })).id;
    const review = await definitions.create(org, { name: 'review', kind: 'code_review' });
    const from = new Date(Date.now() - 60_000);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await tasks.enqueue(org, { title: `review ${i}`, definitionId: review.id })).id);
    await queue.claim(org, { workerId: 'agent-a', count: 2, leaseSeconds: 60 });
    await queue.claim(org, { workerId: 'agent-b', count: 2, leaseSeconds: 60 });
    // Known durations: rewrite the start times of the four open executions.
    await db.query(
      `UPDATE tasks.task_executions x SET started_at = now() - make_interval(secs => v.secs)
         FROM (SELECT unnest($1::uuid[]) AS task_id, unnest(ARRAY[1, 2, 3, 10]) AS secs) v WHERE x.task_id = v.task_id`,
      [ids],
    );
    await db.query(
      `UPDATE tasks.tasks t SET locked_at = x.started_at FROM tasks.task_executions x WHERE x.task_id = t.id AND t.id = ANY ($1)`,
      [ids],
    );
    await queue.complete(org, ids[0], { workerId: 'agent-a', inputTokens: 100, outputTokens: 10 });
    await queue.complete(org, ids[1], { workerId: 'agent-a' });
    await queue.complete(org, ids[2], { workerId: 'agent-b' });
    await queue.fail(org, ids[3], { workerId: 'agent-b', error: 'x', retryable: false });
    await tasks.enqueue(org, { title: 'waiting', runAfter: new Date(Date.now() + 3_600_000) });

    // A two-minute window around the work: throughput is per hour of the window.
    const stats = await new TaskStatsService(db.dataSource).stats(org, { from, to: new Date(from.getTime() + 120_000) });
    expect(stats.queue.ready).toBe(1);
    expect(stats.queue.running).toBe(0);
    const byDefinition = stats.byDefinition.find((d) => d.definitionName === 'review')!;
    expect(byDefinition).toMatchObject({ executions: 4, succeeded: 3, failed: 1, successRate: 0.75, inputTokens: 100, outputTokens: 10 });
    expect(byDefinition.p50DurationMs).toBeGreaterThanOrEqual(2500);
    expect(byDefinition.p50DurationMs).toBeLessThan(3500);
    expect(byDefinition.p95DurationMs).toBeGreaterThan(8500);
    expect(byDefinition.throughputPerHour).toBeCloseTo(4 / (2 / 60), 0);
    expect(stats.byWorker.map((w) => [w.workerId, w.executions, w.succeeded]).sort()).toEqual([
      ['agent-a', 2, 2],
      ['agent-b', 2, 1],
    ]);
  });
});
