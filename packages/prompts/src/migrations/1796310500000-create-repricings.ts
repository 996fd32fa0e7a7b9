import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

/** The record of every re-pricing of a period's LLM calls (who, when, why, what it changed): append-only. */
const repricings: TenantTable = {
  table: 'prompts.repricings',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    period_start: 'TIMESTAMP WITH TIME ZONE NOT NULL',
    period_end: 'TIMESTAMP WITH TIME ZONE NOT NULL',
    reason: 'text NOT NULL',
    repriced_by: 'uuid',
    interactions: 'integer NOT NULL',
    cost_before: 'numeric(20,10) NOT NULL',
    cost_after: 'numeric(20,10) NOT NULL',
    created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
  constraints: [
    `CONSTRAINT "repricings_period_check" CHECK ("period_end" > "period_start")`,
    `CONSTRAINT "repricings_reason_check" CHECK ("reason" <> '')`,
  ],
  audit: true,
};

export class CreateRepricings1796310500000 implements MigrationInterface {
  name = 'CreateRepricings1796310500000';

  async up(q: QueryRunner): Promise<void> {
    await createTenantTable(q, repricings);
    await q.query(`REVOKE UPDATE, DELETE ON "prompts"."repricings" FROM strata_app`);
  }

  async down(q: QueryRunner): Promise<void> {
    await dropTenantTable(q, repricings);
  }
}
