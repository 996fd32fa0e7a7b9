import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

const experiments: TenantTable = {
  table: 'analytics.experiments',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    key: 'character varying(255) NOT NULL',
    name: 'character varying(255) NOT NULL',
    hypothesis: 'text',
    variations: 'jsonb NOT NULL',
    weights: 'double precision array NOT NULL',
    hash_attribute: `character varying(64) NOT NULL DEFAULT 'id'`,
    seed: 'character varying(255) NOT NULL',
    hash_version: 'smallint NOT NULL DEFAULT 2',
    coverage: 'double precision NOT NULL DEFAULT 1',
    status: `character varying(16) NOT NULL DEFAULT 'draft'`,
    srm_p_value: 'double precision',
    srm_checked_at: 'TIMESTAMP WITH TIME ZONE',
    created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
    updated_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
  constraints: [
    `CONSTRAINT "experiments_organization_id_key_key" UNIQUE ("organization_id", "key")`,
    `CONSTRAINT "experiments_status_check" CHECK ("status" IN ('draft', 'running', 'stopped'))`,
    `CONSTRAINT "experiments_hash_version_check" CHECK ("hash_version" IN (1, 2))`,
    `CONSTRAINT "experiments_coverage_check" CHECK ("coverage" >= 0 AND "coverage" <= 1)`,
    `CONSTRAINT "experiments_weights_check" CHECK (cardinality("weights") = jsonb_array_length("variations") AND cardinality("weights") >= 2)`,
  ],
  audit: true,
};

const assignments: TenantTable = {
  table: 'analytics.experiment_assignments',
  columns: {
    experiment_id: 'uuid NOT NULL',
    unit_id: 'character varying(255) NOT NULL',
    variation: 'integer NOT NULL',
    seed: 'character varying(255) NOT NULL',
    assigned_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
  key: ['experiment_id', 'unit_id'],
  constraints: [
    `CONSTRAINT "experiment_assignments_variation_check" CHECK ("variation" >= 0)`,
    `CONSTRAINT "experiment_assignments_organization_id_experiment_id_fkey" FOREIGN KEY ("organization_id", "experiment_id")
       REFERENCES "analytics"."experiments" ("organization_id", "id") ON DELETE CASCADE`,
  ],
};

/** A/B experiments and their sticky assignments (GrowthBook-compatible bucketing, in the service). */
export class CreateExperiments1796330500000 implements MigrationInterface {
  name = 'CreateExperiments1796330500000';

  async up(q: QueryRunner): Promise<void> {
    await createTenantTable(q, experiments);
    await createTenantTable(q, assignments);
  }

  async down(q: QueryRunner): Promise<void> {
    await dropTenantTable(q, assignments);
    await dropTenantTable(q, experiments);
  }
}
