import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsDate, IsIn, IsInt, IsObject, IsOptional, IsString, IsUUID, Length, Max, Min } from 'class-validator';
import { randomUUID } from 'node:crypto';
import { EntityManager } from 'typeorm';
import {
  ConflictError,
  NotFoundError,
  Page,
  PageInput,
  StateError,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  keysetPage,
  translateDatabaseError,
  validateId,
  validateIds,
  validateInput,
} from '@strata/base';
import { tasksModule } from '../tasks.module';
import type { TaskStatus } from '../entities';
import { FINISHED_TASK_STATUSES, TASK_STATUSES, Task, Workflow } from '../entities';

export class EnqueueTaskInput {
  @IsString() @Length(1, 500) title!: string;
  @IsOptional() @IsUUID() definitionId?: string;
  @IsOptional() @IsUUID() projectId?: string;
  @IsOptional() @IsUUID() parentTaskId?: string;
  /** Higher runs first. */
  @IsOptional() @IsInt() @Min(-1000) @Max(1000) priority?: number;
  @IsOptional() @IsObject() input?: Record<string, unknown>;
  /** Not claimable before this instant. */
  @IsOptional() @Type(() => Date) @IsDate() runAfter?: Date;
  /** Default: the definition's, else 3. */
  @IsOptional() @IsInt() @Min(1) @Max(100) maxAttempts?: number;
  /** Enqueueing again with the same key returns the first task (unique per organization). */
  @IsOptional() @IsString() @Length(1, 255) idempotencyKey?: string;
  /** Tasks that must succeed before this one runs. */
  @IsOptional() @IsArray() @ArrayMaxSize(1000) @IsUUID('all', { each: true }) dependsOn?: string[];
}

export class InstantiateWorkflowInput {
  /** Merged under each step's own input. */
  @IsOptional() @IsObject() input?: Record<string, unknown>;
  /** Default: the workflow's project. */
  @IsOptional() @IsUUID() projectId?: string;
  @IsOptional() @IsUUID() parentTaskId?: string;
  /** Priority of steps that do not set their own. */
  @IsOptional() @IsInt() @Min(-1000) @Max(1000) priority?: number;
}

export class ListTasksInput extends PageInput {
  @IsOptional() @IsIn(TASK_STATUSES) status?: TaskStatus;
  @IsOptional() @IsUUID() projectId?: string;
  @IsOptional() @IsUUID() workflowRunId?: string;
  @IsOptional() @IsUUID() parentTaskId?: string;
}

export interface WorkflowRun {
  workflowRunId: string;
  workflow: Workflow;
  /** In the workflow's step order. */
  tasks: Task[];
}

export interface CancelResult {
  /** The task and its unfinished subtasks. */
  cancelled: string[];
  /** Tasks downstream of them that can no longer run. */
  blocked: string[];
}

/**
 * Tasks and their dependency DAG. Workers take work through WorkQueueService;
 * this service creates, links, reads and cancels tasks.
 */
export class TasksService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, tasksModule);
  }

  async enqueue(organizationId: string, input: EnqueueTaskInput): Promise<Task> {
    const valid = await validateInput(EnqueueTaskInput, input, 'task');
    try {
      return await this.scope.run(organizationId, async (m) => {
        if (valid.idempotencyKey !== undefined) {
          // A key stays taken after its task is removed: the same key still answers the same task.
          const existing = await m.getRepository(Task).findOne({ where: { idempotencyKey: valid.idempotencyKey }, withDeleted: true });
          if (existing) return existing;
        }
        const maxAttempts = valid.maxAttempts ?? (await definitionAttempts(m, valid.definitionId));
        await assertTasksExist(m, valid.parentTaskId === undefined ? [] : [valid.parentTaskId], 'parentTaskId');
        const dependsOn = [...new Set(valid.dependsOn ?? [])];
        const { status, rank } = await statusAfterDependencies(m, dependsOn, 'dependsOn');
        const rows = await m.query(
          `INSERT INTO tasks.tasks (organization_id, project_id, definition_id, parent_task_id, title, status, priority, input, run_after, max_attempts, idempotency_key, dag_rank)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, now()), $10, $11, $12)
           ON CONFLICT ON CONSTRAINT tasks_organization_id_idempotency_key_key DO NOTHING
           RETURNING *`,
          [
            organizationId,
            valid.projectId ?? null,
            valid.definitionId ?? null,
            valid.parentTaskId ?? null,
            valid.title,
            status,
            valid.priority ?? 0,
            valid.input ?? {},
            valid.runAfter ?? null,
            maxAttempts,
            valid.idempotencyKey ?? null,
            rank,
          ],
        );
        if (rows.length === 0) {
          // Another session enqueued the same key at the same moment and won: its task is the task.
          return m.getRepository(Task).findOneOrFail({ where: { idempotencyKey: valid.idempotencyKey }, withDeleted: true });
        }
        const [task] = hydrate(m, Task, rows);
        if (dependsOn.length > 0) await insertDependencies(m, organizationId, task.id, dependsOn);
        return task;
      });
    } catch (error) {
      translateDatabaseError(error, 'task');
    }
  }

  /**
   * Creates a task per step and a dependency per edge of an active workflow, all
   * in one transaction (all or nothing). Steps without incoming edges are ready at once.
   */
  async instantiateWorkflow(organizationId: string, workflowId: string, input: InstantiateWorkflowInput = {}): Promise<WorkflowRun> {
    validateId(workflowId, 'workflowId', 'workflow');
    const valid = await validateInput(InstantiateWorkflowInput, input, 'workflow run');
    try {
      return await this.scope.run(organizationId, async (m) => {
        const workflow = await m.getRepository(Workflow).findOneBy({ id: workflowId });
        if (!workflow) throw new NotFoundError('workflow', { id: workflowId });
        if (workflow.status !== 'active')
          throw new StateError(
            `workflow ${workflow.name} v${workflow.version} is ${workflow.status}: only active workflows can be instantiated`,
          );
        await assertTasksExist(m, valid.parentTaskId === undefined ? [] : [valid.parentTaskId], 'parentTaskId');
        const runId = randomUUID();
        const { steps, edges } = workflow.definition;
        const hasIncoming = new Set(edges.map((e) => e.to));
        const ranks = topologicalRanks(
          steps.map((s) => s.key),
          edges,
        );
        const rows = await m.query(
          `INSERT INTO tasks.tasks (organization_id, project_id, workflow_id, workflow_run_id, workflow_step, definition_id, parent_task_id,
                                    title, status, priority, input, max_attempts, dag_rank)
           SELECT $1, $2, $3, $4, s.key, d.id, $5, s.title,
                  CASE WHEN s.waits THEN 'pending' ELSE 'ready' END,
                  coalesce(s.priority, $6), $7::jsonb || coalesce(s.input, '{}'), coalesce(d.max_attempts, 3), s.rank
             FROM jsonb_to_recordset($8::jsonb) AS s(ord integer, key text, title text, definition text, priority integer, input jsonb, waits boolean, rank integer)
             LEFT JOIN tasks.task_definitions d ON d.name = s.definition
            ORDER BY s.ord
           RETURNING *`,
          [
            organizationId,
            valid.projectId ?? workflow.projectId,
            workflow.id,
            runId,
            valid.parentTaskId ?? null,
            valid.priority ?? 0,
            valid.input ?? {},
            JSON.stringify(steps.map((s, ord) => ({ ...s, ord, waits: hasIncoming.has(s.key), rank: ranks.get(s.key) }))),
          ],
        );
        const tasks = hydrate(m, Task, rows);
        if (tasks.length !== steps.length)
          throw new StateError(`workflow ${workflow.name}: ${steps.length} steps but ${tasks.length} tasks were created`);
        if (edges.length > 0) {
          await m.query(
            `INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id)
             SELECT $1, t.id, f.id
               FROM jsonb_to_recordset($3::jsonb) AS e("from" text, "to" text)
               JOIN tasks.tasks t ON t.organization_id = $1 AND t.workflow_run_id = $2 AND t.workflow_step = e."to"
               JOIN tasks.tasks f ON f.organization_id = $1 AND f.workflow_run_id = $2 AND f.workflow_step = e."from"`,
            [organizationId, runId, JSON.stringify(edges)],
          );
        }
        const order = new Map(steps.map((s, i) => [s.key, i]));
        tasks.sort((a, b) => order.get(a.workflowStep!)! - order.get(b.workflowStep!)!);
        return { workflowRunId: runId, workflow, tasks };
      });
    } catch (error) {
      translateDatabaseError(error, 'workflow run');
    }
  }

  /** `taskId` will run only after `dependsOnTaskId` succeeds. Refused if it would close a cycle. */
  async addDependency(organizationId: string, taskId: string, dependsOnTaskId: string): Promise<Task> {
    validateIds({ taskId, dependsOnTaskId }, 'task dependency');
    try {
      return await this.scope.run(organizationId, async (m) => {
        // Dependency first, then the task: see statusAfterDependencies for the lock modes.
        const { status } = await statusAfterDependencies(m, [dependsOnTaskId], 'dependsOnTaskId');
        const task = await lockTask(m, taskId, 'NO KEY UPDATE');
        if (!['pending', 'ready', 'blocked'].includes(task.status)) {
          throw new StateError(`task ${taskId} is ${task.status}: dependencies can be added only before it starts`);
        }
        const inserted = await m.query(
          `INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1`,
          [organizationId, taskId, dependsOnTaskId],
        );
        if (inserted.length === 0) throw new ConflictError(`task ${taskId} already depends on ${dependsOnTaskId}`, ['dependsOnTaskId']);
        // A new unfinished dependency sends a ready task back to pending; a failed one blocks it.
        const next = worse(task.status, status);
        if (next !== task.status) {
          await m.query(`UPDATE tasks.tasks SET status = $2, updated_at = now() WHERE id = $1`, [taskId, next]);
          if (next === 'blocked') await m.query('SELECT tasks.block_dependents($1::uuid[])', [[taskId]]);
        }
        return m.getRepository(Task).findOneByOrFail({ id: taskId });
      });
    } catch (error) {
      throw dependencyError(error);
    }
  }

  /** Removes an edge; the task becomes ready if that was its last unfinished dependency. */
  async removeDependency(organizationId: string, taskId: string, dependsOnTaskId: string): Promise<Task> {
    validateIds({ taskId, dependsOnTaskId }, 'task dependency');
    return this.scope.run(organizationId, async (m) => {
      await lockTask(m, taskId);
      const [, deleted] = await m.query(`DELETE FROM tasks.task_dependencies WHERE task_id = $1 AND depends_on_task_id = $2`, [
        taskId,
        dependsOnTaskId,
      ]);
      if (deleted === 0) throw new NotFoundError('task dependency', { taskId, dependsOnTaskId });
      await m.query(
        `UPDATE tasks.tasks t SET status = 'ready', updated_at = now()
          WHERE t.id = $1 AND t.status = 'pending'
            AND NOT EXISTS (SELECT 1 FROM tasks.task_dependencies d JOIN tasks.tasks p ON p.organization_id = d.organization_id AND p.id = d.depends_on_task_id
                             WHERE d.organization_id = t.organization_id AND d.task_id = t.id AND p.status <> 'succeeded')`,
        [taskId],
      );
      return m.getRepository(Task).findOneByOrFail({ id: taskId });
    });
  }

  async get(organizationId: string, taskId: string): Promise<Task> {
    validateId(taskId, 'taskId', 'task');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(Task).findOneBy({ id: taskId }));
    if (!found) throw new NotFoundError('task', { id: taskId });
    return found;
  }

  /** Tasks in creation order (then id; soft-deleted ones left out), a page at a time. */
  async list(organizationId: string, filter: ListTasksInput = {}): Promise<Page<Task>> {
    const { status, projectId, workflowRunId, parentTaskId, ...page } = await validateInput(ListTasksInput, filter, 'task filter');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage(
        m,
        {
          list: 'tasks',
          select: 't.*',
          from: 'tasks.tasks t',
          where: [
            't.organization_id = $1',
            't.deleted_at IS NULL',
            '($2::text IS NULL OR t.status = $2)',
            '($3::uuid IS NULL OR t.project_id = $3)',
            '($4::uuid IS NULL OR t.workflow_run_id = $4)',
            '($5::uuid IS NULL OR t.parent_task_id = $5)',
          ],
          parameters: [organizationId, status ?? null, projectId ?? null, workflowRunId ?? null, parentTaskId ?? null],
          orderBy: [
            { expression: 't.created_at', type: 'timestamptz' },
            { expression: 't.id', type: 'uuid' },
          ],
        },
        page,
        'task filter',
      );
      return { items: hydrate(m, Task, items), nextCursor };
    });
  }

  /** The ids a task depends on, and the ids that depend on it. */
  async dependencies(organizationId: string, taskId: string): Promise<{ dependsOn: string[]; dependents: string[] }> {
    validateId(taskId, 'taskId', 'task');
    return this.scope.run(organizationId, async (m) => {
      await assertTasksExist(m, [taskId], 'taskId');
      const rows: { depends_on: string[] | null; dependents: string[] | null }[] = await m.query(
        `SELECT (SELECT array_agg(depends_on_task_id ORDER BY depends_on_task_id) FROM tasks.task_dependencies WHERE task_id = $1) AS depends_on,
                (SELECT array_agg(task_id ORDER BY task_id) FROM tasks.task_dependencies WHERE depends_on_task_id = $1) AS dependents`,
        [taskId],
      );
      return { dependsOn: rows[0].depends_on ?? [], dependents: rows[0].dependents ?? [] };
    });
  }

  /**
   * Cancels a task and its unfinished subtasks (by parent); a running one is
   * released and its execution closed as cancelled. Everything downstream that
   * has not started becomes blocked.
   */
  async cancel(organizationId: string, taskId: string, reason = 'cancelled'): Promise<CancelResult> {
    validateId(taskId, 'taskId', 'task');
    if (typeof reason !== 'string' || reason.length === 0 || reason.length > 10_000) {
      throw ValidationError.forField('reason', 'must be a string of 1 to 10000 characters', 'task');
    }
    return this.scope.run(organizationId, async (m) => {
      const task = await lockTask(m, taskId);
      if (FINISHED_TASK_STATUSES.includes(task.status))
        throw new StateError(`task ${taskId} is ${task.status}: it can no longer be cancelled`);
      return cancelSubtree(m, taskId, reason);
    });
  }

  /** Soft delete: cancels the task if it has not finished, then hides it from lists and the queue. */
  async remove(organizationId: string, taskId: string): Promise<void> {
    validateId(taskId, 'taskId', 'task');
    await this.scope.run(organizationId, async (m) => {
      const task = await lockTask(m, taskId);
      if (!FINISHED_TASK_STATUSES.includes(task.status)) await cancelSubtree(m, taskId, 'removed');
      await m.query('UPDATE tasks.tasks SET deleted_at = now(), updated_at = now() WHERE id = $1', [taskId]);
    });
  }
}

async function lockTask(m: EntityManager, taskId: string, mode: 'UPDATE' | 'NO KEY UPDATE' = 'UPDATE'): Promise<Task> {
  const rows = await m.query(`SELECT * FROM tasks.tasks WHERE id = $1 FOR ${mode}`, [taskId]);
  if (rows.length === 0) throw new NotFoundError('task', { id: taskId });
  return hydrate(m, Task, rows)[0];
}

async function definitionAttempts(m: EntityManager, definitionId: string | undefined): Promise<number> {
  if (definitionId === undefined) return 3;
  const [row] = await m.query('SELECT max_attempts FROM tasks.task_definitions WHERE id = $1', [definitionId]);
  if (!row) throw ValidationError.forField('definitionId', `refers to no task definition of this organization: ${definitionId}`, 'task');
  return row.max_attempts as number;
}

async function assertTasksExist(m: EntityManager, ids: string[], field: string): Promise<void> {
  if (ids.length === 0) return;
  refuseMissing(ids, await m.query('SELECT id FROM tasks.tasks WHERE id = ANY ($1)', [ids]), field);
}

/** Ids asked for that the organization's rows do not include (unknown, or another organization's) name the field. */
function refuseMissing(ids: string[], found: { id: string }[], field: string): void {
  const missing = ids.filter((id) => !found.some((r) => r.id === id));
  if (missing.length > 0) throw ValidationError.forField(field, `refers to no task of this organization: ${missing.join(', ')}`, 'task');
}

/**
 * The status a new dependent starts in, given its dependencies. The dependencies
 * are KEY SHARE-locked until commit, which conflicts with the FOR UPDATE that
 * complete / fail / cancel take on a task before finishing it: either a
 * dependency finished before (and we see it) or it finishes after our edge is
 * visible (and promotes or blocks our task itself). KEY SHARE does not conflict
 * with the NO KEY UPDATE locks of other graph edits and of promotion, so those
 * never deadlock with us.
 */
async function statusAfterDependencies(
  m: EntityManager,
  dependsOn: string[],
  field: string,
): Promise<{ status: TaskStatus; rank: number }> {
  if (dependsOn.length === 0) return { status: 'ready', rank: 0 };
  const rows: { id: string; status: TaskStatus; dag_rank: number }[] = await m.query(
    'SELECT id, status, dag_rank FROM tasks.tasks WHERE id = ANY ($1) ORDER BY id FOR KEY SHARE',
    [dependsOn],
  );
  refuseMissing(dependsOn, rows, field);
  // Above every dependency: the database's cycle check then passes these edges in O(1).
  const rank = Math.max(...rows.map((r) => r.dag_rank)) + 1;
  if (rows.some((r) => ['failed', 'cancelled', 'blocked'].includes(r.status))) return { status: 'blocked', rank };
  return { status: rows.every((r) => r.status === 'succeeded') ? 'ready' : 'pending', rank };
}

/** Longest path from a root for each step of a DAG (its dag_rank), in O(steps + edges). */
function topologicalRanks(keys: string[], edges: { from: string; to: string }[]): Map<string, number> {
  const rank = new Map(keys.map((k) => [k, 0]));
  const waiting = new Map(keys.map((k) => [k, 0]));
  const next = new Map<string, string[]>(keys.map((k) => [k, []]));
  for (const e of edges) {
    next.get(e.from)!.push(e.to);
    waiting.set(e.to, waiting.get(e.to)! + 1);
  }
  const ready = keys.filter((k) => waiting.get(k) === 0);
  while (ready.length > 0) {
    const key = ready.pop()!;
    for (const to of next.get(key)!) {
      rank.set(to, Math.max(rank.get(to)!, rank.get(key)! + 1));
      waiting.set(to, waiting.get(to)! - 1);
      if (waiting.get(to) === 0) ready.push(to);
    }
  }
  return rank;
}

async function insertDependencies(m: EntityManager, organizationId: string, taskId: string, dependsOn: string[]): Promise<void> {
  await m.query(`INSERT INTO tasks.task_dependencies (organization_id, task_id, depends_on_task_id) SELECT $1, $2, unnest($3::uuid[])`, [
    organizationId,
    taskId,
    dependsOn,
  ]);
}

const SEVERITY: Record<string, number> = { ready: 0, pending: 1, blocked: 2 };
function worse(current: TaskStatus, fromDependency: TaskStatus): TaskStatus {
  return SEVERITY[fromDependency] > SEVERITY[current] ? fromDependency : current;
}

/** The database refuses a self-dependency (a check) and a cycle (its trigger); both are about the argument the caller passed. */
function dependencyError(error: unknown): never {
  translateDatabaseError(error, 'task dependency', {
    task_dependencies_acyclic: ['dependsOnTaskId'],
    task_dependencies_depends_on_task_id_check: ['dependsOnTaskId'],
  });
}

async function cancelSubtree(m: EntityManager, taskId: string, reason: string): Promise<CancelResult> {
  // An UPDATE answers [rows, count].
  const [cancelled]: [{ id: string }[], number] = await m.query(
    `WITH RECURSIVE subtree (id) AS (
       SELECT $1::uuid
       UNION
       SELECT t.id FROM tasks.tasks t JOIN subtree s ON t.parent_task_id = s.id
     ), doomed AS (
       SELECT t.id, t.locked_at, t.attempts FROM tasks.tasks t JOIN subtree s ON s.id = t.id
        WHERE t.status NOT IN ('succeeded', 'failed', 'cancelled')
        ORDER BY t.id FOR UPDATE OF t
     ), closed AS (
       UPDATE tasks.task_executions x SET status = 'cancelled', finished_at = now(), error = $2,
              duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer
         FROM doomed d
        WHERE x.task_id = d.id AND x.started_at = d.locked_at AND x.attempt = d.attempts AND x.status = 'running'
     )
     UPDATE tasks.tasks t SET status = 'cancelled', finished_at = now(), last_error = $2, updated_at = now(),
            locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
       FROM doomed d WHERE t.id = d.id
     RETURNING t.id`,
    [taskId, reason],
  );
  const ids = cancelled.map((r) => r.id);
  const blocked: { id: string }[] = await m.query('SELECT id FROM tasks.block_dependents($1::uuid[]) AS id', [ids]);
  return { cancelled: ids, blocked: blocked.map((r) => r.id) };
}
