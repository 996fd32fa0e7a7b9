import { MigrationInterface, QueryRunner } from 'typeorm';
import { unvalidateForeignKey, validateForeignKey } from '@strata/base';
import { PROJECT_REFERENCING_TABLES, projectReference } from './1796203600000-clear-project-references-by-trigger';

/**
 * Validates the project references ClearProjectReferencesByTrigger added
 * `NOT VALID`: in a transaction of its own, VALIDATE CONSTRAINT reads tasks
 * and workflows under SHARE UPDATE EXCLUSIVE, so writes go on while it scans.
 */
export class ValidateProjectReferences1796203700000 implements MigrationInterface {
  name = 'ValidateProjectReferences1796203700000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of PROJECT_REFERENCING_TABLES) await validateForeignKey(q, projectReference(table));
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of PROJECT_REFERENCING_TABLES) await unvalidateForeignKey(q, projectReference(table));
  }
}
