import { ConflictError, NotFoundError, ValidationError, baseModule } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { FeatureStoreService, learningModule } from '../src';
import type { EntityRow, FeatureRowInput } from '../src';
import { createOrganization, expectNothingWritten, expectRefused } from './support';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A stored feature row as the reference sees it: times in microseconds, as PostgreSQL keeps them. */
interface StoredRow {
  entity_key: string;
  event_us: number;
  created_us: number;
  values: Record<string, unknown>;
}

/** The point-in-time rule written out plainly: the newest qualifying row by event, then created time. */
function reference(rows: StoredRow[], key: string, at: Date, ttlSeconds: number | null, knownAt: boolean): StoredRow | null {
  const ts = at.getTime() * 1000;
  const candidates = rows.filter(
    (r) =>
      r.entity_key === key &&
      r.event_us <= ts &&
      (ttlSeconds === null || r.event_us >= ts - ttlSeconds * 1_000_000) &&
      (!knownAt || r.created_us <= ts),
  );
  candidates.sort((x, y) => y.event_us - x.event_us || y.created_us - x.created_us);
  return candidates[0] ?? null;
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('feature store', () => {
  const db = useTestDatabase({ modules: [baseModule, learningModule] });
  let store: FeatureStoreService;
  let a: string;
  let b: string;

  beforeAll(async () => {
    store = new FeatureStoreService(db.dataSource);
    a = await createOrganization(db, 'a');
    b = await createOrganization(db, 'b');
    await store.createView(a, {
      name: 'file_stats',
      entityKeys: ['repository', 'path'],
      features: [
        { name: 'churn', type: 'number' },
        { name: 'owner', type: 'string' },
      ],
      ttlSeconds: 3600,
    });
  });

  const storedRows = (viewName: string) =>
    db.query<StoredRow>(
      `SELECT r.entity_key, (extract(epoch FROM r.event_timestamp) * 1e6)::float8 AS event_us,
              (extract(epoch FROM r.created_timestamp) * 1e6)::float8 AS created_us, r.values
         FROM learning.feature_rows r JOIN learning.feature_views v ON v.organization_id = r.organization_id AND v.id = r.view_id
        WHERE r.organization_id = $1 AND v.name = $2`,
      [a, viewName],
    );

  it('refuses bad views and rows naming each field; writes nothing', async () => {
    await expectNothingWritten(db, async () => {
      await expectRefused(store.createView(a, {} as never), ValidationError, ['name', 'entityKeys', 'features']);
      await expectRefused(
        store.createView(a, { name: 'v', entityKeys: ['Bad Key'], features: [{ name: 'x', type: 'tensor' as never }], ttlSeconds: 0 }),
        ValidationError,
        ['entityKeys', 'features.0.type', 'ttlSeconds'],
      );
      await expectRefused(
        store.createView(a, {
          name: 'v',
          entityKeys: ['k', 'k'],
          features: [
            { name: 'x', type: 'number' },
            { name: 'x', type: 'string' },
          ],
        }),
        ValidationError,
        ['entityKeys', 'features'],
      );
      await expectRefused(
        store.createView(a, { name: 'file_stats', entityKeys: ['k'], features: [{ name: 'x', type: 'number' }] }),
        ConflictError,
        ['name'],
      );
      const t = new Date();
      await expectRefused(store.ingest(a, 'file_stats', []), ValidationError, ['rows']);
      await expectRefused(
        store.ingest(a, 'file_stats', [
          { entity: { repository: 'web', path: 'a.ts' }, eventTimestamp: t, values: { churn: 1 } },
          { entity: { repository: 'web' }, eventTimestamp: t, values: { churn: 'high', colour: 'red' } },
          { entity: { repository: 'web', path: 'a.ts' }, eventTimestamp: new Date('nope'), values: [] },
        ] as FeatureRowInput[]),
        ValidationError,
        ['rows.1.entity', 'rows.1.values.churn', 'rows.1.values.colour', 'rows.2.eventTimestamp', 'rows.2.values'],
      );
      await expectRefused(store.ingest(a, 'missing', [{ entity: { k: 1 }, eventTimestamp: t, values: {} }]), NotFoundError, 'feature view');
      await expectRefused(
        store.ingest(b, 'file_stats', [{ entity: { k: 1 }, eventTimestamp: t, values: {} }]),
        NotFoundError,
        'feature view',
      );
      await expectRefused(
        store.getHistoricalFeatures(a, ['file_stats'], [{ entity: { repository: 'web', path: 'a' }, timestamp: 'now' as never }]),
        ValidationError,
        ['entityRows.0.timestamp'],
      );
      await expectRefused(store.getHistoricalFeatures(a, [], []), ValidationError, ['views']);
    });
  });

  it('point-in-time lookups: ties, TTL edges, late rows, never a future value', async () => {
    const T0 = new Date('2026-01-01T00:00:00Z').getTime();
    const at = (ms: number) => new Date(T0 + ms);
    const e1 = { repository: 'web', path: 'src/a.ts' };
    const e2 = { repository: 'web', path: 'src/b.ts' };
    const e3 = { repository: 'api', path: 'main.go' };
    const row = (entity: typeof e1, ms: number, churn: number): FeatureRowInput => ({
      entity,
      eventTimestamp: at(ms),
      values: { churn, owner: 'x' },
    });
    await store.ingest(a, 'file_stats', [
      row(e1, 0, 1),
      row(e1, 10 * MINUTE, 2),
      row(e1, 30 * MINUTE, 3),
      row(e2, 5 * MINUTE, 10),
      row(e3, -2 * HOUR, 99),
    ]);
    // Later: a correction of e1 at +10m (same event time, newer created time) and a late row at +20m.
    await store.ingest(a, 'file_stats', [row(e1, 10 * MINUTE, 22), row(e1, 20 * MINUTE, 25), row(e2, 2 * HOUR, 11)]);

    const cases: [entity: typeof e1, ms: number, churn: number | null][] = [
      [e1, -1, null], // before the first row: nothing, not the first row
      [e1, 0, 1], // at exactly the event time
      [e1, 10 * MINUTE - 1, 1],
      [e1, 10 * MINUTE, 22], // the tie goes to the correction
      [e1, 15 * MINUTE, 22],
      [e1, 20 * MINUTE, 25], // the late row counts from its event time
      [e1, 30 * MINUTE - 1, 25],
      [e1, 30 * MINUTE, 3],
      [e1, 90 * MINUTE, 3], // TTL edge: exactly one hour old is still valid
      [e1, 90 * MINUTE + 1, null], // one millisecond later it has expired
      [e2, 65 * MINUTE, 10],
      [e2, 65 * MINUTE + 1, null],
      [e2, 2 * HOUR, 11],
      [e3, 0, null], // two hours old: expired
      [e3, -2 * HOUR + 30 * MINUTE, 99],
      [{ repository: 'web', path: 'unknown' }, 0, null],
    ];
    const entityRows: EntityRow[] = cases.map(([entity, ms]) => ({ entity, timestamp: at(ms) }));
    const result = await store.getHistoricalFeatures(a, ['file_stats'], entityRows);
    expect(result.map((r) => r.features.file_stats?.values.churn ?? null)).toEqual(cases.map(([, , churn]) => churn));
    for (const r of result) {
      const found = r.features.file_stats;
      if (found) expect(found.eventTimestamp.getTime()).toBeLessThanOrEqual(r.timestamp.getTime());
    }
    // Known-at: these rows were all recorded long after 2026-01-01, so nothing was known then.
    const knownThen = await store.getHistoricalFeatures(a, ['file_stats'], entityRows, { knownAt: true });
    expect(knownThen.every((r) => r.features.file_stats === null)).toBe(true);
  });

  it('agrees with the reference on a random table, by event time and by what was known', async () => {
    await store.createView(a, {
      name: 'user_scores',
      entityKeys: ['user'],
      features: [{ name: 'score', type: 'number' }],
      ttlSeconds: 900,
    });
    await store.createView(a, { name: 'user_forever', entityKeys: ['user'], features: [{ name: 'score', type: 'number' }] });
    const next = random(13);
    const start = Date.now() - 2 * HOUR;
    const users = Array.from({ length: 12 }, (_, i) => `u${i}`);
    for (let batch = 0; batch < 4; batch++) {
      // Event times on a coarse grid, so ties across batches are common; later batches include late rows.
      const rows = Array.from({ length: 60 }, () => ({
        entity: { user: users[Math.floor(next() * users.length)] },
        eventTimestamp: new Date(start + Math.floor(next() * 24) * 5 * MINUTE),
        values: { score: Math.round(next() * 1000) },
      }));
      // One row per entity and event time within a batch: their created times would tie.
      const unique = [...new Map(rows.map((r) => [`${r.entity.user}@${r.eventTimestamp.getTime()}`, r])).values()];
      await store.ingest(a, 'user_scores', unique);
      await store.ingest(a, 'user_forever', unique);
    }
    const stored = await storedRows('user_scores');
    const storedForever = await storedRows('user_forever');
    const created = [...new Set(stored.map((r) => Math.floor(r.created_us / 1000)))];
    // Entity rows on the grid, just off it, and at the moments rows were recorded.
    const times = [
      ...Array.from({ length: 30 }, (_, i) => start + i * 5 * MINUTE),
      ...Array.from({ length: 30 }, () => start + Math.floor(next() * 2.5 * HOUR)),
      ...created,
      Date.now() + HOUR,
    ];
    const entityRows: EntityRow[] = times.flatMap((t) => users.slice(0, 6).map((user) => ({ entity: { user }, timestamp: new Date(t) })));
    for (const knownAt of [false, true]) {
      const result = await store.getHistoricalFeatures(a, ['user_scores', 'user_forever'], entityRows, { knownAt });
      const expected = entityRows.map((r) => ({
        scores: reference(stored, JSON.stringify([r.entity.user]), r.timestamp, 900, knownAt)?.values.score ?? null,
        forever: reference(storedForever, JSON.stringify([r.entity.user]), r.timestamp, null, knownAt)?.values.score ?? null,
      }));
      const got = result.map((r) => ({
        scores: r.features.user_scores?.values.score ?? null,
        forever: r.features.user_forever?.values.score ?? null,
      }));
      expect(got).toEqual(expected);
      expect(got.filter((g) => g.scores !== null).length).toBeGreaterThan(0);
      expect(got.filter((g) => g.scores === null).length).toBeGreaterThan(0);
    }
  });

  it('online reads honour the TTL, and materialize is incremental', async () => {
    await store.createView(a, { name: 'live', entityKeys: ['repo'], features: [{ name: 'open_prs', type: 'number' }], ttlSeconds: 3600 });
    const now = Date.now();
    await store.ingest(a, 'live', [
      { entity: { repo: 'fresh' }, eventTimestamp: new Date(now - HOUR + 2 * MINUTE), values: { open_prs: 4 } },
      { entity: { repo: 'fresh' }, eventTimestamp: new Date(now - 2 * HOUR), values: { open_prs: 1 } },
      { entity: { repo: 'stale' }, eventTimestamp: new Date(now - HOUR - 2 * MINUTE), values: { open_prs: 7 } },
    ]);
    expect(await store.getOnlineFeatures(a, 'live', [{ repo: 'fresh' }])).toEqual([null]); // not materialized yet
    expect(await store.materialize(a, 'live')).toBe(2);
    const online = await store.getOnlineFeatures(a, 'live', [{ repo: 'fresh' }, { repo: 'stale' }, { repo: 'never' }]);
    expect(online.map((o) => o?.values.open_prs ?? null)).toEqual([4, null, null]);
    // The stale value is in the online table; it is its age that makes it missing.
    const [{ count }] = await db.query<{ count: number }>(
      `SELECT count(*)::int AS count FROM learning.online_features WHERE organization_id = $1`,
      [a],
    );
    expect(count).toBe(2);

    // Nothing new: nothing changes. A late row older than the online one does not replace it; a newer one does.
    expect(await store.materialize(a, 'live')).toBe(0);
    await store.ingest(a, 'live', [
      { entity: { repo: 'fresh' }, eventTimestamp: new Date(now - 90 * MINUTE), values: { open_prs: 2 } },
      { entity: { repo: 'stale' }, eventTimestamp: new Date(now), values: { open_prs: 8 } },
    ]);
    expect(await store.materialize(a, 'live')).toBe(1);
    const after = await store.getOnlineFeatures(a, 'live', [{ repo: 'fresh' }, { repo: 'stale' }]);
    expect(after.map((o) => o?.values.open_prs ?? null)).toEqual([4, 8]);
    expect((await store.getView(a, 'live')).materializedThrough).toBeInstanceOf(Date);
    // Another organization sees none of it.
    await expectRefused(store.getOnlineFeatures(b, 'live', [{ repo: 'fresh' }]), NotFoundError, 'feature view');
    await expectRefused(store.getOnlineFeatures(a, 'live', [{ repository: 'fresh' }]), ValidationError, ['entities.0']);
  });
});
