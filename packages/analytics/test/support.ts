import { OrganizationsService } from '@strata/base';
import { TestDatabase, expectNothingWritten as nothingWrittenIn } from '@strata/testing';

export const ANALYTICS_TABLES = [
  'analytics.analysis_runs',
  'analytics.analysis_run_metrics',
  'analytics.metric_points',
  'analytics.metric_rollups_hourly',
  'analytics.metric_rollups_daily',
  'analytics.rollup_watermarks',
  'analytics.rollup_deltas',
  'analytics.experiments',
  'analytics.experiment_assignments',
];

export const expectNothingWritten = (db: TestDatabase, refusals: () => Promise<void>) => nothingWrittenIn(db, ANALYTICS_TABLES, refusals);

/** A new organization; `slug` must be unique within the test file. */
export async function createOrganization(db: TestDatabase, slug: string): Promise<string> {
  return (await new OrganizationsService(db.dataSource).create({ name: `Org ${slug}`, slug })).id;
}

/** A seeded pseudo-random generator (mulberry32), so generated data is the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller) from a uniform generator. */
export function normal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}
