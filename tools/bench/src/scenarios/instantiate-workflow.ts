import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { TasksService, WorkflowsService } from '@strata/tasks';
import { Scenario, Target, median, timed } from '../harness';
import { TasksDatabase, tasksDatabase } from './tasks-database';

const LAYERS = 25;
const WIDTH = 20;

/** A layered DAG of LAYERS × WIDTH steps: each step below the first layer depends on two steps of the layer above. */
function layeredDag() {
  const key = (layer: number, i: number) => `s${layer}-${i}`;
  const steps: { key: string; title: string; layer: number }[] = [];
  const edges: { from: string; to: string }[] = [];
  for (let layer = 0; layer < LAYERS; layer++) {
    for (let i = 0; i < WIDTH; i++) {
      steps.push({ key: key(layer, i), title: `step ${layer}.${i}`, layer });
      if (layer > 0)
        edges.push({ from: key(layer - 1, i), to: key(layer, i) }, { from: key(layer - 1, (i + 1) % WIDTH), to: key(layer, i) });
    }
  }
  return { steps, edges };
}

const DAG = layeredDag();

/**
 * Instantiate a 500-step workflow (one task per step, one dependency per edge,
 * checked acyclic by the table's trigger). The limit: the same rows written by
 * two multi-row INSERTs (unnest of pre-generated ids) in one transaction under
 * the same tenancy, on a second identical database holding the same workflow.
 */
export const instantiateWorkflow: Scenario = {
  name: `instantiate ${DAG.steps.length}-step workflow`,
  async run(target, runs) {
    const measured: number[] = [];
    const limit: number[] = [];
    for (let i = 0; i < runs; i++) {
      measured.push(
        await measure(target, async (db, workflowId) => {
          const tasks = new TasksService(db.dataSource);
          return timed(async () => void (await tasks.instantiateWorkflow(db.organizationId, workflowId)));
        }),
      );
      limit.push(await measure(target, insertByHand));
    }
    const measuredMs = median(measured);
    const limitMs = median(limit);
    const note = `${DAG.steps.length} tasks, ${DAG.edges.length} dependencies`;
    return {
      scenario: this.name,
      target,
      runs,
      limit: '2 multi-row INSERTs, raw pg',
      measuredMs,
      limitMs,
      ratio: limitMs / measuredMs,
      note,
    };
  },
};

/** A fresh database with the active workflow (created outside the measured time); checks the rows written. */
async function measure(target: Target, instantiate: (db: TasksDatabase, workflowId: string) => Promise<number>): Promise<number> {
  const db = await tasksDatabase(target);
  try {
    const workflow = await new WorkflowsService(db.dataSource).create(db.organizationId, {
      name: 'layered',
      definition: { steps: DAG.steps.map(({ key, title }) => ({ key, title })), edges: DAG.edges },
      status: 'active',
    });
    const ms = await instantiate(db, workflow.id);
    const [row] = await db.dataSource.query(
      `SELECT (SELECT count(*) FROM tasks.tasks WHERE status = 'ready')::int AS ready, (SELECT count(*) FROM tasks.tasks)::int AS tasks,
              (SELECT count(*) FROM tasks.task_dependencies)::int AS dependencies`,
    );
    if (row.tasks !== DAG.steps.length || row.dependencies !== DAG.edges.length || row.ready !== WIDTH) {
      throw new Error(`instantiate wrote ${row.tasks} tasks (${row.ready} ready) and ${row.dependencies} dependencies`);
    }
    return ms;
  } finally {
    await db.dispose();
  }
}

/** The same task rows (with the ranks the cycle check expects), then the dependency rows; ids generated beforehand. */
async function insertByHand(db: TasksDatabase, workflowId: string): Promise<number> {
  const ids = new Map(DAG.steps.map((s) => [s.key, randomUUID()]));
  const taskRows = [
    db.organizationId,
    workflowId,
    randomUUID(),
    DAG.steps.map((s) => ids.get(s.key)),
    DAG.steps.map((s) => s.key),
    DAG.steps.map((s) => s.title),
    DAG.steps.map((s) => (s.layer === 0 ? 'ready' : 'pending')),
    DAG.steps.map((s) => s.layer),
  ];
  const dependencyRows = [db.organizationId, DAG.edges.map((e) => ids.get(e.to)), DAG.edges.map((e) => ids.get(e.from))];
  const client = new Client({ connectionString: db.url });
  await client.connect();
  try {
    return await timed(async () => {
      await client.query(
        `BEGIN; SELECT set_config('strata.organization_id', ${client.escapeLiteral(db.organizationId)}, true); SET LOCAL ROLE strata_app`,
      );
      await client.query(
        `INSERT INTO tasks.tasks (id, organization_id, workflow_id, workflow_run_id, workflow_step, title, status, dag_rank)
         SELECT s.id, $1, $2, $3, s.step, s.title, s.status, s.rank
           FROM unnest($4::uuid[], $5::text[], $6::text[], $7::text[], $8::int[]) AS s(id, step, title, status, rank)`,
        taskRows,
      );
      await client.query(
        `INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id)
         SELECT $1, e.task_id, e.depends_on FROM unnest($2::uuid[], $3::uuid[]) AS e(task_id, depends_on)`,
        dependencyRows,
      );
      await client.query('COMMIT');
    });
  } finally {
    await client.end();
  }
}
