import { MigrationInterface, QueryRunner } from 'typeorm';
import { unvalidateForeignKey, validateForeignKey } from '@strata/base';
import { codebaseRepositoryReference } from './1796320000001-link-codebases-to-repositories';

/** Validates the codebase → repository reference in a transaction of its own: writes go on while it scans. */
export class ValidateCodebaseRepositoryReferences1796320000002 implements MigrationInterface {
  name = 'ValidateCodebaseRepositoryReferences1796320000002';

  async up(q: QueryRunner): Promise<void> {
    await validateForeignKey(q, codebaseRepositoryReference);
  }

  async down(q: QueryRunner): Promise<void> {
    await unvalidateForeignKey(q, codebaseRepositoryReference);
  }
}
