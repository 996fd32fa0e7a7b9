import { Client } from 'pg';
import { ModelVersionsService, ModelsService, PredictionsService } from '@strata/learning';
import type { PredictionInput } from '@strata/learning';
import { Scenario, median, timed } from '../harness';
import { learningDatabase } from './learning-database';

const BATCH = 10_000;

/**
 * 10,000 predictions recorded in one `PredictionsService.record` call
 * (validated, one INSERT … SELECT FROM jsonb_to_recordset, as strata_app
 * under row-level security, rows returned). The limit: the same rows by a
 * multi-row INSERT of unnest arrays through raw `pg` as the owner (COPY needs
 * a driver add-on the workspace does not have, and the embedded database has
 * no COPY over the socket).
 */
export const predictionIngest: Scenario = {
  name: `prediction ingest, ${BATCH} per batch`,
  async run(target, runs) {
    const db = await learningDatabase(target);
    const client = new Client({ connectionString: db.url });
    try {
      await client.connect();
      const model = await new ModelsService(db.dataSource).create(db.organizationId, { name: 'bench', type: 'prediction' });
      const version = await new ModelVersionsService(db.dataSource).create(db.organizationId, model.id);
      const predictions = new PredictionsService(db.dataSource);
      const batch: PredictionInput[] = Array.from({ length: BATCH }, (_, i) => ({
        versionId: version.id,
        predictionType: 'bug_likelihood',
        valueKind: 'probability',
        targetType: 'file',
        targetId: `src/file-${i}.ts`,
        predictedValue: (i % 100) / 100,
        inputFeatures: { churn: i % 17 },
      }));
      const measured: number[] = [];
      const limit: number[] = [];
      for (let i = 0; i < runs; i++) {
        measured.push(await timed(async () => void (await predictions.record(db.organizationId, batch))));
        limit.push(
          await timed(async () => {
            await client.query(
              `INSERT INTO learning.predictions (organization_id, version_id, prediction_type, value_kind, target_type, target_id, predicted_value, input_features)
               SELECT $1, $2, 'bug_likelihood', 'probability', 'file', t, v, f FROM unnest($3::text[], $4::float8[], $5::jsonb[]) AS u(t, v, f)`,
              [
                db.organizationId,
                version.id,
                batch.map((p) => p.targetId),
                batch.map((p) => p.predictedValue),
                batch.map((p) => JSON.stringify(p.inputFeatures)),
              ],
            );
          }),
        );
      }
      const measuredMs = median(measured);
      const limitMs = median(limit);
      return {
        scenario: this.name,
        target,
        runs,
        limit: 'multi-row INSERT (unnest), raw pg',
        measuredMs,
        limitMs,
        ratio: limitMs / measuredMs,
        note: `${Math.round((BATCH / measuredMs) * 1000)} predictions/s`,
      };
    } finally {
      await client.end().catch(() => undefined);
      await db.dispose();
    }
  },
};
