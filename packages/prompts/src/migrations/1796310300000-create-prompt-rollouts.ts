import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

/**
 * Sticky rollouts: a label of a template splits its traffic between versions
 * by weight; a unit (user, session, repository…) is assigned by a hash of its
 * id and the rollout's seed, so it keeps its version until the weights change.
 * (RecordExecutionRollouts adds the column executions record it in.)
 */
const rollouts: TenantTable = {
  table: 'prompts.prompt_rollouts',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    template_id: 'uuid NOT NULL',
    label: 'character varying(64) NOT NULL',
    seed: 'character varying(64) NOT NULL',
    versions: 'integer array NOT NULL',
    weights: 'integer array NOT NULL',
    created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
    updated_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
  constraints: [
    `CONSTRAINT "prompt_rollouts_organization_id_template_id_label_key" UNIQUE ("organization_id", "template_id", "label")`,
    `CONSTRAINT "prompt_rollouts_label_check" CHECK ("label" ~ '^[a-z0-9][a-z0-9_.-]{0,63}$')`,
    `CONSTRAINT "prompt_rollouts_arms_check" CHECK (cardinality("versions") = cardinality("weights") AND cardinality("versions") BETWEEN 1 AND 100 AND 0 <= ALL ("weights"))`,
    `CONSTRAINT "prompt_rollouts_organization_id_template_id_fkey" FOREIGN KEY ("organization_id", "template_id")
       REFERENCES "prompts"."prompt_templates" ("organization_id", "id") ON DELETE CASCADE`,
  ],
  audit: true,
};

export class CreatePromptRollouts1796310300000 implements MigrationInterface {
  name = 'CreatePromptRollouts1796310300000';

  async up(q: QueryRunner): Promise<void> {
    await createTenantTable(q, rollouts);
  }

  async down(q: QueryRunner): Promise<void> {
    await dropTenantTable(q, rollouts);
  }
}
