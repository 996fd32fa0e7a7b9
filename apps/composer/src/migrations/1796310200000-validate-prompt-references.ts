import { MigrationInterface, QueryRunner } from 'typeorm';
import { unvalidateForeignKey, validateForeignKey } from '@strata/base';
import { PROMPT_EXECUTION_TASK, PROMPT_TEMPLATE_PROJECT, notValidOnPartitioned } from './1796310100000-link-prompts';

/**
 * Validates the keys LinkPrompts added NOT VALID, in a transaction of its own
 * (SHARE UPDATE EXCLUSIVE: writes go on during the scan). Before PostgreSQL 18
 * the executions' key was added valid already: validating it is a no-op, and
 * the down leaves it as LinkPrompts made it there.
 */
export class ValidatePromptReferences1796310200000 implements MigrationInterface {
  name = 'ValidatePromptReferences1796310200000';

  async up(q: QueryRunner): Promise<void> {
    await validateForeignKey(q, PROMPT_TEMPLATE_PROJECT);
    await validateForeignKey(q, PROMPT_EXECUTION_TASK);
  }

  async down(q: QueryRunner): Promise<void> {
    if (await notValidOnPartitioned(q)) await unvalidateForeignKey(q, PROMPT_EXECUTION_TASK);
    await unvalidateForeignKey(q, PROMPT_TEMPLATE_PROJECT);
  }
}
