import { ValidationError, baseModule, withTenant } from '@strata/base';
import { expectRefused, useTestDatabase } from '@strata/testing';
import { MAX_POINTS_PER_BATCH, MetricPointInput, MetricsService, analyticsModule } from '../src';
import { createOrganization, expectNothingWritten } from './support';

describe('metric ingest', () => {
  const db = useTestDatabase({ modules: [baseModule, analyticsModule] });
  let a: string;
  let b: string;
  let metrics: MetricsService;

  beforeAll(async () => {
    a = await createOrganization(db, 'ingest-a');
    b = await createOrganization(db, 'ingest-b');
    metrics = new MetricsService(db.dataSource);
  });

  it('writes a batch in one statement, tags in one canonical order, into the partition of each point’s day', async () => {
    const now = Date.now();
    const points: MetricPointInput[] = Array.from({ length: 2500 }, (_, i) => ({
      name: 'api.latency',
      ts: new Date(now + i * 1000),
      value: i / 10,
      unit: 'ms',
      category: 'api',
      tags: i % 2 ? { route: '/a', env: 'prod' } : { env: 'prod', route: '/a' },
      source: 'gateway',
    }));
    points.push({ name: 'api.errors', ts: new Date(now).toISOString(), value: -3 });
    expect(await metrics.ingest(a, points)).toEqual({ inserted: 2501, late: 0 });
    const rows = await withTenant(db.dataSource, a, (tx) =>
      tx.query(
        `SELECT name, count(*)::int AS n, array_agg(DISTINCT tags::text) AS tags, sum(value) AS total,
                bool_and(tableoid::regclass::text = 'analytics.metric_points_p' || to_char(ts AT TIME ZONE 'UTC', 'YYYYMMDD')) AS in_day
           FROM analytics.metric_points GROUP BY name ORDER BY name`,
      ),
    );
    expect(rows).toEqual([
      { name: 'api.errors', n: 1, tags: ['{}'], total: -3, in_day: true },
      { name: 'api.latency', n: 2500, tags: ['{"env": "prod", "route": "/a"}'], total: (2499 * 2500) / 2 / 10, in_day: true },
    ]);
    expect(await withTenant(db.dataSource, b, (tx) => tx.query(`SELECT count(*)::int AS n FROM analytics.metric_points`))).toEqual([
      { n: 0 },
    ]);
  });

  it('refuses a batch with any bad point, naming each bad field, and writes nothing', async () => {
    const good = { name: 'ok', ts: new Date(), value: 1 };
    await expectNothingWritten(db, async () => {
      await expectRefused(
        metrics.ingest(a, [
          good,
          { name: '', ts: new Date(), value: 1 },
          { name: 'x y', ts: 'yesterday', value: Number.NaN },
          { name: 'ok', ts: new Date('nope'), value: Infinity, unit: '', tags: { env: 3 } } as unknown as MetricPointInput,
          { name: 'ok', ts: '2026-01-01T00:00:00', value: 1, tags: { 'bad key': 'x' }, extra: 1 } as unknown as MetricPointInput,
          { name: 'ok', ts: new Date(), value: '1', source: 'x'.repeat(256), category: 7 } as unknown as MetricPointInput,
          null as unknown as MetricPointInput,
        ]),
        ValidationError,
        [
          'points.1.name',
          'points.2.name',
          'points.2.ts',
          'points.2.value',
          'points.3.ts',
          'points.3.value',
          'points.3.unit',
          'points.3.tags.env',
          'points.4.ts',
          'points.4.tags.bad key',
          'points.4.extra',
          'points.5.value',
          'points.5.source',
          'points.5.category',
          'points.6',
        ],
      );
      await expectRefused(metrics.ingest(a, []), ValidationError, ['points']);
      await expectRefused(
        metrics.ingest(
          a,
          Array.from({ length: MAX_POINTS_PER_BATCH + 1 }, () => good),
        ),
        ValidationError,
        ['points'],
      );
      await expectRefused(metrics.ingest(a, { name: 'x' } as unknown as MetricPointInput[]), ValidationError, ['points']);
      const manyTags = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`t${i}`, 'v']));
      await expectRefused(metrics.ingest(a, [{ ...good, tags: manyTags }]), ValidationError, ['points.0.tags']);
    });
  });
});
