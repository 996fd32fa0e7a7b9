import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

/** Scores of executions (effectiveness tracking): numeric or categorical, from a human, an evaluator or an agent. */
const scores: TenantTable = {
  table: 'prompts.execution_scores',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    execution_id: 'uuid NOT NULL',
    execution_started_at: 'TIMESTAMP WITH TIME ZONE NOT NULL',
    name: 'character varying(64) NOT NULL',
    value: 'double precision',
    category: 'character varying(255)',
    source: 'character varying(16) NOT NULL',
    comment: 'text',
    created_by: 'uuid',
    created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
  constraints: [
    `CONSTRAINT "execution_scores_name_check" CHECK ("name" ~ '^[a-z][a-z0-9_.-]{0,63}$')`,
    `CONSTRAINT "execution_scores_source_check" CHECK ("source" IN ('human', 'evaluator', 'agent'))`,
    `CONSTRAINT "execution_scores_value_check" CHECK (("value" IS NULL) <> ("category" IS NULL))`,
    `CONSTRAINT "execution_scores_organization_id_execution_id_fkey" FOREIGN KEY ("organization_id", "execution_id", "execution_started_at")
       REFERENCES "prompts"."prompt_executions" ("organization_id", "id", "started_at") ON DELETE CASCADE`,
  ],
};

export class CreateExecutionScores1796310600000 implements MigrationInterface {
  name = 'CreateExecutionScores1796310600000';

  async up(q: QueryRunner): Promise<void> {
    await createTenantTable(q, scores);
    await q.query(
      `CREATE INDEX "execution_scores_organization_id_execution_id_idx" ON "prompts"."execution_scores" ("organization_id", "execution_id")`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await dropTenantTable(q, scores);
  }
}
