import { MigrationInterface, QueryRunner } from 'typeorm';

/** Each execution records the rollout that chose its version (a plain id: a rollout may end, its executions stay). */
export class RecordExecutionRollouts1796310400000 implements MigrationInterface {
  name = 'RecordExecutionRollouts1796310400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "prompts"."prompt_executions" ADD "rollout_id" uuid`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE "prompts"."prompt_executions" DROP COLUMN "rollout_id"`);
  }
}
