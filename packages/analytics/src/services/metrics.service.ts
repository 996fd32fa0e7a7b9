import { TenantConnection, TenantService, translateDatabaseError } from '@strata/base';
import { analyticsModule } from '../analytics.module';
import { MetricPointInput, validatePoints } from './metric-input';

/** One statement for the whole batch: the columns as arrays, unnested together. */
const INSERT_POINTS = `
  INSERT INTO analytics.metric_points (organization_id, name, ts, value, unit, category, tags, source)
  SELECT $1, u.name, u.ts, u.value, u.unit, u.category, u.tags, u.source
    FROM unnest($2::text[], $3::timestamptz[], $4::float8[], $5::text[], $6::text[], $7::jsonb[], $8::text[])
         AS u(name, ts, value, unit, category, tags, source)`;

export interface IngestResult {
  inserted: number;
}

/** Metric points: batched ingest. */
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
    try {
      await this.scope.run(organizationId, (m) =>
        m.query(INSERT_POINTS, [
          organizationId,
          column('name'),
          column('ts'),
          column('value'),
          column('unit'),
          column('category'),
          column('tags'),
          column('source'),
        ]),
      );
    } catch (error) {
      translateDatabaseError(error, 'metric points');
    }
    return { inserted: valid.length };
  }
}
