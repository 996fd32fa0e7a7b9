import { StrataModule, baseModule, orderModules } from '@strata/base';
import { projectsModule } from '@strata/projects';
import { tasksModule } from '@strata/tasks';
import { eventsModule } from '@strata/events';
import { promptsModule } from '@strata/prompts';
import { codebaseModule } from '@strata/codebase';
import { analyticsModule } from '@strata/analytics';
import { learningModule } from '@strata/learning';
import { composerModule } from './composer.module';

/** Every module the platform assembles, dependencies first. Module issues register theirs here. */
export const installedModules: StrataModule[] = orderModules([
  baseModule,
  projectsModule,
  tasksModule,
  eventsModule,
  promptsModule,
  codebaseModule,
  analyticsModule,
  learningModule,
  composerModule,
]);
