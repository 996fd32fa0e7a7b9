import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

const predictions: TenantTable = {
  table: 'learning.predictions',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    predicted_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
    version_id: 'uuid NOT NULL',
    prediction_type: 'character varying(64) NOT NULL',
    value_kind: 'character varying(16) NOT NULL',
    target_type: 'character varying(64) NOT NULL',
    target_id: 'character varying(255) NOT NULL',
    predicted_value: 'double precision',
    predicted_label: 'text',
    confidence_low: 'double precision',
    confidence_high: 'double precision',
    horizon_seconds: 'integer',
    input_features: "jsonb NOT NULL DEFAULT '{}'",
    status: "character varying(16) NOT NULL DEFAULT 'pending'",
    actual_value: 'double precision',
    actual_label: 'text',
    correct: 'boolean',
    error: 'double precision',
    feedback_source: 'character varying(16)',
    feedback_by: 'uuid',
    feedback_comment: 'text',
    feedback_at: 'TIMESTAMP WITH TIME ZONE',
  },
  key: ['id', 'predicted_at'],
  constraints: [
    `CONSTRAINT "predictions_value_kind_check" CHECK ("value_kind" IN ('probability', 'label', 'number'))`,
    `CONSTRAINT "predictions_predicted_check" CHECK (CASE "value_kind" WHEN 'label' THEN "predicted_label" IS NOT NULL AND "predicted_value" IS NULL
   WHEN 'probability' THEN "predicted_label" IS NULL AND "predicted_value" BETWEEN 0 AND 1
   ELSE "predicted_label" IS NULL AND "predicted_value" IS NOT NULL END)`,
    `CONSTRAINT "predictions_confidence_check" CHECK ("confidence_low" <= "confidence_high")`,
    `CONSTRAINT "predictions_status_check" CHECK ("status" IN ('pending', 'resolved') AND ("status" = 'resolved') = ("feedback_at" IS NOT NULL))`,
    `CONSTRAINT "predictions_feedback_source_check" CHECK ("feedback_source" IN ('user', 'system'))`,
    `CONSTRAINT "predictions_organization_id_version_id_fkey" FOREIGN KEY ("organization_id", "version_id")
       REFERENCES "learning"."model_versions" ("organization_id", "id") ON DELETE CASCADE`,
  ],
  partition: { column: 'predicted_at', interval: 'month', premake: 3, retention: '24 months' },
};

/** Predictions with their feedback, partitioned monthly. */
export class CreatePredictions1796340200000 implements MigrationInterface {
  name = 'CreatePredictions1796340200000';

  async up(q: QueryRunner): Promise<void> {
    await createTenantTable(q, predictions);
    await q.query(`CREATE INDEX "predictions_version_idx" ON "learning"."predictions" ("organization_id", "version_id", "predicted_at")`);
    await q.query(
      `CREATE INDEX "predictions_target_idx" ON "learning"."predictions" ("organization_id", "target_type", "target_id", "predicted_at")`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await dropTenantTable(q, predictions);
  }
}
