import { MigrationRunner, baseModule, checkSchemaDrift, healthCheck, runMaintenance, validateIntegrity, withTenant } from '@strata/base';
import { TestDatabase, catalogSnapshot, createTestDatabase, expectEachMigrationReverts, useTestDatabase } from '@strata/testing';
import { TasksService, WorkQueueService, tasksModule } from '../src';
import { TASK_TABLES, asTenant, createOrganization, rankViolations } from './support';

const MANUAL_INDEXES = ['tasks_ready_queue_idx', 'tasks_lease_expires_at_idx'];

/** How many of the current month and the three after it have an execution partition, and how many DEFAULT partitions there are. */
async function monthsCovered(q: TestDatabase): Promise<{ months: number; defaults: number }> {
  const [row] = await q.query<{ months: number; defaults: number }>(
    `SELECT (SELECT count(*)::int FROM generate_series(0, 3) AS i
              WHERE EXISTS (SELECT 1 FROM base.partition_bounds('tasks.task_executions'::regclass) b
                             WHERE NOT b.is_default
                               AND b.lower_bound <= (date_trunc('month', now() AT TIME ZONE 'UTC') + i * interval '1 month') AT TIME ZONE 'UTC'
                               AND b.upper_bound > (date_trunc('month', now() AT TIME ZONE 'UTC') + i * interval '1 month') AT TIME ZONE 'UTC')) AS months,
            (SELECT count(*)::int FROM base.partition_bounds('tasks.task_executions'::regclass) b WHERE b.is_default) AS defaults`,
  );
  return row;
}

describe('tasks schema', () => {
  const db = useTestDatabase({ modules: [baseModule, tasksModule] });
  let org: string;
  let tasks: TasksService;

  beforeAll(async () => {
    // On a server the database is cloned from a template migrated once, possibly in an earlier
    // month: bring its partitions up to date first, as the nightly maintenance would.
    await runMaintenance(db);
    org = await createOrganization(db, 'schema');
    tasks = new TasksService(db.dataSource);
  });

  const newTask = async (title: string) => (await tasks.enqueue(org, { title })).id;
  const insertEdges = (edges: [task: string, dependsOn: string][]) =>
    withTenant(db.dataSource, org, (m) =>
      m.query(
        `INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id)
         SELECT $1, e.task_id, e.depends_on_task_id FROM unnest($2::uuid[], $3::uuid[]) WITH ORDINALITY AS e(task_id, depends_on_task_id, ord) ORDER BY e.ord`,
        [org, edges.map((e) => e[0]), edges.map((e) => e[1])],
      ),
    );
  const edgeCount = async (ids: string[]) =>
    Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM tasks.task_dependencies WHERE task_id = ANY ($1)', [ids]))[0].n);

  it('the migrated schema matches the entities: only the two hand-written strata:manual indexes are left to the migration', async () => {
    const report = await checkSchemaDrift(db.url, tasksModule, [baseModule, tasksModule]);
    expect(report.statements).toEqual([]);
    expect(report.ignored.length).toBeGreaterThan(0);
    for (const statement of report.ignored) expect(MANUAL_INDEXES.filter((name) => statement.includes(name))).toHaveLength(1);
    expect(MANUAL_INDEXES.filter((name) => report.ignored.some((s) => s.includes(name)))).toEqual(MANUAL_INDEXES);
    const comments = await db.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
        WHERE c.relnamespace = 'tasks'::regnamespace AND d.description LIKE 'strata:manual%' ORDER BY 1`,
    );
    expect(comments.map((c) => c.name)).toEqual([...MANUAL_INDEXES].sort());
  });

  it('passes base.validate_integrity(): forced RLS, tenant-consistent references, cascading erasure', async () => {
    const report = await validateIntegrity(db);
    expect(report.checks.filter((c) => c.violations.length > 0)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('every statement in the queue functions and the cycle check names its organization, so a distributed planner routes it to one shard', async () => {
    const functions = [
      'claim',
      'complete',
      'fail',
      'complete_and_claim',
      'release_expired_leases',
      'promote_dependents',
      'block_dependents',
      'refuse_dependency_cycles',
    ];
    const unrouted: string[] = [];
    for (const name of functions) {
      const [{ source }] = await db.query<{ source: string }>(`SELECT prosrc AS source FROM pg_proc WHERE oid = $1::regproc`, [
        `tasks.${name}`,
      ]);
      for (const statement of source.split(/;|\bLOOP\b/)) {
        // The cycle check's transition table is not a tenant table a planner could route by.
        if (/\badded\b/.test(statement) && /\btasks\.\w+/.test(statement))
          unrouted.push(`${name}: joins the added edges with a tenant table`);
        // Every tenant table a statement reads or writes under an alias must be filtered by organization_id.
        for (const [, table, alias] of statement.matchAll(/(?:FROM|JOIN|UPDATE)\s+tasks\.(\w+)\s+(?!AS\b|WHERE\b|SET\b)(\w+)/g)) {
          if (!new RegExp(`\\b${alias}\\.organization_id = `).test(statement)) unrouted.push(`${name}: tasks.${table} ${alias}`);
        }
      }
    }
    expect(unrouted).toEqual([]);
  });

  it('every table is tenant-scoped: forced RLS and a cascading foreign key to organizations (or to its task, which has one); definitions and workflows are audited', async () => {
    const tables = await db.query<{ name: string; rls: boolean; forced: boolean; erased: boolean; audited: boolean }>(
      `SELECT c.oid::regclass::text AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
              EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'f' AND k.confdeltype = 'c'
                        AND k.confrelid IN ('base.organizations'::regclass, 'tasks.tasks'::regclass)) AS erased,
              EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'audit_row_change') AS audited
         FROM pg_class c
        WHERE c.relnamespace = 'tasks'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'migrations'
        ORDER BY 1`,
    );
    expect(tables.map((t) => t.name).sort()).toEqual([...TASK_TABLES].sort());
    for (const table of tables) {
      const audited = table.name === 'tasks.task_definitions' || table.name === 'tasks.workflows';
      expect(table).toEqual({ name: table.name, rls: true, forced: true, erased: true, audited });
    }
  });

  it('health check is healthy and lists tasks.task_executions with its policy (month, 3 ahead, 13 months retention)', async () => {
    const report = await healthCheck(db, [baseModule, tasksModule]);
    expect(report.problems).toEqual([]);
    expect(report.status).toBe('healthy');
    expect(report.modules.find((m) => m.module === 'tasks')).toEqual({
      module: 'tasks',
      applied: tasksModule.migrations.length,
      latest: tasksModule.migrations[tasksModule.migrations.length - 1].name,
      pending: [],
    });
    const executions = report.partitions.find((p) => p.table === 'tasks.task_executions');
    expect(executions).toMatchObject({ table: 'tasks.task_executions', interval: 'month', premake: 3, default_rows: 0 });
    expect(executions?.partitions_ahead).toBeGreaterThanOrEqual(3);

    const policies = await db.query(
      `SELECT parent_table, control_column, partition_interval, premake, retention = interval '13 months' AS thirteen_months, retention_mode
         FROM base.partition_policies WHERE parent_table LIKE 'tasks.%'`,
    );
    expect(policies).toEqual([
      {
        parent_table: 'tasks.task_executions',
        control_column: 'started_at',
        partition_interval: 'month',
        premake: 3,
        thirteen_months: true,
        retention_mode: 'drop',
      },
    ]);
    expect(await monthsCovered(db)).toEqual({ months: 4, defaults: 1 });
  });

  it('the statistics of tasks and dependencies follow their growth, with no autovacuum (the queue keeps its plans for the session)', async () => {
    const pages = async (table: string) =>
      (
        await db.query<{ analyzed: number; now: number }>(
          `SELECT relpages AS analyzed, (pg_relation_size(oid) / current_setting('block_size')::int)::int AS now FROM pg_class WHERE oid = $1::regclass`,
          [table],
        )
      )[0];
    // Both grow by a few hundred rows per statement, as a large workflow would, written as the application role.
    for (let batch = 0; batch < 6; batch++) {
      await withTenant(db.dataSource, org, async (m) => {
        const ids: { id: string }[] = await m.query(
          `INSERT INTO tasks.tasks (organization_id, title, status, finished_at) SELECT $1, 'bulk ' || g, 'succeeded', now() FROM generate_series(1, 400) g RETURNING id`,
          [org],
        );
        const [first, ...rest] = ids.map((r) => r.id);
        await m.query(
          `INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id) SELECT $1, unnest($2::uuid[]), $3`,
          [org, rest, first],
        );
      });
    }
    for (const table of ['tasks.tasks', 'tasks.task_dependencies']) {
      const { analyzed, now } = await pages(table);
      expect({ table, grown: now > 8, withinTwice: 2 * analyzed >= now }).toEqual({ table, grown: true, withinTwice: true });
    }
  });

  it("each migration's down restores exactly the catalog its up found", async () => {
    const stepwise = await createTestDatabase({ modules: [baseModule, tasksModule], migrate: false });
    try {
      await expectEachMigrationReverts(stepwise, tasksModule, { requires: [baseModule] });
    } finally {
      await stepwise.close();
    }
  }, 180_000);

  describe('on a database migrated now', () => {
    let fresh: TestDatabase;
    beforeAll(async () => {
      fresh = await createTestDatabase({ modules: [baseModule, tasksModule], migrate: false });
    }, 180_000);
    afterAll(async () => fresh?.close());

    it('up → down → up leaves the tasks catalog exactly as it was; reverting tasks leaves base untouched', async () => {
      const runner = new MigrationRunner({ url: fresh.url });
      await runner.up([baseModule, tasksModule]);
      // The migration itself premakes the current month and three ahead, next to the DEFAULT partition.
      expect(await monthsCovered(fresh)).toEqual({ months: 4, defaults: 1 });
      const first = await catalogSnapshot(fresh, ['tasks']);
      const base = await catalogSnapshot(fresh, ['base']);
      expect(first.some((line) => line.startsWith('policy tasks.task_dependencies.tenant_isolation'))).toBe(true);
      expect(first.some((line) => line.startsWith('trigger CREATE TRIGGER task_dependencies_acyclic_insert'))).toBe(true);
      expect(first.some((line) => line.startsWith('table tasks.task_executions_default '))).toBe(true);

      expect(await runner.down(tasksModule, { to: '0' })).toEqual(tasksModule.migrations.map((m) => m.name).reverse());
      const tables = await fresh.query(
        `SELECT relname FROM pg_class WHERE relnamespace = 'tasks'::regnamespace AND relkind IN ('r', 'p') AND relname <> 'migrations'`,
      );
      expect(tables).toEqual([]);
      expect(await fresh.query(`SELECT proname FROM pg_proc WHERE pronamespace = 'tasks'::regnamespace`)).toEqual([]);
      expect(await fresh.query(`SELECT parent_table FROM base.partition_policies WHERE parent_table LIKE 'tasks.%'`)).toEqual([]);
      // Only the schema and the runner's history table are left.
      const empty = await catalogSnapshot(fresh, ['tasks']);
      expect(empty.filter((line) => !/tasks\.migrations/.test(line)).map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
        'schema tasks',
      ]);
      expect(await catalogSnapshot(fresh, ['base'])).toEqual(base);
      expect((await validateIntegrity(fresh)).ok).toBe(true);

      await runner.up([baseModule, tasksModule]);
      expect(await catalogSnapshot(fresh, ['tasks'])).toEqual(first);
      expect(await catalogSnapshot(fresh, ['base'])).toEqual(base);
      const health = await healthCheck(fresh, [baseModule, tasksModule]);
      expect(health.problems).toEqual([]);
      expect(health.status).toBe('healthy');
    });
  });

  it('an execution far in the past or the future lands in the DEFAULT partition; maintenance moves it out, losing nothing', async () => {
    const task = await newTask('partitioned history');
    // Six months back: before the premade partitions, within the 13 months kept. Three years ahead: beyond premake.
    await withTenant(db.dataSource, org, (m) =>
      m.query(
        `INSERT INTO tasks.task_executions (organization_id, task_id, attempt, worker_id, status, started_at, finished_at)
         SELECT $1, $2, a, 'w', 'succeeded', s, s + interval '1 second'
           FROM (VALUES (1, now() - interval '6 months'), (2, now() + interval '3 years'), (3, now())) AS v(a, s)`,
        [org, task],
      ),
    );
    const placement = () =>
      db.query<{ attempt: number; partition: string }>(
        `SELECT attempt, tableoid::regclass::text AS partition FROM tasks.task_executions WHERE task_id = $1 ORDER BY attempt`,
        [task],
      );
    const before = await placement();
    expect(before.map((r) => r.partition)).toEqual([
      'tasks.task_executions_default',
      'tasks.task_executions_default',
      expect.stringMatching(/_p\d{8}$/),
    ]);
    const degraded = await healthCheck(db, [baseModule, tasksModule]);
    expect(degraded.partitions.find((p) => p.table === 'tasks.task_executions')?.default_rows).toBe(2);
    expect(degraded.status).toBe('degraded');

    const report = await runMaintenance(db, 'tasks.task_executions');
    expect(report.tables).toHaveLength(1);
    expect(report.tables[0]).toMatchObject({ table: 'tasks.task_executions', moved_rows: 2, dropped: [], detached: [] });
    expect(report.tables[0].created).toHaveLength(2);

    const after = await placement();
    expect(after).toHaveLength(3);
    expect(after.every((r) => /^tasks\.task_executions_p\d{8}$/.test(r.partition))).toBe(true);
    expect(new Set(after.map((r) => r.partition)).size).toBe(3);
    expect(await db.query('SELECT count(*)::int AS n FROM tasks.task_executions_default')).toEqual([{ n: 0 }]);
    // The new partitions are tenant tables too: forced RLS, and the application role still reads its rows.
    const flags = await db.query<{ rls: boolean; forced: boolean }>(
      `SELECT c.relrowsecurity AS rls, c.relforcerowsecurity AS forced FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'tasks.task_executions'::regclass`,
    );
    expect(flags.every((f) => f.rls && f.forced)).toBe(true);
    expect(await asTenant(db, org, 'SELECT attempt FROM tasks.task_executions WHERE task_id = $1 ORDER BY attempt', [task])).toEqual([
      { attempt: 1 },
      { attempt: 2 },
      { attempt: 3 },
    ]);
    expect((await healthCheck(db, [baseModule, tasksModule])).status).toBe('healthy');
  });

  it('the application role may not rewrite dag_rank nor delete execution history, but may update the other task columns', async () => {
    const task = await newTask('privileges');
    await new WorkQueueService(db.dataSource).claim(org, { workerId: 'w', count: 10, leaseSeconds: 60 });
    await expect(asTenant(db, org, 'UPDATE tasks.tasks SET dag_rank = 42 WHERE id = $1', [task])).rejects.toThrow(/permission denied/);
    await expect(asTenant(db, org, 'DELETE FROM tasks.task_executions WHERE task_id = $1', [task])).rejects.toThrow(/permission denied/);
    await expect(asTenant(db, org, 'UPDATE tasks.tasks SET organization_id = organization_id WHERE id = $1', [task])).rejects.toThrow(
      /permission denied/,
    );
    const [, updated] = await asTenant<[unknown, number]>(db, org, `UPDATE tasks.tasks SET priority = 7, title = 'renamed' WHERE id = $1`, [
      task,
    ]);
    expect(updated).toBe(1);
    expect(await db.query('SELECT dag_rank, priority, title FROM tasks.tasks WHERE id = $1', [task])).toEqual([
      { dag_rank: 0, priority: 7, title: 'renamed' },
    ]);
    expect(await db.query('SELECT count(*)::int AS n FROM tasks.task_executions WHERE task_id = $1', [task])).toEqual([{ n: 1 }]);

    // Column by column: everything but the key, the tenant and the rank is updatable.
    const columns = await db.query<{ column_name: string; updatable: boolean }>(
      `SELECT column_name, has_column_privilege('strata_app', 'tasks.tasks', column_name, 'UPDATE') AS updatable
         FROM information_schema.columns WHERE table_schema = 'tasks' AND table_name = 'tasks' ORDER BY column_name`,
    );
    expect(columns.filter((c) => !c.updatable).map((c) => c.column_name)).toEqual(['dag_rank', 'id', 'organization_id']);
    const [executionPrivileges] = await db.query(
      `SELECT has_table_privilege('strata_app', 'tasks.task_executions', 'INSERT') AS ins, has_table_privilege('strata_app', 'tasks.task_executions', 'UPDATE') AS upd,
              has_table_privilege('strata_app', 'tasks.task_executions', 'DELETE') AS del`,
    );
    expect(executionPrivileges).toEqual({ ins: true, upd: true, del: false });
  });

  it('the database refuses a self-dependency and cycles written directly in SQL by the application role', async () => {
    const [a, b, c] = [await newTask('a'), await newTask('b'), await newTask('c')];
    await expect(insertEdges([[a, a]])).rejects.toThrow(/task_dependencies_depends_on_task_id_check/);

    await insertEdges([[a, b]]);
    await expect(insertEdges([[b, a]])).rejects.toThrow(/would close a cycle/);
    // a → b → c → a
    await insertEdges([[b, c]]);
    await expect(insertEdges([[c, a]])).rejects.toThrow(/would close a cycle/);
    // Both halves of a cycle in one statement.
    const [d, e] = [await newTask('d'), await newTask('e')];
    await expect(
      insertEdges([
        [d, e],
        [e, d],
      ]),
    ).rejects.toThrow(/would close a cycle/);
    // Repointing an edge with UPDATE is checked too: b → c becomes b → a, next to a → b.
    await expect(
      asTenant(db, org, 'UPDATE tasks.task_dependencies SET depends_on_task_id = $1 WHERE task_id = $2 AND depends_on_task_id = $3', [
        a,
        b,
        c,
      ]),
    ).rejects.toThrow(/would close a cycle/);

    expect(await edgeCount([a, b, c, d, e])).toBe(2);
    expect(await rankViolations(db, org)).toEqual([]);
    const ranks = await db.query<{ title: string; dag_rank: number }>(
      'SELECT title, dag_rank FROM tasks.tasks WHERE id = ANY ($1) ORDER BY title',
      [[a, b, c]],
    );
    expect(ranks.map((r) => r.dag_rank)).toEqual([2, 1, 0]);
  });

  it('edges written against the rank order are re-ranked, and an edge that then points down the order is accepted', async () => {
    // Built backwards: z is created first, so every new edge points against the order until the ranks are repaired.
    const [x, y, z] = [await newTask('x'), await newTask('y'), await newTask('z')];
    await insertEdges([[x, y]]);
    await insertEdges([[y, z]]);
    expect(await rankViolations(db, org)).toEqual([]);
    await insertEdges([[x, z]]);
    await expect(insertEdges([[z, x]])).rejects.toThrow(/would close a cycle/);
    expect(await rankViolations(db, org)).toEqual([]);
  });

  it.each([
    ['the out-of-order edge first', false],
    ['the cycle first', true],
  ])('one statement adding a cycle together with an edge whose re-ranking runs into it is refused (%s)', async (_, reversed) => {
    // A guard against a rank repair that never ends: ranks here stay below 10.
    await db.query(`CREATE FUNCTION public.tasks_test_rank_guard() RETURNS trigger LANGUAGE plpgsql AS $$
                      BEGIN RAISE EXCEPTION 'dag_rank runaway: % reached %', NEW.title, NEW.dag_rank; END $$`);
    await db.query(`CREATE TRIGGER tasks_test_rank_guard BEFORE UPDATE ON tasks.tasks FOR EACH ROW WHEN (NEW.dag_rank > 1000)
                    EXECUTE FUNCTION public.tasks_test_rank_guard()`);
    try {
      const [x, y, a, b] = [await newTask('x'), await newTask('y'), await newTask('a'), await newTask('b')];
      await insertEdges([[a, y]]); // a depends on y: rank(a) = 1
      const edges: [string, string][] = [
        [y, x], // against the order (both 0): repairing it raises y, then a, then whatever depends on a
        [a, b], // in order (1 > 0): not examined
        [b, a], // closes the cycle a → b → a
      ];
      await expect(insertEdges(reversed ? edges.reverse() : edges)).rejects.toThrow(/would close a cycle/);
      expect(await edgeCount([x, y, a, b])).toBe(1);
      expect(await rankViolations(db, org)).toEqual([]);
    } finally {
      await db.query('DROP TRIGGER tasks_test_rank_guard ON tasks.tasks');
      await db.query('DROP FUNCTION public.tasks_test_rank_guard()');
    }
  });
});
