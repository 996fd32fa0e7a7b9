import { MigrationInterface, QueryRunner } from 'typeorm';
import { SKETCH_KEY_OFFSET, SKETCH_RELATIVE_ERROR } from '../sketch/sketch';

const ALPHA = SKETCH_RELATIVE_ERROR;
const GAMMA = `(${1 + ALPHA}::float8 / ${1 - ALPHA}::float8)`;
/** The smallest normal double: anything smaller in magnitude counts as 0. */
const SMALLEST = '2.2250738585072014e-308';
const LARGEST = '1.7976931348623157e308';
const FN = `LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp`;

/** The rows of a rollup, whichever bucket it is of. */
const ROLLUP_ROW = `name character varying, bucket_start timestamptz, tags jsonb, count bigint, sum double precision,
  min double precision, max double precision, sketch_keys integer[], sketch_counts bigint[]`;

/**
 * The mergeable quantile sketch (see src/sketch/sketch.ts) as SQL functions,
 * and the two ways a rollup is made: from raw points, or by merging finer
 * rollups. Both run as the caller (row-level security applies).
 */
export class CreateQuantileSketch1796330100000 implements MigrationInterface {
  name = 'CreateQuantileSketch1796330100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE FUNCTION analytics.sketch_relative_error() RETURNS double precision ${FN} AS $$ SELECT ${ALPHA}::float8 $$`);
    await q.query(`
      CREATE FUNCTION analytics.sketch_key(p_value double precision) RETURNS integer ${FN} STRICT AS $$
        SELECT CASE WHEN abs(p_value) < ${SMALLEST} THEN 0
                    WHEN p_value > 0 THEN ceil(ln(p_value) / ln(${GAMMA}))::integer + ${SKETCH_KEY_OFFSET}
                    ELSE -(ceil(ln(-p_value) / ln(${GAMMA}))::integer + ${SKETCH_KEY_OFFSET}) END
      $$`);
    await q.query(`
      CREATE FUNCTION analytics.sketch_value(p_key integer) RETURNS double precision ${FN} STRICT AS $$
        -- 2γ^j / (γ + 1) = γ^(j−1) · (1 + α), written so that the top bucket stays below the largest double.
        SELECT sign(p_key) * CASE WHEN p_key = 0 THEN 0::float8
                                  WHEN b.low > ${LARGEST} / ${1 + ALPHA} THEN ${LARGEST}
                                  ELSE b.low * ${1 + ALPHA} END
          FROM (SELECT power(${GAMMA}, abs(p_key) - ${SKETCH_KEY_OFFSET} - 1) AS low) b
      $$`);
    // The value at rank ⌈q·n⌉ (at least 1), as percentile_disc defines it, within α.
    await q.query(`
      CREATE FUNCTION analytics.sketch_quantile(p_keys integer[], p_counts bigint[], p_q double precision) RETURNS double precision ${FN} STRICT AS $$
        SELECT analytics.sketch_value(s.k)
          FROM (SELECT u.k, sum(u.n) OVER (ORDER BY u.k) AS rank FROM unnest(p_keys, p_counts) AS u(k, n)) s
         WHERE s.rank >= greatest(1, ceil(p_q * (SELECT sum(n) FROM unnest(p_counts) AS c(n))))
         ORDER BY s.k LIMIT 1
      $$`);
    await q.query(`
      CREATE FUNCTION analytics.rollup_points(p_organization_id uuid, p_from timestamptz, p_to timestamptz, p_bucket text)
      RETURNS TABLE (${ROLLUP_ROW}) LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
        WITH bins AS (
          SELECT p.name, date_trunc(p_bucket, p.ts, 'UTC') AS bucket_start, p.tags, analytics.sketch_key(p.value) AS k,
                 count(*) AS n, sum(p.value) AS s, min(p.value) AS lo, max(p.value) AS hi
            FROM analytics.metric_points p
           WHERE p.organization_id = p_organization_id AND p.ts >= p_from AND p.ts < p_to
           GROUP BY 1, 2, 3, 4)
        SELECT b.name, b.bucket_start, b.tags, sum(b.n)::bigint, sum(b.s), min(b.lo), max(b.hi),
               array_agg(b.k ORDER BY b.k), array_agg(b.n ORDER BY b.k)
          FROM bins b GROUP BY 1, 2, 3
      $$`);
    await q.query(`
      CREATE FUNCTION analytics.merge_hourly_rollups(p_organization_id uuid, p_from timestamptz, p_to timestamptz, p_bucket text)
      RETURNS TABLE (${ROLLUP_ROW}) LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
        WITH hours AS (
          SELECT r.name, date_trunc(p_bucket, r.bucket_start, 'UTC') AS bucket_start, r.tags, r.count, r.sum, r.min, r.max,
                 r.sketch_keys, r.sketch_counts
            FROM analytics.metric_rollups_hourly r
           WHERE r.organization_id = p_organization_id AND r.bucket_start >= p_from AND r.bucket_start < p_to),
        totals AS (
          SELECT h.name, h.bucket_start, h.tags, sum(h.count)::bigint AS count, sum(h.sum) AS sum, min(h.min) AS min, max(h.max) AS max
            FROM hours h GROUP BY 1, 2, 3),
        bins AS (
          SELECT h.name, h.bucket_start, h.tags, u.k, sum(u.n)::bigint AS n
            FROM hours h CROSS JOIN LATERAL unnest(h.sketch_keys, h.sketch_counts) AS u(k, n)
           GROUP BY 1, 2, 3, 4),
        sketches AS (
          SELECT b.name, b.bucket_start, b.tags, array_agg(b.k ORDER BY b.k) AS keys, array_agg(b.n ORDER BY b.k) AS counts
            FROM bins b GROUP BY 1, 2, 3)
        SELECT t.name, t.bucket_start, t.tags, t.count, t.sum, t.min, t.max, s.keys, s.counts
          FROM totals t JOIN sketches s USING (name, bucket_start, tags)
      $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION analytics.merge_hourly_rollups(uuid, timestamptz, timestamptz, text)`);
    await q.query(`DROP FUNCTION analytics.rollup_points(uuid, timestamptz, timestamptz, text)`);
    await q.query(`DROP FUNCTION analytics.sketch_quantile(integer[], bigint[], double precision)`);
    await q.query(`DROP FUNCTION analytics.sketch_value(integer)`);
    await q.query(`DROP FUNCTION analytics.sketch_key(double precision)`);
    await q.query(`DROP FUNCTION analytics.sketch_relative_error()`);
  }
}
