import { Type } from 'class-transformer';
import { IsDate } from 'class-validator';
import { TenantConnection, TenantService, ValidationError, validateInput } from '@strata/base';
import { tasksModule } from '../tasks.module';
import { TASK_STATUSES, TaskStatus } from '../entities';

export class StatsWindowInput {
  @Type(() => Date) @IsDate() from!: Date;
  @Type(() => Date) @IsDate() to!: Date;
}

/** Executions in a window, grouped by task definition or by worker (the seeds' agent_performance_metrics). */
export interface ExecutionStats {
  executions: number;
  succeeded: number;
  failed: number;
  lost: number;
  cancelled: number;
  /** succeeded / finished executions, 0..1 (null when none finished). */
  successRate: number | null;
  /** Finished executions per hour of the window. */
  throughputPerHour: number;
  /** Durations of attempts that reported (succeeded or failed), in milliseconds. */
  p50DurationMs: number | null;
  p95DurationMs: number | null;
  avgDurationMs: number | null;
  inputTokens: number;
  outputTokens: number;
}

export interface TaskStats {
  from: Date;
  to: Date;
  /** Current queue depth by status (soft-deleted tasks left out). */
  queue: Record<TaskStatus, number>;
  byDefinition: (ExecutionStats & { definitionId: string | null; definitionName: string | null })[];
  byWorker: (ExecutionStats & { workerId: string })[];
}

/** Queue depth, throughput and duration percentiles for an organization's tasks. */
export class TaskStatsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, tasksModule);
  }

  /** Executions that started in [from, to); the window also prunes execution partitions. */
  async stats(organizationId: string, window: StatsWindowInput): Promise<TaskStats> {
    const valid = await validateInput(StatsWindowInput, window, 'stats window');
    if (valid.to <= valid.from) throw ValidationError.forField('to', 'must be after from', 'stats window');
    const hours = (valid.to.getTime() - valid.from.getTime()) / 3_600_000;
    return this.scope.run(organizationId, async (m) => {
      const queueRows: { status: TaskStatus; n: string }[] = await m.query(
        'SELECT status, count(*) AS n FROM tasks.tasks WHERE deleted_at IS NULL GROUP BY status',
      );
      const queue = Object.fromEntries(TASK_STATUSES.map((s) => [s, 0])) as Record<TaskStatus, number>;
      for (const row of queueRows) queue[row.status] = Number(row.n);

      const grouped = (key: string, join: string) => `
        SELECT ${key},
               count(*) AS executions,
               count(*) FILTER (WHERE x.status = 'succeeded') AS succeeded,
               count(*) FILTER (WHERE x.status = 'failed') AS failed,
               count(*) FILTER (WHERE x.status = 'lost') AS lost,
               count(*) FILTER (WHERE x.status = 'cancelled') AS cancelled,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY x.duration_ms) FILTER (WHERE x.status IN ('succeeded', 'failed')) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY x.duration_ms) FILTER (WHERE x.status IN ('succeeded', 'failed')) AS p95,
               avg(x.duration_ms) FILTER (WHERE x.status IN ('succeeded', 'failed')) AS avg,
               coalesce(sum(x.input_tokens), 0) AS input_tokens,
               coalesce(sum(x.output_tokens), 0) AS output_tokens
          FROM tasks.task_executions x ${join}
         WHERE x.started_at >= $1 AND x.started_at < $2
         GROUP BY 1${key.includes(',') ? ', 2' : ''}
         ORDER BY count(*) DESC`;
      const params = [valid.from, valid.to];
      const byDefinition = await m.query(
        grouped(
          't.definition_id, d.name AS definition_name',
          `JOIN tasks.tasks t ON t.organization_id = x.organization_id AND t.id = x.task_id
           LEFT JOIN tasks.task_definitions d ON d.organization_id = t.organization_id AND d.id = t.definition_id`,
        ),
        params,
      );
      const byWorker = await m.query(grouped('x.worker_id', ''), params);
      return {
        from: valid.from,
        to: valid.to,
        queue,
        byDefinition: byDefinition.map((r: Row) => ({
          definitionId: r.definition_id,
          definitionName: r.definition_name,
          ...executionStats(r, hours),
        })),
        byWorker: byWorker.map((r: Row) => ({ workerId: r.worker_id, ...executionStats(r, hours) })),
      };
    });
  }
}

type Row = Record<string, string | number | null>;

function executionStats(r: Row, hours: number): ExecutionStats {
  const n = (v: string | number | null) => (v === null ? null : Number(v));
  const succeeded = Number(r.succeeded);
  const finished = succeeded + Number(r.failed) + Number(r.lost) + Number(r.cancelled);
  return {
    executions: Number(r.executions),
    succeeded,
    failed: Number(r.failed),
    lost: Number(r.lost),
    cancelled: Number(r.cancelled),
    successRate: finished === 0 ? null : succeeded / finished,
    throughputPerHour: finished / hours,
    p50DurationMs: n(r.p50),
    p95DurationMs: n(r.p95),
    avgDurationMs: n(r.avg),
    inputTokens: Number(r.input_tokens),
    outputTokens: Number(r.output_tokens),
  };
}
