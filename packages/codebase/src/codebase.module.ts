import { defineModule } from '@strata/base';
import { CodeElement, Codebase, ElementRelation, FileAnalysis, FileQualityScore, Snapshot } from './entities';
import { CreateCodebaseSchema1796320000000 } from './migrations/1796320000000-create-codebase-schema';
import { CreateFileQualityScores1796320000003 } from './migrations/1796320000003-create-file-quality-scores';

/** Code analysis: codebases, snapshots, files, code elements and their relations. */
export const codebaseModule = defineModule({
  name: 'codebase',
  entities: [Codebase, Snapshot, FileAnalysis, CodeElement, ElementRelation, FileQualityScore],
  migrations: [CreateCodebaseSchema1796320000000, CreateFileQualityScores1796320000003],
});
