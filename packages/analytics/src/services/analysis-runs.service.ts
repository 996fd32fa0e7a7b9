import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsDate,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import {
  NotFoundError,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  translateDatabaseError,
  validateId,
  validateInput,
} from '@strata/base';
import { ANALYSIS_RUN_STATUSES, AnalysisRun } from '../entities';
import type { AnalysisRunStatus } from '../entities';
import { analyticsModule } from '../analytics.module';
import { METRIC_NAME_PATTERN } from './metric-input';

export class CreateAnalysisRunInput {
  @IsString() @Length(1, 64) kind!: string;
  @IsString() @Length(1, 255) tool!: string;
  @IsOptional() @IsString() @Length(1, 64) toolVersion?: string | null;
  @IsOptional() @IsUUID() projectId?: string | null;
  @IsOptional() @IsUUID() repositoryId?: string | null;
  @IsOptional() @IsUUID() snapshotId?: string | null;
  @IsOptional() @IsIn(ANALYSIS_RUN_STATUSES) status?: AnalysisRunStatus;
  @IsOptional() @IsDate() startedAt?: Date | null;
  @IsOptional() @IsDate() finishedAt?: Date | null;
  @IsOptional() @IsObject() summary?: Record<string, unknown>;
  @IsOptional() @IsString() @MaxLength(100_000) error?: string | null;
}

export class RunMetricInput {
  @Matches(METRIC_NAME_PATTERN) name!: string;
  @IsNumber({ allowNaN: false, allowInfinity: false }) value!: number;
  @IsOptional() @IsString() @Length(1, 32) unit?: string | null;
}

export class RecordRunMetricsInput {
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(1000) @ValidateNested({ each: true }) @Type(() => RunMetricInput) metrics!: RunMetricInput[];
}

export class RunMetricTrendInput {
  @IsUUID() repositoryId!: string;
  @Matches(METRIC_NAME_PATTERN) name!: string;
  /** The newest runs to include (default 100). */
  @IsOptional() @IsInt() @Min(1) @Max(1000) limit?: number;
}

export interface RunMetricTrendPoint {
  runId: string;
  /** started_at, or created_at for a run that never started. */
  at: Date;
  tool: string;
  toolVersion: string | null;
  value: number;
  unit: string | null;
}

/** Analysis runs and their per-run figures. */
export class AnalysisRunsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, analyticsModule);
  }

  async create(organizationId: string, input: CreateAnalysisRunInput): Promise<AnalysisRun> {
    const v = await validateInput(CreateAnalysisRunInput, input, 'analysis run');
    try {
      return await this.scope.run(organizationId, async (m) => {
        const rows = await m.query(
          `INSERT INTO analytics.analysis_runs (organization_id, kind, tool, tool_version, project_id, repository_id, snapshot_id,
                                                status, started_at, finished_at, summary, error)
           VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce($8, 'queued'), $9, $10, coalesce($11, '{}')::jsonb, $12) RETURNING *`,
          [
            organizationId,
            v.kind,
            v.tool,
            v.toolVersion ?? null,
            v.projectId ?? null,
            v.repositoryId ?? null,
            v.snapshotId ?? null,
            v.status ?? null,
            v.startedAt ?? null,
            v.finishedAt ?? null,
            v.summary ? JSON.stringify(v.summary) : null,
            v.error ?? null,
          ],
        );
        return hydrate(m, AnalysisRun, rows)[0];
      });
    } catch (error) {
      translateDatabaseError(error, 'analysis run', {
        analysis_runs_finished_at_check: ['finishedAt'],
        // The composer's references, where the module is composed.
        analysis_runs_organization_id_project_id_fkey: ['projectId'],
        analysis_runs_organization_id_repository_id_fkey: ['repositoryId'],
      });
    }
  }

  /** Records (or replaces, by name) figures of a run in one statement. */
  async recordMetrics(organizationId: string, runId: string, input: RecordRunMetricsInput): Promise<number> {
    validateId(runId, 'runId', 'analysis run metrics');
    const { metrics } = await validateInput(RecordRunMetricsInput, input, 'analysis run metrics');
    const names = metrics.map((x) => x.name);
    const duplicate = names.find((name, i) => names.indexOf(name) !== i);
    if (duplicate !== undefined) throw ValidationError.forField('metrics', `names a metric twice: ${duplicate}`, 'analysis run metrics');
    try {
      return await this.scope.run(organizationId, async (m) => {
        const found = await m.query(`SELECT 1 FROM analytics.analysis_runs WHERE organization_id = $1 AND id = $2 FOR KEY SHARE`, [
          organizationId,
          runId,
        ]);
        if (found.length === 0) throw new NotFoundError('analysis run', { id: runId });
        const written: unknown[] = await m.query(
          `INSERT INTO analytics.analysis_run_metrics (organization_id, run_id, name, value, unit)
           SELECT $1, $2, u.name, u.value, u.unit FROM unnest($3::text[], $4::float8[], $5::text[]) AS u(name, value, unit)
           ON CONFLICT (organization_id, run_id, name) DO UPDATE SET value = EXCLUDED.value, unit = EXCLUDED.unit
           RETURNING 1`,
          [organizationId, runId, names, metrics.map((x) => x.value), metrics.map((x) => x.unit ?? null)],
        );
        return written.length;
      });
    } catch (error) {
      translateDatabaseError(error, 'analysis run metrics');
    }
  }

  /** One figure over the newest runs of a repository that recorded it, oldest first: the trend. */
  async trend(organizationId: string, input: RunMetricTrendInput): Promise<RunMetricTrendPoint[]> {
    const v = await validateInput(RunMetricTrendInput, input, 'run metric trend');
    const rows: { run_id: string; at: Date; tool: string; tool_version: string | null; value: number; unit: string | null }[] =
      await this.scope.run(organizationId, (m) =>
        m.query(
          `SELECT * FROM (
             SELECT r.id AS run_id, coalesce(r.started_at, r.created_at) AS at, r.tool, r.tool_version, x.value, x.unit
               FROM analytics.analysis_runs r
               JOIN analytics.analysis_run_metrics x ON x.organization_id = r.organization_id AND x.run_id = r.id AND x.name = $3
              WHERE r.organization_id = $1 AND r.repository_id = $2
              ORDER BY coalesce(r.started_at, r.created_at) DESC, r.id DESC LIMIT $4) t
           ORDER BY t.at, t.run_id`,
          [organizationId, v.repositoryId, v.name, v.limit ?? 100],
        ),
      );
    return rows.map((r) => ({ runId: r.run_id, at: r.at, tool: r.tool, toolVersion: r.tool_version, value: r.value, unit: r.unit }));
  }
}
