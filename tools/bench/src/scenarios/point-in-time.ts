import { Client } from 'pg';
import { FeatureStoreService } from '@strata/learning';
import type { EntityRow } from '@strata/learning';
import { Scenario, median, timed } from '../harness';
import { learningDatabase } from './learning-database';

const ENTITIES = 10_000;
const EVENTS_PER_ENTITY = 100;
const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);

/**
 * Point-in-time retrieval of 10,000 entity rows against 1,000,000 feature rows
 * (10,000 entities × 100 events a day apart, TTL 30 days) through
 * `getHistoricalFeatures`. The limit: the same answer from a hand-written
 * LATERAL query through raw `pg` as the owner (no row-level security, no
 * validation, no mapping), on the same database.
 */
export const pointInTime: Scenario = {
  name: `point-in-time lookup, ${ENTITIES} entity rows × ${ENTITIES * EVENTS_PER_ENTITY} feature rows`,
  async run(target, runs) {
    const db = await learningDatabase(target);
    const client = new Client({ connectionString: db.url });
    try {
      const store = new FeatureStoreService(db.dataSource);
      const view = await store.createView(db.organizationId, {
        name: 'bench',
        entityKeys: ['entity'],
        features: [{ name: 'score', type: 'number' }],
        ttlSeconds: 30 * 86_400,
      });
      await client.connect();
      // Generated in SQL: the fixture, not what is measured.
      await client.query(
        `INSERT INTO learning.feature_rows (organization_id, view_id, entity_key, event_timestamp, created_timestamp, values)
         SELECT $1, $2, '["e' || e || '"]', $3::timestamptz + make_interval(days => d), $3::timestamptz + make_interval(days => d, secs => 1),
                jsonb_build_object('score', e * 1000 + d)
           FROM generate_series(1, $4) e, generate_series(0, $5 - 1) d`,
        [db.organizationId, view.id, new Date(START), ENTITIES, EVENTS_PER_ENTITY],
      );
      await client.query('ANALYZE learning.feature_rows');
      // Entity timestamps spread over the whole range and a little past it.
      const entityRows: EntityRow[] = Array.from({ length: ENTITIES }, (_, i) => ({
        entity: { entity: `e${i + 1}` },
        timestamp: new Date(START + ((i * 7919) % (EVENTS_PER_ENTITY + 40)) * DAY + ((i * 104729) % DAY)),
      }));
      const keys = entityRows.map((r) => JSON.stringify([r.entity.entity]));
      const stamps = entityRows.map((r) => r.timestamp);
      const byHand = `
        SELECT f.values FROM unnest($3::text[], $4::timestamptz[]) WITH ORDINALITY AS e(k, ts, ord)
          LEFT JOIN LATERAL (SELECT r.values FROM learning.feature_rows r
                              WHERE r.organization_id = $1 AND r.view_id = $2 AND r.entity_key = e.k
                                AND r.event_timestamp <= e.ts AND r.event_timestamp >= e.ts - interval '30 days'
                              ORDER BY r.event_timestamp DESC, r.created_timestamp DESC LIMIT 1) f ON true
         ORDER BY e.ord`;
      const measured: number[] = [];
      const limit: number[] = [];
      let same = true;
      let found = 0;
      for (let i = 0; i < runs; i++) {
        let ours: unknown[] = [];
        let theirs: unknown[] = [];
        measured.push(await timed(async () => void (ours = await store.getHistoricalFeatures(db.organizationId, ['bench'], entityRows))));
        limit.push(await timed(async () => void (theirs = (await client.query(byHand, [db.organizationId, view.id, keys, stamps])).rows)));
        const oursScores = (ours as { features: Record<string, { values: { score: number } } | null> }[]).map(
          (r) => r.features.bench?.values.score ?? null,
        );
        const theirScores = (theirs as { values: { score: number } | null }[]).map((r) => r.values?.score ?? null);
        same &&= JSON.stringify(oursScores) === JSON.stringify(theirScores);
        found = oursScores.filter((s) => s !== null).length;
      }
      const measuredMs = median(measured);
      const limitMs = median(limit);
      return {
        scenario: this.name,
        target,
        runs,
        limit: 'hand-written LATERAL query, raw pg',
        measuredMs,
        limitMs,
        ratio: limitMs / measuredMs,
        note: `${found} rows found, same answer: ${same ? 'yes' : 'NO'}`,
      };
    } finally {
      await client.end().catch(() => undefined);
      await db.dispose();
    }
  },
};
