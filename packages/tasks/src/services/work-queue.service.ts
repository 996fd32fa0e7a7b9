import { IsBoolean, IsInt, IsObject, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import {
  NotFoundError,
  StateError,
  TenantConnection,
  TenantService,
  hydrate,
  translateDatabaseError,
  validateId,
  validateInput,
} from '@strata/base';
import { tasksModule } from '../tasks.module';
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

/** The largest value of an `integer` column. */
export const MAX_INT32 = 2_147_483_647;

/** What an attempt used; stored on its execution row. Each number fits its column (integer, or bigint read as a JS number). */
export class UsageReport {
  @IsOptional() @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER) cpuMs?: number;
  @IsOptional() @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER) peakMemoryBytes?: number;
  @IsOptional() @IsInt() @Min(0) @Max(MAX_INT32) inputTokens?: number;
  @IsOptional() @IsInt() @Min(0) @Max(MAX_INT32) outputTokens?: number;
  @IsOptional() @IsObject() metadata?: Record<string, unknown>;
}

export class CompleteInput extends UsageReport {
  @IsString() @Length(1, 255) workerId!: string;
  @IsOptional() @IsObject() output?: Record<string, unknown>;
}

export class CompleteAndClaimInput extends CompleteInput {
  /** How many next tasks to claim for the same worker. */
  @IsInt() @Min(1) @Max(1000) count!: number;
  @IsInt() @Min(1) @Max(DAY_SECONDS) leaseSeconds!: number;
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
 * separate connections never claim the same task twice. Bound to a caller's
 * transaction (`.with(tx)`), the calls run inside it instead (the queue's SQL
 * functions act as the worker; the caller's user and actor are restored after).
 */
export class WorkQueueService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, tasksModule);
  }

  /**
   * Claims up to `count` ready tasks whose dependencies all succeeded and whose
   * `run_after` has come, best first (priority, then age), skipping rows other
   * workers hold (FOR UPDATE SKIP LOCKED); starts an execution row for each.
   * Expired leases met on the way are released first: their execution is closed
   * as `lost` and the task is ready again (or failed, if it has no attempts left).
   */
  async claim(organizationId: string, input: ClaimInput): Promise<Task[]> {
    const valid = await validateInput(ClaimInput, input, 'claim');
    // One statement, one transaction (tasks.claim enters the tenant itself).
    const rows = await this.call(organizationId, 'claim', 'SELECT * FROM tasks.claim($1, $2, $3, $4)', [
      organizationId,
      valid.workerId,
      valid.count,
      valid.leaseSeconds,
    ]);
    return this.hydrate(rows);
  }

  /** Extends the lease of a task the worker holds; returns the new expiry. */
  async heartbeat(organizationId: string, taskId: string, input: HeartbeatInput): Promise<Date> {
    validateId(taskId, 'taskId', 'heartbeat');
    const valid = await validateInput(HeartbeatInput, input, 'heartbeat');
    const [rows] = await this.scope
      .run(
        organizationId,
        (m) =>
          m.query(
            `UPDATE tasks.tasks SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
              WHERE id = $1 AND status = 'running' AND locked_by = $2
              RETURNING lease_expires_at`,
            [taskId, valid.workerId, valid.leaseSeconds],
          ),
        { actor: valid.workerId },
      )
      .catch((error: unknown) => translateDatabaseError(error, 'heartbeat'));
    if (rows.length === 0) await this.refuseNotHeld(organizationId, taskId, valid.workerId, 'heartbeat');
    return new Date(rows[0].lease_expires_at);
  }

  /** Marks a held task succeeded, closes its execution, and readies dependents whose dependencies have all succeeded. */
  async complete(organizationId: string, taskId: string, input: CompleteInput): Promise<Task> {
    validateId(taskId, 'taskId', 'completion');
    const valid = await validateInput(CompleteInput, input, 'completion');
    const rows = await this.call(organizationId, 'completion', 'SELECT * FROM tasks.complete($1, $2, $3, $4, $5)', [
      organizationId,
      taskId,
      valid.workerId,
      valid.output ?? {},
      usageOf(valid),
    ]);
    if (rows.length === 0) await this.refuseNotHeld(organizationId, taskId, valid.workerId, 'complete');
    return this.hydrate(rows)[0];
  }

  /**
   * A worker's loop in one round trip and one transaction: completes the task it
   * holds (as `complete`), then claims its next tasks (as `claim`), which may
   * include dependents the completion just made ready. Nothing is claimed when
   * the completion is refused.
   */
  async completeAndClaim(
    organizationId: string,
    taskId: string,
    input: CompleteAndClaimInput,
  ): Promise<{ completed: Task; claimed: Task[] }> {
    validateId(taskId, 'taskId', 'completion');
    const { count, leaseSeconds, ...report } = await validateInput(CompleteAndClaimInput, input, 'completion');
    // The completed task comes first, then the claimed ones; it is succeeded, so never among them.
    const rows = await this.call(organizationId, 'completion', 'SELECT * FROM tasks.complete_and_claim($1, $2, $3, $4, $5, $6, $7)', [
      organizationId,
      taskId,
      report.workerId,
      report.output ?? {},
      usageOf(report),
      count,
      leaseSeconds,
    ]);
    if (rows[0]?.id !== taskId.toLowerCase()) await this.refuseNotHeld(organizationId, taskId, report.workerId, 'complete');
    const [completed, ...claimed] = this.hydrate(rows);
    return { completed, claimed };
  }

  /**
   * Records a failed attempt. With attempts left (and `retryable` not false) the
   * task is ready again after an exponential backoff: base × factor^(attempt−1),
   * capped; otherwise it fails for good and everything downstream is blocked.
   */
  async fail(organizationId: string, taskId: string, input: FailInput): Promise<Task> {
    validateId(taskId, 'taskId', 'failure');
    const valid = await validateInput(FailInput, input, 'failure');
    const rows = await this.call(organizationId, 'failure', 'SELECT * FROM tasks.fail($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
      organizationId,
      taskId,
      valid.workerId,
      valid.error,
      valid.retryable ?? true,
      usageOf(valid),
      DEFAULT_BACKOFF.baseSeconds,
      DEFAULT_BACKOFF.factor,
      DEFAULT_BACKOFF.maxSeconds,
    ]);
    if (rows.length === 0) await this.refuseNotHeld(organizationId, taskId, valid.workerId, 'fail');
    return this.hydrate(rows)[0];
  }

  /** Releases every expired lease now (claim does it too); returns how many were released. For a periodic sweeper. */
  async releaseExpiredLeases(organizationId: string): Promise<number> {
    return this.scope
      .run(organizationId, async (m) => {
        let released = 0;
        for (;;) {
          const [row] = await m.query('SELECT tasks.release_expired_leases($1) AS n', [RELEASE_BATCH]);
          released += row.n;
          if (row.n < RELEASE_BATCH) return released;
        }
      })
      .catch((error: unknown) => translateDatabaseError(error, 'lease release'));
  }

  /**
   * One of the queue's SQL functions, as one prepared statement (standalone, a
   * transaction of its own); its failures become typed errors like every
   * service's. The usage numbers are validated to fit their columns; a number
   * that is out of range all the same is a ValidationError naming them.
   */
  private async call(organizationId: string, subject: string, text: string, parameters: unknown[]): Promise<Record<string, unknown>[]> {
    try {
      return await this.scope.queryPrepared(organizationId, text, parameters);
    } catch (error) {
      translateDatabaseError(error, subject, {}, subject === 'claim' ? [] : USAGE_FIELDS);
    }
  }

  private hydrate(rows: Record<string, unknown>[]): Task[] {
    return hydrate(this.scope.dataSource.manager, Task, rows);
  }

  /** Explains why a worker's report was refused: the task does not exist, or the worker does not hold it. */
  private async refuseNotHeld(organizationId: string, taskId: string, workerId: string, action: string): Promise<never> {
    const [row] = await this.scope.run(organizationId, (m) => m.query('SELECT status, locked_by FROM tasks.tasks WHERE id = $1', [taskId]));
    if (!row) throw new NotFoundError('task', { id: taskId });
    const holder = row.status === 'running' ? `held by ${row.locked_by}` : row.status;
    throw new StateError(`cannot ${action} task ${taskId}: it is ${holder}, not held by worker ${workerId}`);
  }
}

const RELEASE_BATCH = 100;

/** The input fields a number out of range in the queue's functions can be about. */
const USAGE_FIELDS = ['cpuMs', 'peakMemoryBytes', 'inputTokens', 'outputTokens'];

/** The usage report as tasks.complete / tasks.fail take it. */
function usageOf(usage: UsageReport): Record<string, unknown> {
  return {
    cpu_ms: usage.cpuMs ?? null,
    peak_memory_bytes: usage.peakMemoryBytes ?? null,
    input_tokens: usage.inputTokens ?? null,
    output_tokens: usage.outputTokens ?? null,
    metadata: usage.metadata ?? {},
  };
}
