import { defineModule } from '@strata/base';
import { CreateTasksSchema1795447506106 } from './migrations/1795447506106-create-tasks-schema';
import { ReusableQueuePlans1796115320111 } from './migrations/1796115320111-reusable-queue-plans';
import { AutoAnalyzeQueue1796119318452 } from './migrations/1796119318452-auto-analyze-queue';
import { CycleCheckTriggerOnly1796200300000 } from './migrations/1796200300000-cycle-check-trigger-only';
import { TenantPrimaryKeys1796203300000 } from './migrations/1796203300000-tenant-primary-keys';
import { RoutableTenantFunctions1796203500000 } from './migrations/1796203500000-routable-tenant-functions';
import { Task, TaskDefinition, TaskDependency, TaskExecution, Workflow } from './entities';

/** Schema `tasks`: definitions, workflow DAGs, the work queue and its execution history. */
export const tasksModule = defineModule({
  name: 'tasks',
  entities: [TaskDefinition, Workflow, Task, TaskDependency, TaskExecution],
  migrations: [
    CreateTasksSchema1795447506106,
    ReusableQueuePlans1796115320111,
    AutoAnalyzeQueue1796119318452,
    CycleCheckTriggerOnly1796200300000,
    TenantPrimaryKeys1796203300000,
    RoutableTenantFunctions1796203500000,
  ],
});
