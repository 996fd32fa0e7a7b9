import { baseModule, withTenant } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { TasksService, tasksModule } from '../src';
import { asTenant, createOrganization, rankViolations } from './support';

/**
 * The SECURITY DEFINER functions of schema tasks, as strata_app. Today there is one:
 * the DAG's cycle check and re-ranking, a trigger function (it writes dag_rank, which
 * the application role may not). A new one fails the inventory test until it is
 * listed here and tested.
 */
const TASKS_SECURITY_DEFINER = ['refuse_dependency_cycles()'];

describe('security of the tasks schema as strata_app', () => {
  const db = useTestDatabase({ modules: [baseModule, tasksModule] });
  let tasks: TasksService;
  let a: string;
  let b: string;

  beforeAll(async () => {
    tasks = new TasksService(db.dataSource);
    a = await createOrganization(db, 'a');
    b = await createOrganization(db, 'b');
  });

  const newTask = async (org: string, title: string) => (await tasks.enqueue(org, { title })).id;
  const insertEdge = (org: string, edgeOrg: string, task: string, dependsOn: string) =>
    asTenant(db, org, 'INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id) VALUES ($1, $2, $3)', [
      edgeOrg,
      task,
      dependsOn,
    ]);
  const ranks = async (org: string) =>
    db.query<{ id: string; dag_rank: number }>('SELECT id, dag_rank FROM tasks.tasks WHERE organization_id = $1 ORDER BY id', [org]);

  it('lists every SECURITY DEFINER function of schema tasks; each pins search_path and is executable by nobody but its owner', async () => {
    const rows = await db.query<{ fn: string; app: boolean; public_exec: boolean; pinned: boolean }>(
      `SELECT substr(p.oid::regprocedure::text, length('tasks.') + 1) AS fn,
              has_function_privilege('strata_app', p.oid, 'EXECUTE') AS app,
              coalesce(EXISTS (SELECT 1 FROM aclexplode(p.proacl) x WHERE x.grantee = 0), true) AS public_exec,
              'search_path=pg_catalog, pg_temp' = ANY (p.proconfig) AS pinned
         FROM pg_proc p WHERE p.prosecdef AND p.pronamespace = 'tasks'::regnamespace`,
    );
    expect(rows.sort((x, y) => x.fn.localeCompare(y.fn))).toEqual(
      TASKS_SECURITY_DEFINER.map((fn) => ({ fn, app: false, public_exec: false, pinned: true })),
    );
  });

  it('refuse_dependency_cycles cannot be called directly', async () => {
    await expect(asTenant(db, a, 'SELECT tasks.refuse_dependency_cycles()')).rejects.toThrow(/permission denied for function/);
  });

  it("re-ranking after a tenant's edges touches only that tenant's tasks", async () => {
    // The same shape in both organizations: tasks created in the order that makes the edges go against the ranks.
    const shape = async (org: string) => {
      const [x, y, z] = [await newTask(org, 'x'), await newTask(org, 'y'), await newTask(org, 'z')];
      return { x, y, z };
    };
    const inA = await shape(a);
    await shape(b);
    const before = await ranks(b);

    await insertEdge(a, a, inA.x, inA.y);
    await insertEdge(a, a, inA.y, inA.z);

    const rankOf = new Map((await ranks(a)).map((r) => [r.id, r.dag_rank]));
    expect([rankOf.get(inA.x), rankOf.get(inA.y), rankOf.get(inA.z)]).toEqual([2, 1, 0]);
    expect(await rankViolations(db, a)).toEqual([]);
    expect(await ranks(b)).toEqual(before);
  });

  it("an edge cannot reach another organization's task: in A's context with B's id or with A's id on B's task", async () => {
    const mine = await newTask(a, 'mine');
    const theirs = await newTask(b, 'theirs');
    const theirOther = await newTask(b, 'their other');
    const before = await ranks(b);

    await expect(insertEdge(a, a, mine, theirs)).rejects.toThrow(/task_dependencies_.*_fkey/);
    await expect(insertEdge(a, b, theirs, theirOther)).rejects.toThrow(/row-level security/);
    // Repointing one of A's edges at B's task is refused by the same composite reference.
    const dependency = await newTask(a, 'dependency');
    await insertEdge(a, a, mine, dependency);
    await expect(
      withTenant(db.dataSource, a, (m) =>
        m.query('UPDATE tasks.task_dependencies SET depends_on_task_id = $1 WHERE task_id = $2', [theirs, mine]),
      ),
    ).rejects.toThrow(/task_dependencies_.*_fkey/);

    expect(await db.query('SELECT count(*)::int AS n FROM tasks.task_dependencies WHERE organization_id = $1', [b])).toEqual([{ n: 0 }]);
    expect(await ranks(b)).toEqual(before);
  });
});
