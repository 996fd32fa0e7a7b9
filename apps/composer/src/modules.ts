import { StrataModule, baseModule, orderModules } from '@strata/base';
import { projectsModule } from '@strata/projects';
import { tasksModule } from '@strata/tasks';
import { promptsModule } from '@strata/prompts';
import { composerModule } from './composer.module';

/** Every module the platform assembles, dependencies first. Module issues register theirs here. */
export const installedModules: StrataModule[] = orderModules([baseModule, projectsModule, tasksModule, promptsModule, composerModule]);
