import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

/**
 * Schema `analytics`: analysis runs and their figures, metric points partitioned
 * daily, and the hourly and daily rollups of the points. Every table is made by
 * base's helper: `PRIMARY KEY (organization_id, …)`, forced row-level security,
 * erased with its organization.
 */
const TIMESTAMPS = {
  created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  updated_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
};

const analysisRuns: TenantTable = {
  table: 'analytics.analysis_runs',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    project_id: 'uuid',
    repository_id: 'uuid',
    snapshot_id: 'uuid',
    kind: 'character varying(64) NOT NULL',
    tool: 'character varying(255) NOT NULL',
    tool_version: 'character varying(64)',
    status: `character varying(16) NOT NULL DEFAULT 'queued'`,
    started_at: 'TIMESTAMP WITH TIME ZONE',
    finished_at: 'TIMESTAMP WITH TIME ZONE',
    summary: `jsonb NOT NULL DEFAULT '{}'`,
    error: 'text',
    ...TIMESTAMPS,
  },
  constraints: [
    `CONSTRAINT "analysis_runs_kind_check" CHECK ("kind" <> '')`,
    `CONSTRAINT "analysis_runs_tool_check" CHECK ("tool" <> '')`,
    `CONSTRAINT "analysis_runs_status_check" CHECK ("status" IN ('queued', 'running', 'succeeded', 'failed', 'cancelled'))`,
    `CONSTRAINT "analysis_runs_finished_at_check" CHECK ("finished_at" IS NULL OR ("started_at" IS NOT NULL AND "finished_at" >= "started_at"))`,
  ],
  audit: true,
};

const analysisRunMetrics: TenantTable = {
  table: 'analytics.analysis_run_metrics',
  columns: {
    run_id: 'uuid NOT NULL',
    name: 'character varying(255) NOT NULL',
    value: 'double precision NOT NULL',
    unit: 'character varying(32)',
    created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
  key: ['run_id', 'name'],
  constraints: [
    `CONSTRAINT "analysis_run_metrics_organization_id_run_id_fkey" FOREIGN KEY ("organization_id", "run_id")
       REFERENCES "analytics"."analysis_runs" ("organization_id", "id") ON DELETE CASCADE`,
  ],
};

const metricPoints: TenantTable = {
  table: 'analytics.metric_points',
  columns: {
    name: 'character varying(255) NOT NULL',
    ts: 'TIMESTAMP WITH TIME ZONE NOT NULL',
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    category: 'character varying(64)',
    value: 'double precision NOT NULL',
    unit: 'character varying(32)',
    tags: `jsonb NOT NULL DEFAULT '{}'`,
    source: 'character varying(255)',
  },
  // Also the index of every read by metric and time.
  key: ['name', 'ts', 'id'],
  constraints: [
    `CONSTRAINT "metric_points_name_check" CHECK ("name" <> '')`,
    `CONSTRAINT "metric_points_value_check" CHECK ("value" > '-Infinity' AND "value" < 'Infinity')`,
  ],
  partition: { column: 'ts', interval: 'day', premake: 7, retention: '30 days' },
};

function rollups(table: 'metric_rollups_hourly' | 'metric_rollups_daily'): TenantTable {
  return {
    table: `analytics.${table}`,
    columns: {
      name: 'character varying(255) NOT NULL',
      bucket_start: 'TIMESTAMP WITH TIME ZONE NOT NULL',
      tags: 'jsonb NOT NULL',
      count: 'bigint NOT NULL',
      sum: 'double precision NOT NULL',
      min: 'double precision NOT NULL',
      max: 'double precision NOT NULL',
      sketch_keys: 'integer array NOT NULL',
      sketch_counts: 'bigint array NOT NULL',
      refreshed_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
    },
    key: ['name', 'bucket_start', 'tags'],
    constraints: [
      `CONSTRAINT "${table}_count_check" CHECK ("count" > 0 AND "min" <= "max")`,
      `CONSTRAINT "${table}_sketch_check" CHECK (cardinality("sketch_keys") = cardinality("sketch_counts"))`,
    ],
  };
}

const TABLES = [analysisRuns, analysisRunMetrics, metricPoints, rollups('metric_rollups_hourly'), rollups('metric_rollups_daily')];

export class CreateAnalyticsSchema1796330000000 implements MigrationInterface {
  name = 'CreateAnalyticsSchema1796330000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of TABLES) await createTenantTable(q, table);
    await q.query(
      `CREATE INDEX "analysis_runs_organization_id_repository_id_created_at_idx" ON "analytics"."analysis_runs" ("organization_id", "repository_id", "created_at")`,
    );
    await q.query(
      `CREATE INDEX "analysis_runs_organization_id_project_id_idx" ON "analytics"."analysis_runs" ("organization_id", "project_id")`,
    );
    // Tag filters (`tags @> '{"env":"prod"}'`); TypeORM cannot express a GIN index.
    await q.query(`CREATE INDEX "metric_points_tags_idx" ON "analytics"."metric_points" USING gin ("tags")`);
    await q.query(`COMMENT ON INDEX "analytics"."metric_points_tags_idx" IS 'strata:manual GIN index on tags'`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [...TABLES].reverse()) await dropTenantTable(q, table);
    await q.query(`REVOKE USAGE ON SCHEMA "analytics" FROM strata_app`);
  }
}
