import { ArrayMaxSize, ArrayMinSize, IsArray, IsDate, IsNumber, IsObject, IsOptional, Matches, Max, Min } from 'class-validator';
import { TenantConnection, TenantService, ValidationError, translateDatabaseError, validateInput } from '@strata/base';
import { analyticsModule } from '../analytics.module';
import { METRIC_NAME_PATTERN, MetricPointInput, validatePoints } from './metric-input';

const BATCH = `unnest($2::text[], $3::timestamptz[], $4::float8[], $5::text[], $6::text[], $7::jsonb[], $8::text[])
  AS u(name, ts, value, unit, category, tags, source)`;

/** One statement for the whole batch: the columns as arrays, unnested together. */
const INSERT_POINTS = `
  INSERT INTO analytics.metric_points (organization_id, name, ts, value, unit, category, tags, source)
  SELECT $1, u.name, u.ts, u.value, u.unit, u.category, u.tags, u.source FROM ${BATCH}`;

/**
 * The same, when some points are earlier than the watermark: those are also
 * rolled up per metric, tag set and hour (the sketch of rollup_points) into
 * rollup_deltas, which the next refresh merges into their hours.
 */
const INSERT_POINTS_WITH_LATE = `
  WITH batch AS (SELECT * FROM ${BATCH}),
  written AS (
    INSERT INTO analytics.metric_points (organization_id, name, ts, value, unit, category, tags, source)
    SELECT $1, b.name, b.ts, b.value, b.unit, b.category, b.tags, b.source FROM batch b),
  bins AS (
    SELECT b.name, date_trunc('hour', b.ts, 'UTC') AS bucket_start, b.tags, analytics.sketch_key(b.value) AS k,
           count(*) AS n, sum(b.value) AS s, min(b.value) AS lo, max(b.value) AS hi
      FROM batch b WHERE b.ts < $9 GROUP BY 1, 2, 3, 4)
  INSERT INTO analytics.rollup_deltas (organization_id, name, bucket_start, tags, count, sum, min, max, sketch_keys, sketch_counts)
  SELECT $1, b.name, b.bucket_start, b.tags, sum(b.n), sum(b.s), min(b.lo), max(b.hi), array_agg(b.k ORDER BY b.k), array_agg(b.n ORDER BY b.k)
    FROM bins b GROUP BY b.name, b.bucket_start, b.tags`;

/** FOR SHARE: waits while a refresh holds the row, so the refresh's scan and this batch never miss each other. */
const WATERMARK = `SELECT CASE WHEN refreshed_through = '-infinity' THEN NULL ELSE refreshed_through END AS through
  FROM analytics.rollup_watermarks WHERE organization_id = $1 FOR SHARE`;

export interface IngestResult {
  inserted: number;
  /** Points earlier than the rollups' watermark: their hours are re-rolled by the next refresh. */
  late: number;
}

export interface RefreshResult {
  /** The watermark before and after: hours in [from, to) were rolled up from raw points. */
  from: Date | null;
  to: Date | null;
  /** Hourly rollup rows written from raw points. */
  hours: number;
  /** Hourly rollup rows that late points re-rolled. */
  lateHours: number;
  /** Days merged again from their hours. */
  days: number;
}

export class RefreshRollupsInput {
  /** Roll up the complete hours before this instant (default now). */
  @IsOptional() @IsDate() until?: Date;
}

export class MetricQuantilesInput {
  @Matches(METRIC_NAME_PATTERN) name!: string;
  @IsDate() from!: Date;
  @IsDate() to!: Date;
  /** Only points whose tags contain these (`{ env: 'prod' }`); default all. */
  @IsOptional() @IsObject() tags?: Record<string, string>;
  /** Default p50, p95, p99. */
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @IsNumber({}, { each: true })
  @Min(0, { each: true })
  @Max(1, { each: true })
  quantiles?: number[];
}

export interface MetricQuantiles {
  count: number;
  sum: number | null;
  min: number | null;
  max: number | null;
  /** q → estimate, within the sketch's relative error of the exact value at rank ⌈q·n⌉; q = 0 and 1 are the exact min and max. */
  quantiles: Record<string, number | null>;
  /** Where the answer came from: rollup rows merged, and raw points read (window edges inside an hour, and the hours past the watermark). */
  sources: { dailyRollups: number; hourlyRollups: number; rawPoints: number };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const floorTo = (t: number, step: number) => Math.floor(t / step) * step;
const ceilTo = (t: number, step: number) => Math.ceil(t / step) * step;

/**
 * p-quantiles of one metric over [from, to): whole UTC days from the daily
 * rollups, whole hours from the hourly ones, and raw points only for what no
 * rollup covers (the edges inside an hour, and everything past the watermark).
 * Every part is turned into sketch bins and merged, then ranked once.
 */
const QUANTILES = `
  WITH rolled AS (
    SELECT 'daily' AS source, d.count, d.sum, d.min, d.max, d.sketch_keys, d.sketch_counts FROM analytics.metric_rollups_daily d
     WHERE d.organization_id = $1 AND d.name = $2 AND d.tags @> $3 AND d.bucket_start >= $4 AND d.bucket_start < $5
    UNION ALL
    SELECT 'hourly', h.count, h.sum, h.min, h.max, h.sketch_keys, h.sketch_counts FROM analytics.metric_rollups_hourly h
     WHERE h.organization_id = $1 AND h.name = $2 AND h.tags @> $3
       AND ((h.bucket_start >= $6 AND h.bucket_start < $4) OR (h.bucket_start >= $5 AND h.bucket_start < $7))
    UNION ALL
    -- Late points not merged yet: their hours are rolled-up hours too.
    SELECT 'late', l.count, l.sum, l.min, l.max, l.sketch_keys, l.sketch_counts FROM analytics.rollup_deltas l
     WHERE l.organization_id = $1 AND l.name = $2 AND l.tags @> $3 AND l.bucket_start >= $6 AND l.bucket_start < $7),
  raw AS (
    SELECT p.value FROM analytics.metric_points p
     WHERE p.organization_id = $1 AND p.name = $2 AND p.tags @> $3
       AND p.ts >= $8 AND p.ts < $9 AND (p.ts < $6 OR p.ts >= $7)),
  bins AS (
    SELECT u.k, sum(u.n) AS n FROM rolled r CROSS JOIN LATERAL unnest(r.sketch_keys, r.sketch_counts) AS u(k, n) GROUP BY u.k
    UNION ALL
    SELECT analytics.sketch_key(raw.value), count(*) FROM raw GROUP BY 1),
  sketch AS (SELECT array_agg(m.k ORDER BY m.k) AS keys, array_agg(m.n ORDER BY m.k) AS counts
               FROM (SELECT b.k, sum(b.n)::bigint AS n FROM bins b GROUP BY b.k) m),
  totals AS (
    SELECT sum(t.count)::bigint AS count, sum(t.sum) AS sum, min(t.min) AS min, max(t.max) AS max
      FROM (SELECT r.count, r.sum, r.min, r.max FROM rolled r
            UNION ALL SELECT count(*), sum(raw.value), min(raw.value), max(raw.value) FROM raw) t)
  SELECT coalesce(t.count, 0) AS count, t.sum, t.min, t.max,
         (SELECT count(*) FROM rolled r WHERE r.source = 'daily')::int AS daily,
         (SELECT count(*) FROM rolled r WHERE r.source <> 'daily')::int AS hourly,
         (SELECT count(*) FROM raw)::int AS raw,
         (SELECT array_agg(CASE WHEN t.count IS NULL THEN NULL WHEN q.q = 0 THEN t.min WHEN q.q = 1 THEN t.max
                                ELSE greatest(t.min, least(t.max, analytics.sketch_quantile(s.keys, s.counts, q.q))) END ORDER BY q.i)
            FROM unnest($10::float8[]) WITH ORDINALITY AS q(q, i)) AS estimates
    FROM totals t, sketch s`;

/** Metric points: batched ingest, incremental rollups and quantiles from merged sketches. */
export class MetricsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, analyticsModule);
  }

  /**
   * Writes up to 10,000 points in one statement. The whole batch is checked
   * first: one bad field refuses it all (a ValidationError naming
   * `points.<i>.<field>`), and nothing is written.
   */
  async ingest(organizationId: string, points: MetricPointInput[]): Promise<IngestResult> {
    const valid = validatePoints(points);
    const column = <K extends keyof (typeof valid)[number]>(key: K) => valid.map((p) => p[key]);
    const parameters = [
      organizationId,
      column('name'),
      column('ts'),
      column('value'),
      column('unit'),
      column('category'),
      column('tags'),
      column('source'),
    ];
    try {
      return await this.scope.run(organizationId, async (m) => {
        let rows: { through: Date | null }[] = await m.query(WATERMARK, [organizationId]);
        if (rows.length === 0) {
          // The first batch of the organization: the row every later refresh and ingest lock.
          await m.query(`INSERT INTO analytics.rollup_watermarks (organization_id) VALUES ($1) ON CONFLICT DO NOTHING`, [organizationId]);
          rows = await m.query(WATERMARK, [organizationId]);
        }
        const through = rows[0].through;
        const late = through === null ? 0 : valid.filter((p) => Date.parse(p.ts) < through.getTime()).length;
        if (late === 0) await m.query(INSERT_POINTS, parameters);
        else await m.query(INSERT_POINTS_WITH_LATE, [...parameters, through]);
        return { inserted: valid.length, late };
      });
    } catch (error) {
      translateDatabaseError(error, 'metric points');
    }
  }

  /**
   * Rolls up what is new since the last refresh (`analytics.refresh_rollups`):
   * the complete hours from the watermark to `until`, the hours late points
   * fell in, and the days of both. Nothing new, nothing written.
   */
  async refresh(organizationId: string, input: RefreshRollupsInput = {}): Promise<RefreshResult> {
    const { until } = await validateInput(RefreshRollupsInput, input, 'rollup refresh');
    const [{ report }] = await this.scope.run(organizationId, (m) =>
      m.query(`SELECT analytics.refresh_rollups($1, coalesce($2, now())) AS report`, [organizationId, until ?? null]),
    );
    const instant = (value: string) => (value === '-infinity' ? null : new Date(value));
    return { from: instant(report.from), to: instant(report.to), hours: report.hours, lateHours: report.late_hours, days: report.days };
  }

  /** The rollups' watermark: every hour before it is rolled up (null: nothing yet). */
  async watermark(organizationId: string): Promise<Date | null> {
    const rows: { through: Date | null }[] = await this.scope.run(organizationId, (m) =>
      m.query(
        `SELECT CASE WHEN refreshed_through = '-infinity' THEN NULL ELSE refreshed_through END AS through FROM analytics.rollup_watermarks`,
      ),
    );
    return rows[0]?.through ?? null;
  }

  /** Quantiles of one metric over any window [from, to), from merged sketches (see {@link MetricQuantiles}). */
  async quantiles(organizationId: string, input: MetricQuantilesInput): Promise<MetricQuantiles> {
    const valid = await validateInput(MetricQuantilesInput, input, 'metric quantiles');
    if (valid.to.getTime() <= valid.from.getTime()) throw ValidationError.forField('to', 'must be after from', 'metric quantiles');
    const tags = valid.tags ?? {};
    if (Object.values(tags).some((v) => typeof v !== 'string'))
      throw ValidationError.forField('tags', 'must be an object of strings', 'metric quantiles');
    const qs = valid.quantiles ?? [0.5, 0.95, 0.99];
    return this.scope.run(organizationId, async (m) => {
      const [{ through }]: { through: Date | null }[] = await m.query(
        `SELECT (SELECT CASE WHEN refreshed_through = '-infinity' THEN NULL ELSE refreshed_through END FROM analytics.rollup_watermarks) AS through`,
      );
      const from = valid.from.getTime();
      const to = valid.to.getTime();
      // Hours [a, b) come from rollups (days [da, db) of them from the daily ones); the rest from raw points.
      const a = ceilTo(from, HOUR);
      let b = floorTo(Math.min(to, through?.getTime() ?? -Infinity), HOUR);
      if (b < a) b = a;
      const da = Math.min(ceilTo(a, DAY), b);
      const db = Math.max(floorTo(b, DAY), da);
      const at = (t: number) => new Date(t);
      const [row] = await m.query(QUANTILES, [
        organizationId,
        valid.name,
        JSON.stringify(tags),
        at(da),
        at(db),
        at(a),
        at(b),
        at(from),
        at(to),
        qs,
      ]);
      return {
        count: Number(row.count),
        sum: row.sum,
        min: row.min,
        max: row.max,
        quantiles: Object.fromEntries(qs.map((q, i) => [String(q), row.estimates[i]])),
        sources: { dailyRollups: row.daily, hourlyRollups: row.hourly, rawPoints: row.raw },
      };
    });
  }
}
