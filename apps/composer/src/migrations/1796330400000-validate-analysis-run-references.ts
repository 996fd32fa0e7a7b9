import { MigrationInterface, QueryRunner } from 'typeorm';
import { unvalidateForeignKey, validateForeignKey } from '@strata/base';
import { ANALYSIS_RUN_REFERENCES } from './1796330300000-link-analysis-runs';

/** Validates LinkAnalysisRuns' keys: VALIDATE CONSTRAINT reads analysis_runs under SHARE UPDATE EXCLUSIVE, so writes go on. */
export class ValidateAnalysisRunReferences1796330400000 implements MigrationInterface {
  name = 'ValidateAnalysisRunReferences1796330400000';

  async up(q: QueryRunner): Promise<void> {
    for (const fk of ANALYSIS_RUN_REFERENCES) await validateForeignKey(q, fk);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const fk of [...ANALYSIS_RUN_REFERENCES].reverse()) await unvalidateForeignKey(q, fk);
  }
}
