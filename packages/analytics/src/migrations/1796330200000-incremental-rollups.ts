import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

const SEARCH_PATH = 'SET search_path = pg_catalog, pg_temp';

/** How far an organization's hourly rollups are complete: every hour before `refreshed_through`. */
const watermarks: TenantTable = {
  table: 'analytics.rollup_watermarks',
  columns: {
    refreshed_through: `TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT '-infinity'`,
    refreshed_at: 'TIMESTAMP WITH TIME ZONE',
  },
  key: [],
};

/**
 * Late points (earlier than the watermark when they arrived), already rolled up
 * per metric, tag set and hour by the ingest that wrote them; the next refresh
 * merges them into their hour (exact) and deletes them. So a late point re-rolls
 * its bucket even after the raw day has gone with retention.
 */
const deltas: TenantTable = {
  table: 'analytics.rollup_deltas',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    name: 'character varying(255) NOT NULL',
    bucket_start: 'TIMESTAMP WITH TIME ZONE NOT NULL',
    tags: 'jsonb NOT NULL',
    count: 'bigint NOT NULL',
    sum: 'double precision NOT NULL',
    min: 'double precision NOT NULL',
    max: 'double precision NOT NULL',
    sketch_keys: 'integer array NOT NULL',
    sketch_counts: 'bigint array NOT NULL',
    created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
};

/** Merges rollup rows of `source` (a query with the rollup columns) by (name, tags, date_trunc(bucket)): counts add key by key. */
function mergeRollups(source: string, bucket: string): string {
  return `
    WITH src AS (SELECT s.name, date_trunc(${bucket}, s.bucket_start, 'UTC') AS bucket_start, s.tags, s.count, s.sum, s.min, s.max,
                        s.sketch_keys, s.sketch_counts FROM (${source}) s),
    totals AS (SELECT t.name, t.bucket_start, t.tags, sum(t.count)::bigint AS count, sum(t.sum) AS sum, min(t.min) AS min, max(t.max) AS max
                 FROM src t GROUP BY 1, 2, 3),
    bins AS (SELECT b.name, b.bucket_start, b.tags, u.k, sum(u.n)::bigint AS n
               FROM src b CROSS JOIN LATERAL unnest(b.sketch_keys, b.sketch_counts) AS u(k, n) GROUP BY 1, 2, 3, 4),
    sketches AS (SELECT b.name, b.bucket_start, b.tags, array_agg(b.k ORDER BY b.k) AS keys, array_agg(b.n ORDER BY b.k) AS counts
                   FROM bins b GROUP BY 1, 2, 3)
    SELECT t.name, t.bucket_start, t.tags, t.count, t.sum, t.min, t.max, s.keys, s.counts
      FROM totals t JOIN sketches s USING (name, bucket_start, tags)`;
}

const UPSERT = `ON CONFLICT (organization_id, name, bucket_start, tags) DO UPDATE SET count = EXCLUDED.count, sum = EXCLUDED.sum,
  min = EXCLUDED.min, max = EXCLUDED.max, sketch_keys = EXCLUDED.sketch_keys, sketch_counts = EXCLUDED.sketch_counts, refreshed_at = now()`;
const COLUMNS = '(organization_id, name, bucket_start, tags, count, sum, min, max, sketch_keys, sketch_counts)';

/**
 * Incremental refresh, Timescale's continuous aggregates in small: the hours
 * from the watermark up to the last complete hour before `p_until` are rolled up
 * from raw points, late points' deltas are merged into their hours, the days
 * any of those hours fall in are merged again from their hours, and the
 * watermark moves on. Only touched buckets are written, so a second refresh
 * with nothing new writes nothing. The watermark row is locked FOR UPDATE for
 * the refresh and FOR SHARE by each ingest, so a point is either seen by the
 * refresh's scan or logged as late, never lost between them.
 */
const REFRESH = `
  CREATE FUNCTION analytics.refresh_rollups(p_organization_id uuid, p_until timestamptz DEFAULT now())
  RETURNS jsonb LANGUAGE plpgsql VOLATILE ${SEARCH_PATH} AS $fn$
  DECLARE
    v_from timestamptz;
    v_to timestamptz;
    v_hours bigint := 0;
    v_late bigint := 0;
    v_days timestamptz[] := '{}';
    v_late_days timestamptz[];
    v_day timestamptz;
  BEGIN
    INSERT INTO analytics.rollup_watermarks (organization_id) VALUES (p_organization_id) ON CONFLICT DO NOTHING;
    SELECT w.refreshed_through INTO v_from FROM analytics.rollup_watermarks w WHERE w.organization_id = p_organization_id FOR UPDATE;
    v_to := greatest(v_from, date_trunc('hour', p_until, 'UTC'));

    IF v_to > v_from THEN
      WITH written AS (
        INSERT INTO analytics.metric_rollups_hourly ${COLUMNS}
        SELECT p_organization_id, r.* FROM analytics.rollup_points(p_organization_id, v_from, v_to, 'hour') r
        ${UPSERT}
        RETURNING bucket_start)
      SELECT count(*), coalesce(array_agg(DISTINCT date_trunc('day', w.bucket_start, 'UTC')), '{}') INTO v_hours, v_days FROM written w;
    END IF;

    WITH late AS (DELETE FROM analytics.rollup_deltas d WHERE d.organization_id = p_organization_id
                  RETURNING d.name, d.bucket_start, d.tags, d.count, d.sum, d.min, d.max, d.sketch_keys, d.sketch_counts),
    written AS (
      INSERT INTO analytics.metric_rollups_hourly ${COLUMNS}
      SELECT p_organization_id, m.* FROM (${mergeRollups(
        `SELECT * FROM late
         UNION ALL
         SELECT h.name, h.bucket_start, h.tags, h.count, h.sum, h.min, h.max, h.sketch_keys, h.sketch_counts
           FROM analytics.metric_rollups_hourly h
          WHERE h.organization_id = p_organization_id AND (h.name, h.bucket_start, h.tags) IN (SELECT l.name, l.bucket_start, l.tags FROM late l)`,
        `'hour'`,
      )}) m
      ${UPSERT}
      RETURNING bucket_start)
    SELECT count(*), coalesce(array_agg(DISTINCT date_trunc('day', w.bucket_start, 'UTC')), '{}') INTO v_late, v_late_days FROM written w;
    SELECT coalesce(array_agg(DISTINCT d ORDER BY d), '{}') INTO v_days FROM unnest(v_days || v_late_days) AS d;
    FOREACH v_day IN ARRAY v_days LOOP
      INSERT INTO analytics.metric_rollups_daily ${COLUMNS}
      SELECT p_organization_id, m.*
        FROM analytics.merge_hourly_rollups(p_organization_id, v_day, v_day + interval '1 day', 'day') m
      ${UPSERT};
    END LOOP;

    UPDATE analytics.rollup_watermarks w SET refreshed_through = v_to, refreshed_at = now() WHERE w.organization_id = p_organization_id;
    RETURN jsonb_build_object('from', v_from, 'to', v_to, 'hours', v_hours, 'late_hours', v_late, 'days', cardinality(v_days));
  END
  $fn$`;

export class IncrementalRollups1796330200000 implements MigrationInterface {
  name = 'IncrementalRollups1796330200000';

  async up(q: QueryRunner): Promise<void> {
    await createTenantTable(q, watermarks);
    await createTenantTable(q, deltas);
    await q.query(REFRESH);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION analytics.refresh_rollups(uuid, timestamptz)`);
    await dropTenantTable(q, deltas);
    await dropTenantTable(q, watermarks);
  }
}
