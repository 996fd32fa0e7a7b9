import { defineModule } from '@strata/base';
import { LinkTasksToProjects1795449600000 } from './migrations/1795449600000-link-tasks-to-projects';
import { ClearProjectReferencesByTrigger1796203600000 } from './migrations/1796203600000-clear-project-references-by-trigger';
import { ValidateProjectReferences1796203700000 } from './migrations/1796203700000-validate-project-references';
import { LinkEventsToProjects1796300100000 } from './migrations/1796300100000-link-events-to-projects';
import { LinkCodebasesToRepositories1796320000001 } from './migrations/1796320000001-link-codebases-to-repositories';
import { ValidateCodebaseRepositoryReferences1796320000002 } from './migrations/1796320000002-validate-codebase-repository-references';
import { LinkAnalysisRuns1796330300000 } from './migrations/1796330300000-link-analysis-runs';
import { ValidateAnalysisRunReferences1796330400000 } from './migrations/1796330400000-validate-analysis-run-references';
import { LinkPrompts1796310100000 } from './migrations/1796310100000-link-prompts';
import { ValidatePromptReferences1796310200000 } from './migrations/1796310200000-validate-prompt-references';

/**
 * Schema `composer`: what only the whole platform can own — cross-module foreign
 * keys (tenant-consistent) and cross-module views. It requires every module, so
 * its migrations run last. Each module issue adds its module to `requires` and
 * its cross-module constraints as composer migrations.
 */
export const composerModule = defineModule({
  name: 'composer',
  requires: ['base', 'projects', 'tasks', 'events', 'codebase', 'analytics', 'learning', 'prompts'],
  entities: [],
  migrations: [
    LinkTasksToProjects1795449600000,
    ClearProjectReferencesByTrigger1796203600000,
    ValidateProjectReferences1796203700000,
    LinkEventsToProjects1796300100000,
    LinkPrompts1796310100000,
    ValidatePromptReferences1796310200000,
    LinkCodebasesToRepositories1796320000001,
    ValidateCodebaseRepositoryReferences1796320000002,
    LinkAnalysisRuns1796330300000,
    ValidateAnalysisRunReferences1796330400000,
  ],
});
