import { baseModule, withTenant } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { MetricPointInput, MetricsService, SKETCH_RELATIVE_ERROR, analyticsModule } from '../src';
import { createOrganization, normal, seededRandom } from './support';

const N = 20_000;
const QUANTILES = [0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1];
/** α, plus room for the last bit of a logarithm computed at a bucket's very edge. */
const BOUND = SKETCH_RELATIVE_ERROR * (1 + 1e-9);

/** Generated distributions, skewed and not, one of them around zero. */
const DISTRIBUTIONS: Record<string, (random: () => number) => number> = {
  uniform: (r) => 1000 * r(),
  lognormal: (r) => Math.exp(3 + normal(r)),
  // 70 % fast requests, 30 % slow ones: both modes dense, far apart.
  bimodal: (r) => (r() < 0.7 ? 50 + 5 * normal(r) : 400 + 30 * normal(r)),
  signed: (r) => 1000 * r() - 500,
};

describe('the quantile sketch', () => {
  const db = useTestDatabase({ modules: [baseModule, analyticsModule] });
  let org: string;
  const day = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate() - 1));
  const nextDay = new Date(day.getTime() + 86_400_000);

  beforeAll(async () => {
    org = await createOrganization(db, 'sketch');
    const metrics = new MetricsService(db.dataSource);
    let seed = 1;
    for (const [dist, draw] of Object.entries(DISTRIBUTIONS)) {
      const random = seededRandom(seed++);
      const points: MetricPointInput[] = [];
      for (let i = 0; i < N; i++) {
        // Spread over the day's 24 hours, in two tag sets.
        points.push({
          name: dist,
          ts: new Date(day.getTime() + Math.floor(random() * 86_400_000)),
          value: draw(random),
          tags: { half: String(i % 2) },
        });
      }
      for (let i = 0; i < N; i += 5000) await metrics.ingest(org, points.slice(i, i + 5000));
    }
  }, 120_000);

  const asTenant = <T>(sql: string, params: unknown[] = []) => withTenant(db.dataSource, org, (tx) => tx.query(sql, params) as Promise<T>);

  it('states its relative error in SQL as in TypeScript', async () => {
    expect(await db.query(`SELECT analytics.sketch_relative_error() AS alpha`)).toEqual([{ alpha: SKETCH_RELATIVE_ERROR }]);
  });

  it('maps values to keys in their order, and every key back within α of the values in it', async () => {
    const random = seededRandom(99);
    const values = [0, 1e-320, -1e-320, 2.2250738585072014e-308, Number.MAX_VALUE, -Number.MAX_VALUE, 1, -1];
    for (let i = 0; i < 2000; i++) values.push((random() < 0.5 ? -1 : 1) * Math.pow(10, 600 * random() - 300));
    const rows = await db.query<{ v: number; k: number; estimate: number }>(
      `SELECT v, analytics.sketch_key(v) AS k, analytics.sketch_value(analytics.sketch_key(v)) AS estimate
         FROM unnest($1::float8[]) AS v ORDER BY v`,
      [values],
    );
    for (let i = 1; i < rows.length; i++) expect(rows[i].k).toBeGreaterThanOrEqual(rows[i - 1].k);
    for (const { v, estimate } of rows) {
      if (Math.abs(v) < 2.2250738585072014e-308) expect(estimate).toBe(0);
      else expect(Math.abs(estimate - v)).toBeLessThanOrEqual(BOUND * Math.abs(v));
    }
  });

  it.each(Object.keys(DISTRIBUTIONS))(
    '%s: p0 … p100 of the day from the sketch are within α of the exact percentile_disc, and of percentile_cont up to the gap between neighbouring points',
    async (dist) => {
      // One sketch for the day over both tag sets: merge the two day rollups.
      const [row] = await asTenant<{ estimates: number[]; disc: number[]; cont: number[]; n: string; lo: number; hi: number }[]>(
        `WITH day AS (SELECT * FROM analytics.rollup_points($1, $2, $3, 'day') WHERE name = $4),
              bins AS (SELECT u.k, sum(u.n)::bigint AS n FROM day, unnest(day.sketch_keys, day.sketch_counts) AS u(k, n) GROUP BY u.k),
              sketch AS (SELECT array_agg(k ORDER BY k) AS keys, array_agg(n ORDER BY k) AS counts FROM bins)
         SELECT (SELECT array_agg(greatest((SELECT min(min) FROM day), least((SELECT max(max) FROM day), analytics.sketch_quantile(s.keys, s.counts, q))) ORDER BY i)
                   FROM unnest($5::float8[]) WITH ORDINALITY AS t(q, i)) AS estimates,
                (SELECT percentile_disc($5::float8[]) WITHIN GROUP (ORDER BY value) FROM analytics.metric_points WHERE name = $4) AS disc,
                (SELECT percentile_cont($5::float8[]) WITHIN GROUP (ORDER BY value) FROM analytics.metric_points WHERE name = $4) AS cont,
                (SELECT sum(count) FROM day) AS n
           FROM sketch s`,
        [org, day, nextDay, dist, QUANTILES],
      );
      expect(Number(row.n)).toBe(N);
      const values = (
        await asTenant<{ value: number }[]>(`SELECT value FROM analytics.metric_points WHERE name = $1 ORDER BY value`, [dist])
      ).map((r) => r.value);
      QUANTILES.forEach((q, i) => {
        const estimate = row.estimates[i];
        expect({ q, within: Math.abs(estimate - row.disc[i]) <= BOUND * Math.abs(row.disc[i]) }).toEqual({ q, within: true });
        // percentile_cont interpolates between the two points around rank q·(n−1): the estimate is within α of one of them.
        const position = q * (N - 1);
        const gap = values[Math.ceil(position)] - values[Math.floor(position)];
        expect(Math.abs(estimate - row.cont[i])).toBeLessThanOrEqual(BOUND * Math.abs(row.disc[i]) + gap);
      });
      // Clamped to what was observed: never below the minimum nor above the maximum.
      expect(row.estimates[0]).toBeGreaterThanOrEqual(values[0]);
      expect(row.estimates[QUANTILES.length - 1]).toBeLessThanOrEqual(values[N - 1]);
    },
  );

  it('a day merged from its hourly sketches is exactly the sketch of the day’s raw points', async () => {
    await asTenant(
      `INSERT INTO analytics.metric_rollups_hourly (organization_id, name, bucket_start, tags, count, sum, min, max, sketch_keys, sketch_counts)
       SELECT $1, r.* FROM analytics.rollup_points($1, $2, $3, 'hour') r`,
      [org, day, nextDay],
    );
    const [{ hours }] = await asTenant<{ hours: number }[]>(`SELECT count(*)::int AS hours FROM analytics.metric_rollups_hourly`);
    expect(hours).toBe(Object.keys(DISTRIBUTIONS).length * 2 * 24);
    type Row = {
      name: string;
      tags: object;
      count: string;
      sum: number;
      min: number;
      max: number;
      sketch_keys: number[];
      sketch_counts: string[];
    };
    const order = 'ORDER BY name, tags::text';
    const merged = await asTenant<Row[]>(`SELECT * FROM analytics.merge_hourly_rollups($1, $2, $3, 'day') ${order}`, [org, day, nextDay]);
    const raw = await asTenant<Row[]>(`SELECT * FROM analytics.rollup_points($1, $2, $3, 'day') ${order}`, [org, day, nextDay]);
    expect(merged).toHaveLength(Object.keys(DISTRIBUTIONS).length * 2);
    const exact = ({ sum, ...rest }: Row) => ({ ...rest, sum: Math.round(sum * 1e6) / 1e6 });
    expect(merged.map(exact)).toEqual(raw.map(exact));
    expect(merged.reduce((n, r) => n + Number(r.count), 0)).toBe(Object.keys(DISTRIBUTIONS).length * N);
  });
});
