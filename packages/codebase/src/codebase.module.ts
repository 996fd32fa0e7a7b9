import { defineModule } from '@strata/base';
import { CodeElement, Codebase, ElementRelation, FileAnalysis, Snapshot } from './entities';
import { CreateCodebaseSchema1796320000000 } from './migrations/1796320000000-create-codebase-schema';

/** Code analysis: codebases, snapshots, files, code elements and their relations. */
export const codebaseModule = defineModule({
  name: 'codebase',
  entities: [Codebase, Snapshot, FileAnalysis, CodeElement, ElementRelation],
  migrations: [CreateCodebaseSchema1796320000000],
});
