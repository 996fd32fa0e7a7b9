import { IsBoolean, IsInt, IsObject, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { DataSource, EntityManager } from 'typeorm';
import { NotFoundError, StateError, hydrate, validateId, validateInput, withTenant } from '@strata/base';
import { Task } from '../entities';

const DAY_SECONDS = 24 * 3600;

export class ClaimInput {
  @IsString() @Length(1, 255) workerId!: string;
  @IsInt() @Min(1) @Max(1000) count!: number;
  @IsInt() @Min(1) @Max(DAY_SECONDS) leaseSeconds!: number;
}

export class HeartbeatInput {
  @IsString() @Length(1, 255) workerId!: string;
  @IsInt() @Min(1) @Max(DAY_SECONDS) leaseSeconds!: number;
}

/** What an attempt used; stored on its execution row. */
export class UsageReport {
  @IsOptional() @IsInt() @Min(0) cpuMs?: number;
  @IsOptional() @IsInt() @Min(0) peakMemoryBytes?: number;
  @IsOptional() @IsInt() @Min(0) inputTokens?: number;
  @IsOptional() @IsInt() @Min(0) outputTokens?: number;
  @IsOptional() @IsObject() metadata?: Record<string, unknown>;
}

export class CompleteInput extends UsageReport {
  @IsString() @Length(1, 255) workerId!: string;
  @IsOptional() @IsObject() output?: Record<string, unknown>;
}

export class FailInput extends UsageReport {
  @IsString() @Length(1, 255) workerId!: string;
  @IsString() @Length(1, 10_000) error!: string;
  /** false: fail for good now, whatever attempts remain (the input is bad, not the weather). */
  @IsOptional() @IsBoolean() retryable?: boolean;
}

/** Retry policy for tasks without a definition (a definition carries its own). */
export const DEFAULT_BACKOFF = { baseSeconds: 10, factor: 2, maxSeconds: 3600 } as const;

/**
 * The work queue: workers claim ready tasks under a lease, keep it alive with
 * heartbeats, and report success or failure. Each call is one short transaction
 * inside one organization (row-level security), built so that many workers on
 * separate connections never claim the same task twice.
 */
export class WorkQueueService {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * Claims up to `count` ready tasks whose dependencies all succeeded and whose
   * `run_after` has come, best first (priority, then age), skipping rows other
   * workers hold (FOR UPDATE SKIP LOCKED); starts an execution row for each.
   * Expired leases met on the way are released first: their execution is closed
   * as `lost` and the task is ready again (or failed, if it has no attempts left).
   */
  async claim(organizationId: string, input: ClaimInput): Promise<Task[]> {
    const valid = await validateInput(ClaimInput, input, 'claim');
    return withTenant(this.dataSource, organizationId, async (m) => {
      const claimed: Record<string, unknown>[] = [];
      // Tasks released in a pass are ready only for the next statement: one more pass picks them up.
      for (let pass = 0; pass < 2 && claimed.length < valid.count; pass++) {
        const [result] = await m.query(CLAIM_SQL, [valid.workerId, valid.count - claimed.length, valid.leaseSeconds]);
        if (result.failed_for_good) await m.query('SELECT tasks.block_dependents($1::uuid[])', [result.failed_for_good]);
        claimed.push(...(result.claimed ?? []));
        if (Number(result.released) === 0) break;
      }
      return hydrate(m, Task, claimed);
    }, { actor: valid.workerId });
  }

  /** Extends the lease of a task the worker holds; returns the new expiry. */
  async heartbeat(organizationId: string, taskId: string, input: HeartbeatInput): Promise<Date> {
    validateId(taskId, 'taskId', 'heartbeat');
    const valid = await validateInput(HeartbeatInput, input, 'heartbeat');
    return withTenant(this.dataSource, organizationId, async (m) => {
      const [rows] = await m.query(
        `UPDATE tasks.tasks SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
          WHERE id = $1 AND status = 'running' AND locked_by = $2
          RETURNING lease_expires_at`,
        [taskId, valid.workerId, valid.leaseSeconds],
      );
      if (rows.length === 0) await refuseNotHeld(m, taskId, valid.workerId, 'heartbeat');
      return new Date(rows[0].lease_expires_at);
    }, { actor: valid.workerId });
  }

  /** Marks a held task succeeded, closes its execution, and readies dependents whose dependencies have all succeeded. */
  async complete(organizationId: string, taskId: string, input: CompleteInput): Promise<Task> {
    validateId(taskId, 'taskId', 'completion');
    const valid = await validateInput(CompleteInput, input, 'completion');
    return withTenant(this.dataSource, organizationId, async (m) => {
      const [rows] = await m.query(COMPLETE_SQL, [taskId, valid.workerId, valid.output ?? {}, ...usageParams(valid)]);
      if (rows.length === 0) await refuseNotHeld(m, taskId, valid.workerId, 'complete');
      await m.query('SELECT tasks.promote_dependents($1::uuid[])', [[taskId]]);
      return hydrate(m, Task, rows)[0];
    }, { actor: valid.workerId });
  }

  /**
   * Records a failed attempt. With attempts left (and `retryable` not false) the
   * task is ready again after an exponential backoff: base × factor^(attempt−1),
   * capped; otherwise it fails for good and everything downstream is blocked.
   */
  async fail(organizationId: string, taskId: string, input: FailInput): Promise<Task> {
    validateId(taskId, 'taskId', 'failure');
    const valid = await validateInput(FailInput, input, 'failure');
    return withTenant(this.dataSource, organizationId, async (m) => {
      const [rows] = await m.query(FAIL_SQL, [
        taskId, valid.workerId, valid.error, valid.retryable ?? true, ...usageParams(valid),
        DEFAULT_BACKOFF.baseSeconds, DEFAULT_BACKOFF.factor, DEFAULT_BACKOFF.maxSeconds,
      ]);
      if (rows.length === 0) await refuseNotHeld(m, taskId, valid.workerId, 'fail');
      const [task] = hydrate(m, Task, rows);
      if (task.status === 'failed') await m.query('SELECT tasks.block_dependents($1::uuid[])', [[taskId]]);
      return task;
    }, { actor: valid.workerId });
  }

  /** Releases every expired lease now (claim does it too); returns how many were released. For a periodic sweeper. */
  async releaseExpiredLeases(organizationId: string): Promise<number> {
    return withTenant(this.dataSource, organizationId, async (m) => {
      let released = 0;
      for (;;) {
        const [result] = await m.query(CLAIM_SQL, ['(sweeper)', 0, 1]);
        if (result.failed_for_good) await m.query('SELECT tasks.block_dependents($1::uuid[])', [result.failed_for_good]);
        released += Number(result.released);
        if (Number(result.released) < RELEASE_BATCH) return released;
      }
    });
  }
}

const RELEASE_BATCH = 100;

/**
 * One statement: release expired leases (a batch), then pick and lock ready
 * tasks in claim order skipping locked rows, mark them running under the lease,
 * and open their execution rows. The execution's started_at is the task's
 * locked_at, so later statements find the open execution by its partition key.
 */
const CLAIM_SQL = `
WITH expired AS MATERIALIZED (
  SELECT t.id, t.locked_at, t.attempts, t.max_attempts, t.locked_by
    FROM tasks.tasks t
   WHERE t.status = 'running' AND t.lease_expires_at < now()
   ORDER BY t.lease_expires_at
   LIMIT ${RELEASE_BATCH}
     FOR UPDATE SKIP LOCKED
), lost AS (
  UPDATE tasks.task_executions x
     SET status = 'lost', finished_at = now(), duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer,
         error = 'lease expired: worker ' || e.locked_by || ' stopped reporting'
    FROM expired e
   WHERE x.task_id = e.id AND x.started_at = e.locked_at AND x.attempt = e.attempts AND x.status = 'running'
), released AS (
  UPDATE tasks.tasks t
     SET status = CASE WHEN e.attempts >= e.max_attempts THEN 'failed' ELSE 'ready' END,
         finished_at = CASE WHEN e.attempts >= e.max_attempts THEN now() END,
         run_after = now(), locked_by = NULL, locked_at = NULL, lease_expires_at = NULL, updated_at = now(),
         last_error = 'lease expired: worker ' || e.locked_by || ' stopped reporting'
    FROM expired e
   WHERE t.id = e.id
  RETURNING t.id, t.status
), picked AS MATERIALIZED (
  SELECT t.id
    FROM tasks.tasks t
   WHERE t.status = 'ready' AND t.run_after <= now()
   ORDER BY t.priority DESC, t.created_at, t.id
   LIMIT $2
     FOR UPDATE SKIP LOCKED
), claimed AS (
  UPDATE tasks.tasks t
     SET status = 'running', attempts = t.attempts + 1, locked_by = $1, locked_at = now(),
         lease_expires_at = now() + make_interval(secs => $3), started_at = coalesce(t.started_at, now()), updated_at = now()
    FROM picked p
   WHERE t.id = p.id
  RETURNING t.*
), opened AS (
  INSERT INTO tasks.task_executions (organization_id, task_id, attempt, worker_id, status, started_at)
  SELECT c.organization_id, c.id, c.attempts, $1, 'running', c.locked_at FROM claimed c
)
SELECT (SELECT json_agg(c ORDER BY c.priority DESC, c.created_at, c.id) FROM claimed c) AS claimed,
       (SELECT array_agg(r.id) FROM released r WHERE r.status = 'failed') AS failed_for_good,
       (SELECT count(*) FROM released) AS released`;

const CLOSE_EXECUTION = (status: string, error: string) => `
  UPDATE tasks.task_executions x
     SET status = ${status}, finished_at = now(), duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer,
         error = ${error}, cpu_ms = $U1, peak_memory_bytes = $U2, input_tokens = $U3, output_tokens = $U4, metadata = x.metadata || $U5
    FROM held h
   WHERE x.task_id = h.id AND x.started_at = h.locked_at AND x.attempt = h.attempts AND x.status = 'running'`;

function withUsage(sql: string, first: number): string {
  return sql.replace(/\$U(\d)/g, (_, n: string) => `$${first + Number(n) - 1}`);
}

function usageParams(usage: UsageReport): unknown[] {
  return [usage.cpuMs ?? null, usage.peakMemoryBytes ?? null, usage.inputTokens ?? null, usage.outputTokens ?? null, usage.metadata ?? {}];
}

const COMPLETE_SQL = withUsage(`
WITH held AS MATERIALIZED (
  SELECT t.id, t.locked_at, t.attempts FROM tasks.tasks t
   WHERE t.id = $1 AND t.status = 'running' AND t.locked_by = $2
     FOR UPDATE
), closed AS (${CLOSE_EXECUTION(`'succeeded'`, 'NULL')})
UPDATE tasks.tasks t
   SET status = 'succeeded', output = $3, finished_at = now(), updated_at = now(),
       locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
  FROM held h
 WHERE t.id = h.id
RETURNING t.*`, 4);

const FAIL_SQL = withUsage(`
WITH held AS MATERIALIZED (
  SELECT t.id, t.locked_at, t.attempts, t.max_attempts,
         $4::boolean AND t.attempts < t.max_attempts AS retry,
         least(coalesce(d.backoff_max_seconds, $12), coalesce(d.backoff_base_seconds, $10) * power(coalesce(d.backoff_factor, $11), t.attempts - 1)) AS delay_seconds
    FROM tasks.tasks t
    LEFT JOIN tasks.task_definitions d ON d.organization_id = t.organization_id AND d.id = t.definition_id
   WHERE t.id = $1 AND t.status = 'running' AND t.locked_by = $2
     FOR UPDATE OF t
), closed AS (${CLOSE_EXECUTION(`'failed'`, '$3')})
UPDATE tasks.tasks t
   SET status = CASE WHEN h.retry THEN 'ready' ELSE 'failed' END,
       run_after = CASE WHEN h.retry THEN now() + make_interval(secs => h.delay_seconds) ELSE t.run_after END,
       finished_at = CASE WHEN h.retry THEN NULL ELSE now() END,
       last_error = $3, updated_at = now(), locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
  FROM held h
 WHERE t.id = h.id
RETURNING t.*`, 5);

/** Explains why a worker's report was refused: the task does not exist, or the worker does not hold it. */
async function refuseNotHeld(m: EntityManager, taskId: string, workerId: string, action: string): Promise<never> {
  const [row] = await m.query('SELECT status, locked_by FROM tasks.tasks WHERE id = $1', [taskId]);
  if (!row) throw new NotFoundError('task', { id: taskId });
  const holder = row.status === 'running' ? `held by ${row.locked_by}` : row.status;
  throw new StateError(`cannot ${action} task ${taskId}: it is ${holder}, not held by worker ${workerId}`);
}
