import { ValidationError, baseModule, runMaintenance, withTenant } from '@strata/base';
import { expectRefused, useTestDatabase } from '@strata/testing';
import { MetricPointInput, MetricsService, SKETCH_RELATIVE_ERROR, analyticsModule } from '../src';
import { createOrganization, normal, seededRandom } from './support';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BOUND = SKETCH_RELATIVE_ERROR * (1 + 1e-9);

type Rollup = {
  table: string;
  name: string;
  bucket: string;
  tags: string;
  count: string;
  sum: number;
  min: number;
  max: number;
  keys: number[];
  counts: string[];
  refreshed_at: Date;
};

describe('incremental rollups and quantile queries', () => {
  const db = useTestDatabase({ modules: [baseModule, analyticsModule] });
  let org: string;
  let metrics: MetricsService;
  const now = Date.now();
  const thisHour = Math.floor(now / HOUR) * HOUR;
  const random = seededRandom(7);
  /** Log-normal latencies, two routes. */
  const latency = (ts: number): MetricPointInput => ({
    name: 'latency',
    ts: new Date(ts),
    value: Math.exp(4 + 0.8 * normal(random)),
    tags: { route: random() < 0.6 ? '/a' : '/b' },
  });

  const asTenant = <T>(sql: string, params: unknown[] = []) => withTenant(db.dataSource, org, (tx) => tx.query(sql, params) as Promise<T>);
  const rollups = () =>
    asTenant<Rollup[]>(
      `SELECT 'hourly' AS table, name, bucket_start::text AS bucket, tags::text, count, sum, min, max, sketch_keys AS keys, sketch_counts AS counts, refreshed_at
         FROM analytics.metric_rollups_hourly
       UNION ALL
       SELECT 'daily', name, bucket_start::text, tags::text, count, sum, min, max, sketch_keys, sketch_counts, refreshed_at FROM analytics.metric_rollups_daily
       ORDER BY 1, 2, 3, 4`,
    );
  /** What the rollups of [from, to) must be: rolled up from the raw points again. */
  const fromRaw = (from: number, to: number, bucket: 'hour' | 'day') =>
    asTenant<Rollup[]>(
      `SELECT name, bucket_start::text AS bucket, tags::text, count, sum, min, max, sketch_keys AS keys, sketch_counts AS counts
         FROM analytics.rollup_points($1, $2, $3, $4) ORDER BY 1, 2, 3`,
      [org, new Date(from), new Date(to), bucket],
    );
  const sameAs = (rows: Rollup[]) =>
    rows.map(({ name, bucket, tags, count, min, max, keys, counts, sum }) => ({
      name,
      bucket,
      tags,
      count,
      min,
      max,
      keys,
      counts,
      sum: sum.toPrecision(12),
    }));

  beforeAll(async () => {
    org = await createOrganization(db, 'rollups');
    metrics = new MetricsService(db.dataSource);
    // Three days of points up to now, 40 an hour.
    const points: MetricPointInput[] = [];
    for (let t = thisHour - 3 * DAY; t < now; t += HOUR / 40) points.push(latency(t));
    for (let i = 0; i < points.length; i += 5000) expect((await metrics.ingest(org, points.slice(i, i + 5000))).late).toBe(0);
  }, 60_000);

  it('the first refresh rolls up every complete hour; the rollups are those of the raw points; a second refresh writes nothing', async () => {
    expect(await metrics.watermark(org)).toBeNull();
    const first = await metrics.refresh(org);
    // The UTC days the 72 hours fall in: 3, or 4 unless the window starts at midnight.
    const days = new Set(Array.from({ length: 72 }, (_, i) => Math.floor((thisHour - 3 * DAY + i * HOUR) / DAY))).size;
    expect(first).toEqual({ from: null, to: new Date(thisHour), hours: 3 * 24 * 2, lateHours: 0, days });
    expect(await metrics.watermark(org)).toEqual(new Date(thisHour));
    const rows = await rollups();
    expect(sameAs(rows.filter((r) => r.table === 'hourly'))).toEqual(sameAs(await fromRaw(0, thisHour, 'hour')));
    expect(sameAs(rows.filter((r) => r.table === 'daily'))).toEqual(sameAs(await fromRaw(0, thisHour, 'day')));

    expect(await metrics.refresh(org)).toEqual({ from: new Date(thisHour), to: new Date(thisHour), hours: 0, lateHours: 0, days: 0 });
    expect(await rollups()).toEqual(rows);
  });

  it('late points re-roll only their bucket (and its day); the next hour is rolled up when it is complete', async () => {
    const before = await rollups();
    const lateHour = thisHour - 30 * HOUR;
    const { late } = await metrics.ingest(org, [
      { name: 'latency', ts: new Date(lateHour + 60_000), value: 5000, tags: { route: '/a' } },
      { name: 'latency', ts: new Date(lateHour + 120_000), value: 0.5, tags: { route: '/a' } },
      { name: 'latency', ts: new Date(now), value: 42, tags: { route: '/a' } },
    ]);
    expect(late).toBe(2);
    const report = await metrics.refresh(org, { until: new Date(thisHour + HOUR) });
    expect(report).toEqual({ from: new Date(thisHour), to: new Date(thisHour + HOUR), hours: expect.any(Number), lateHours: 1, days: 2 });
    const after = await rollups();
    const key = (r: Rollup) => `${r.table} ${r.name} ${r.bucket} ${r.tags}`;
    const changed = after.filter((r) => JSON.stringify(r) !== JSON.stringify(before.find((b) => key(b) === key(r))));
    const lateDay = Math.floor(lateHour / DAY) * DAY;
    const hourText = (await asTenant<{ t: string }[]>(`SELECT $1::timestamptz::text AS t`, [new Date(lateHour)]))[0].t;
    const newHour = (await asTenant<{ t: string }[]>(`SELECT $1::timestamptz::text AS t`, [new Date(thisHour)]))[0].t;
    // Besides the hour that has just become complete, only the late points' bucket changed.
    expect(changed.filter((r) => r.table === 'hourly' && r.bucket !== newHour).map((r) => `${r.bucket} ${r.tags}`)).toEqual([
      `${hourText} {"route": "/a"}`,
    ]);
    expect(sameAs(changed.filter((r) => r.bucket === hourText))).toEqual(
      sameAs((await fromRaw(lateHour, lateHour + HOUR, 'hour')).filter((r) => r.tags === '{"route": "/a"}')),
    );
    expect(sameAs(after.filter((r) => r.table === 'daily'))).toEqual(sameAs(await fromRaw(0, thisHour + HOUR, 'day')));
    expect(changed.filter((r) => r.table === 'daily').length).toBeGreaterThan(0);
    expect(
      changed
        .filter((r) => r.table === 'daily')
        .every((r) => [lateDay, Math.floor(thisHour / DAY) * DAY].includes(Date.parse(r.bucket.replace(' ', 'T').replace(/\+00$/, 'Z')))),
    ).toBe(true);
    expect(await asTenant(`SELECT count(*)::int AS n FROM analytics.rollup_deltas`)).toEqual([{ n: 0 }]);
  });

  it('p50/p95/p99 over any window come from merged rollups and the newest raw points, within α of the exact percentiles', async () => {
    const from = thisHour - 2 * DAY - 17 * 60_000 - 1234;
    const to = now + 1;
    const result = await metrics.quantiles(org, {
      name: 'latency',
      from: new Date(from),
      to: new Date(to),
      quantiles: [0, 0.5, 0.95, 0.99, 1],
    });
    const [exact] = await asTenant<{ n: number; disc: number[] }[]>(
      `SELECT count(*)::int AS n, percentile_disc(ARRAY[0, 0.5, 0.95, 0.99, 1]::float8[]) WITHIN GROUP (ORDER BY value) AS disc
         FROM analytics.metric_points WHERE name = 'latency' AND ts >= $1 AND ts < $2`,
      [new Date(from), new Date(to)],
    );
    expect(result.count).toBe(exact.n);
    expect(result.sources.dailyRollups).toBeGreaterThan(0);
    expect(result.sources.hourlyRollups).toBeGreaterThan(0);
    expect(result.sources.rawPoints).toBeGreaterThan(0);
    expect(result.sources.rawPoints).toBeLessThan(exact.n / 10);
    [0, 0.5, 0.95, 0.99, 1].forEach((q, i) => {
      const estimate = result.quantiles[String(q)] ?? Number.NaN;
      expect({ q, within: Math.abs(estimate - exact.disc[i]) <= BOUND * exact.disc[i] }).toEqual({ q, within: true });
    });
    expect([result.quantiles['0'], result.quantiles['1']]).toEqual([exact.disc[0], exact.disc[4]]);

    const routeB = await metrics.quantiles(org, { name: 'latency', from: new Date(from), to: new Date(to), tags: { route: '/b' } });
    const [{ n }] = await asTenant<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM analytics.metric_points WHERE name = 'latency' AND tags @> '{"route": "/b"}' AND ts >= $1 AND ts < $2`,
      [new Date(from), new Date(to)],
    );
    expect(routeB.count).toBe(n);
    expect(Object.keys(routeB.quantiles)).toEqual(['0.5', '0.95', '0.99']);
    const empty = await metrics.quantiles(org, { name: 'nothing', from: new Date(from), to: new Date(to) });
    expect(empty).toEqual({
      count: 0,
      sum: null,
      min: null,
      max: null,
      quantiles: { '0.5': null, '0.95': null, '0.99': null },
      sources: { dailyRollups: 0, hourlyRollups: 0, rawPoints: 0 },
    });
  });

  it('retention drops raw days, and their rollups stay and still answer', async () => {
    const old = thisHour - 35 * DAY;
    await metrics.ingest(org, [
      { name: 'old', ts: new Date(old + 1000), value: 10 },
      { name: 'old', ts: new Date(old + 2000), value: 20 },
    ]);
    await metrics.refresh(org);
    const window = { name: 'old', from: new Date(old - DAY), to: new Date(old + DAY) };
    const before = await metrics.quantiles(org, window);
    expect(before.count).toBe(2);
    const report = await runMaintenance(db, 'analytics.metric_points');
    const day = new Date(old).toISOString().slice(0, 10).replace(/-/g, '');
    expect(report.tables[0].dropped).toContain(`metric_points_p${day}`);
    expect(await asTenant(`SELECT count(*)::int AS n FROM analytics.metric_points WHERE name = 'old'`)).toEqual([{ n: 0 }]);
    const after = await metrics.quantiles(org, window);
    expect(after).toEqual({ ...before, sources: { ...before.sources, rawPoints: 0 } });
    expect(after.sources.hourlyRollups + after.sources.dailyRollups).toBeGreaterThan(0);
  });

  it('refuses bad queries with typed errors naming the field', async () => {
    const from = new Date(now - DAY);
    await expectRefused(metrics.quantiles(org, { name: 'bad name', from, to: new Date() }), ValidationError, ['name']);
    await expectRefused(metrics.quantiles(org, { name: 'x', from, to: from }), ValidationError, ['to']);
    await expectRefused(metrics.quantiles(org, { name: 'x', from, to: new Date(), quantiles: [1.5] }), ValidationError, ['quantiles']);
    await expectRefused(metrics.quantiles(org, { name: 'x', from: 'yesterday' as unknown as Date, to: new Date() }), ValidationError, [
      'from',
    ]);
    await expectRefused(metrics.refresh(org, { until: 'soon' as unknown as Date }), ValidationError, ['until']);
  });
});
