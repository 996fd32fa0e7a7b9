import { Check, Column, Entity, Index } from 'typeorm';
import { JsonbColumn, TenantRow } from '@strata/base';

export const ANALYSIS_RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type AnalysisRunStatus = (typeof ANALYSIS_RUN_STATUSES)[number];

/**
 * One run of an analysis tool over code (a linter, a complexity scan, a test
 * suite): what ran, on which project / repository / snapshot, how it ended.
 * The three ids are plain columns; the composer turns them into tenant-consistent
 * references. Per-run figures are in analysis_run_metrics.
 */
@Entity({ schema: 'analytics', name: 'analysis_runs' })
@Index(['organizationId', 'repositoryId', 'createdAt'])
@Index(['organizationId', 'projectId'])
@Check('analysis_runs_kind_check', `"kind" <> ''`)
@Check('analysis_runs_tool_check', `"tool" <> ''`)
@Check('analysis_runs_status_check', `"status" IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')`)
@Check('analysis_runs_finished_at_check', `"finished_at" IS NULL OR ("started_at" IS NOT NULL AND "finished_at" >= "started_at")`)
export class AnalysisRun extends TenantRow {
  @Column({ type: 'uuid', nullable: true })
  projectId!: string | null;

  @Column({ type: 'uuid', nullable: true })
  repositoryId!: string | null;

  @Column({ type: 'uuid', nullable: true })
  snapshotId!: string | null;

  /** What was analysed for, e.g. `quality`, `security`, `complexity`. */
  @Column({ type: 'varchar', length: 64 })
  kind!: string;

  @Column({ type: 'varchar', length: 255 })
  tool!: string;

  @Column({ type: 'varchar', length: 64, nullable: true })
  toolVersion!: string | null;

  @Column({ type: 'varchar', length: 16, default: 'queued' })
  status!: AnalysisRunStatus;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @JsonbColumn()
  summary!: Record<string, unknown>;

  @Column({ type: 'text', nullable: true })
  error!: string | null;
}
