import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, constraintName, createTenantTable, dropTenantTable } from '@strata/base';

const reference = (column: string, target: string) =>
  `CONSTRAINT "file_quality_scores_organization_id_${column}_fkey" FOREIGN KEY ("organization_id", "${column}") ` +
  `REFERENCES "codebase"."${target}" ("organization_id", "id") ON DELETE CASCADE`;

const scores: TenantTable = {
  table: 'codebase.file_quality_scores',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    snapshot_id: 'uuid NOT NULL',
    file_id: 'uuid NOT NULL',
    maintainability: 'double precision',
    rating: 'character varying(16)',
    function_count: 'integer NOT NULL',
    max_complexity: 'integer',
    mean_complexity: 'double precision',
    complex_function_count: 'integer NOT NULL',
    created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
    updated_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
  constraints: [
    `CONSTRAINT "file_quality_scores_organization_id_file_id_key" UNIQUE ("organization_id", "file_id")`,
    `CONSTRAINT "file_quality_scores_rating_check" CHECK ("rating" IN ('good', 'moderate', 'poor'))`,
    reference('snapshot_id', 'snapshots'),
    reference('file_id', 'file_analysis'),
  ],
};

const INDEX = constraintName('file_quality_scores', ['organization_id', 'snapshot_id', 'maintainability'], 'idx');

/** Per-file quality scores of a snapshot (written in bulk with it: no audit trigger). */
export class CreateFileQualityScores1796320000003 implements MigrationInterface {
  name = 'CreateFileQualityScores1796320000003';

  async up(q: QueryRunner): Promise<void> {
    await createTenantTable(q, scores);
    await q.query(`CREATE INDEX "${INDEX}" ON "codebase"."file_quality_scores" ("organization_id", "snapshot_id", "maintainability")`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX "codebase"."${INDEX}"`);
    await dropTenantTable(q, scores);
  }
}
