import { MigrationInterface, QueryRunner } from 'typeorm';
import { ForeignKey, addForeignKey, dropForeignKey } from '@strata/base';

/** What analytics.analysis_runs refers to in the projects module, and the key that says so. */
export const ANALYSIS_RUN_REFERENCES: ForeignKey[] = [
  {
    table: 'analytics.analysis_runs',
    name: 'analysis_runs_organization_id_project_id_fkey',
    columns: ['organization_id', 'project_id'],
    references: { table: 'projects.projects', columns: ['organization_id', 'id'] },
    onDelete: 'CASCADE',
    comment: 'strata:manual cross-module reference owned by the composer',
  },
  {
    table: 'analytics.analysis_runs',
    name: 'analysis_runs_organization_id_repository_id_fkey',
    columns: ['organization_id', 'repository_id'],
    references: { table: 'projects.repositories', columns: ['organization_id', 'id'] },
    onDelete: 'CASCADE',
    comment: 'strata:manual cross-module reference owned by the composer',
  },
];

/**
 * An analysis run's project and repository, tenant-consistent (composite with
 * organization_id), added NOT VALID; ValidateAnalysisRunReferences validates
 * them in a transaction of its own. The runs of a deleted project or repository
 * go with it (a run without what it analysed is no record of anything), and a
 * composite cascade is one Citus accepts. snapshot_id waits for the codebase module.
 */
export class LinkAnalysisRuns1796330300000 implements MigrationInterface {
  name = 'LinkAnalysisRuns1796330300000';

  async up(q: QueryRunner): Promise<void> {
    for (const fk of ANALYSIS_RUN_REFERENCES) await addForeignKey(q, fk);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const fk of [...ANALYSIS_RUN_REFERENCES].reverse()) await dropForeignKey(q, fk);
  }
}
