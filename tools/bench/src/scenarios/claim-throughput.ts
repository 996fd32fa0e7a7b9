import { Client } from 'pg';
import { createDataSource } from '@strata/base';
import { WorkQueueService } from '@strata/tasks';
import { Result, Scenario, Target, median, timed } from '../harness';
import { TASKS_MODULES, TasksDatabase, tasksDatabase } from './tasks-database';

const WORKER_COUNTS = [1, 4, 8];
/** Ready tasks per run: a second or two of Strata's work for one worker; more only lengthens every run (fresh databases dominate). */
const TASKS = 250;

/** What one run of either path drained: every id a worker was handed, in claim order. */
type Drain = { ms: number; claimed: string[] };
/** Over all runs of both paths: tasks handed out more than once, and anything else that went wrong. */
type Checks = { doubleClaims: number; problems: Set<string> };

/**
 * Workers, each on its own connection, drain a queue of ready tasks: claim one,
 * complete it, until nothing is left. Strata's path is WorkQueueService (lease
 * expiry, execution rows, dependency promotion). The limit is a minimal
 * hand-written SKIP LOCKED loop on the same table under the same tenancy, one
 * round trip per transaction, on a second identical database: claim and
 * complete as two transactions against claim → complete, and as one against
 * completeAndClaim. Both runs check that every task was claimed exactly once.
 */
export const claimThroughput: Scenario = {
  name: 'claim throughput',
  async run(target, runs) {
    const results: Result[] = [];
    // Two ways a worker can use the queue: claim then complete (two calls per
    // task), or completeAndClaim (report and take the next in one call). The
    // limit is the minimal loop (claim and complete, two transactions); for
    // completeAndClaim also the same loop completing and claiming in one
    // transaction, the like-for-like limit of a loop of one round trip per task.
    const twoTransactions = { name: 'SKIP LOCKED loop, raw pg', drain: drainByHand };
    const oneTransaction = { name: 'same, complete + claim in 1 transaction', drain: drainByHandInOneMessage };
    const loops = [
      { label: 'claim → complete', drain: drainWithStrata, limits: [twoTransactions] },
      { label: 'completeAndClaim', drain: drainWithStrataLoop, limits: [twoTransactions, oneTransaction] },
    ];
    for (const { label, drain, limits } of loops)
      for (const workers of WORKER_COUNTS) {
        const strata: number[] = [];
        const limitRuns: number[][] = limits.map(() => []);
        const checks: Checks = { doubleClaims: 0, problems: new Set() };
        for (let i = 0; i < runs; i++) {
          strata.push(await measure(target, workers, drain, checks, 'strata'));
          for (const [l, limit] of limits.entries()) limitRuns[l].push(await measure(target, workers, limit.drain, checks, 'limit'));
        }
        const measuredMs = median(strata);
        const perSecond = (ms: number) => Math.round(TASKS / (ms / 1000));
        const failed = checks.problems.size === 0 ? '' : `, FAILED: ${[...checks.problems].join('; ')}`;
        for (const [l, limit] of limits.entries()) {
          const limitMs = median(limitRuns[l]);
          results.push({
            scenario: `${this.name}, ${label}, ${workers} worker${workers > 1 ? 's' : ''}`,
            target,
            runs,
            limit: limit.name,
            measuredMs,
            limitMs,
            ratio: limitMs / measuredMs,
            note: `${perSecond(measuredMs)} vs ${perSecond(limitMs)} claims/s (${TASKS} tasks), double claims ${checks.doubleClaims}${failed}`,
          });
        }
      }
    return results;
  },
};

/** One drain on a fresh database; setup and checks stay outside the measured time. */
async function measure(
  target: Target,
  workers: number,
  drain: (db: TasksDatabase, workers: number) => Promise<Drain>,
  checks: Checks,
  path: 'strata' | 'limit',
): Promise<number> {
  const db = await tasksDatabase(target);
  try {
    // Bulk insert as the owner; ANALYZE now so both databases plan from the same statistics, whenever autovacuum would come by.
    await db.dataSource.query(
      `INSERT INTO tasks.tasks (organization_id, title, status) SELECT $1, 'task ' || g, 'ready' FROM generate_series(1, $2) g`,
      [db.organizationId, TASKS],
    );
    await db.dataSource.query('ANALYZE tasks.tasks');
    const { ms, claimed } = await drain(db, workers);
    const distinct = new Set(claimed).size;
    checks.doubleClaims += claimed.length - distinct;
    if (distinct !== TASKS) checks.problems.add(`${path}: ${distinct} of ${TASKS} tasks claimed`);
    const [row] = await db.dataSource.query(
      `SELECT (SELECT count(*) FROM tasks.tasks WHERE status = 'succeeded')::int AS succeeded,
              (SELECT count(*) FROM tasks.task_executions)::int AS executions`,
    );
    if (row.succeeded !== TASKS) checks.problems.add(`${path}: ${row.succeeded} of ${TASKS} tasks succeeded`);
    // Only Strata opens an execution row per claim; the hand-written loop has none.
    if (path === 'strata' && row.executions !== TASKS) checks.problems.add(`strata: ${row.executions} execution rows`);
    return ms;
  } finally {
    await db.dispose();
  }
}

/** Each worker a DataSource with a pool of one, connected before the clock starts, running `loop` until the queue is empty. */
async function drainWithWorkers(
  db: TasksDatabase,
  workers: number,
  loop: (queue: WorkQueueService, workerId: string, claimed: string[]) => Promise<void>,
): Promise<Drain> {
  const sources = await Promise.all(
    Array.from({ length: workers }, () => createDataSource({ url: db.url, poolSize: 1, modules: TASKS_MODULES }).initialize()),
  );
  try {
    await Promise.all(sources.map((s) => s.query('SELECT 1')));
    const claimed: string[] = [];
    const ms = await timed(async () => {
      await Promise.all(sources.map((source, w) => loop(new WorkQueueService(source), `worker-${w}`, claimed)));
    });
    return { ms, claimed };
  } finally {
    await Promise.all(sources.map((s) => s.destroy()));
  }
}

/** Claim one, complete it: two calls per task. */
function drainWithStrata(db: TasksDatabase, workers: number): Promise<Drain> {
  return drainWithWorkers(db, workers, async (queue, workerId, claimed) => {
    for (;;) {
      const [task] = await queue.claim(db.organizationId, { workerId, count: 1, leaseSeconds: 300 });
      if (!task) return;
      claimed.push(task.id);
      await queue.complete(db.organizationId, task.id, { workerId });
    }
  });
}

/** completeAndClaim: one call per task after the first claim. */
function drainWithStrataLoop(db: TasksDatabase, workers: number): Promise<Drain> {
  return drainWithWorkers(db, workers, async (queue, workerId, claimed) => {
    let [task] = await queue.claim(db.organizationId, { workerId, count: 1, leaseSeconds: 300 });
    while (task) {
      claimed.push(task.id);
      [task] = (await queue.completeAndClaim(db.organizationId, task.id, { workerId, count: 1, leaseSeconds: 300 })).claimed;
    }
  });
}

/**
 * The minimal queue: claim = pick the best ready row skipping locked ones and
 * mark it running; complete = mark it succeeded. Each transaction, tenancy
 * included, is one simple-protocol message (one round trip), hence literals.
 * `inOneMessage`: a worker completes its task and claims the next in the same
 * transaction, as completeAndClaim does.
 */
async function drainByHand(db: TasksDatabase, workers: number, inOneMessage = false): Promise<Drain> {
  const clients = Array.from({ length: workers }, () => new Client({ connectionString: db.url }));
  await Promise.all(clients.map((c) => c.connect()));
  try {
    const claimed: string[] = [];
    const ms = await timed(async () => {
      await Promise.all(
        clients.map(async (client, w) => {
          const tenant = `BEGIN; SELECT set_config('strata.organization_id', ${client.escapeLiteral(db.organizationId)}, true); SET LOCAL ROLE strata_app;`;
          const worker = client.escapeLiteral(`worker-${w}`);
          const claim = `UPDATE tasks.tasks SET status = 'running', locked_by = ${worker}, lease_expires_at = now() + interval '300 s', attempts = attempts + 1
             WHERE id = (SELECT id FROM tasks.tasks WHERE status = 'ready' AND run_after <= now()
                          ORDER BY priority DESC, created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id;`;
          const complete = (
            id: string,
          ) => `UPDATE tasks.tasks SET status = 'succeeded', finished_at = now(), locked_by = NULL, lease_expires_at = NULL
             WHERE id = ${client.escapeLiteral(id)} AND locked_by = ${worker};`;
          // A multi-statement message answers one result per statement: BEGIN, set_config, SET, then ours.
          type Results = { rows: { id: string }[] }[];
          let id = ((await client.query(`${tenant} ${claim} COMMIT`)) as unknown as Results)[3].rows[0]?.id;
          while (id) {
            claimed.push(id);
            if (inOneMessage) {
              id = ((await client.query(`${tenant} ${complete(id)} ${claim} COMMIT`)) as unknown as Results)[4].rows[0]?.id;
            } else {
              await client.query(`${tenant} ${complete(id)} COMMIT`);
              id = ((await client.query(`${tenant} ${claim} COMMIT`)) as unknown as Results)[3].rows[0]?.id;
            }
          }
        }),
      );
    });
    return { ms, claimed };
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

function drainByHandInOneMessage(db: TasksDatabase, workers: number): Promise<Drain> {
  return drainByHand(db, workers, true);
}
