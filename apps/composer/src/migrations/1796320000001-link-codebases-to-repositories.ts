import { MigrationInterface, QueryRunner } from 'typeorm';
import { ForeignKey, addForeignKey, dropForeignKey } from '@strata/base';

/**
 * A codebase analyses a repository: `codebase.codebases.repository_id` →
 * `projects.repositories`, composite with organization_id so a codebase can
 * never name another organization's repository. Deleting a repository deletes
 * its codebases and their snapshots (the analysis of code nobody keeps).
 */
export const codebaseRepositoryReference: ForeignKey = {
  table: 'codebase.codebases',
  name: 'codebases_organization_id_repository_id_fkey',
  columns: ['organization_id', 'repository_id'],
  references: { table: 'projects.repositories', columns: ['organization_id', 'id'] },
  onDelete: 'CASCADE',
  comment: 'strata:manual cross-module reference owned by the composer',
};

/** Added `NOT VALID` (an instant's lock); ValidateCodebaseRepositoryReferences checks the existing rows. */
export class LinkCodebasesToRepositories1796320000001 implements MigrationInterface {
  name = 'LinkCodebasesToRepositories1796320000001';

  async up(q: QueryRunner): Promise<void> {
    await addForeignKey(q, codebaseRepositoryReference);
  }

  async down(q: QueryRunner): Promise<void> {
    await dropForeignKey(q, codebaseRepositoryReference);
  }
}
