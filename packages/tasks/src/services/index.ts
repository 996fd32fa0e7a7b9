export * from './task-definitions.service';
export * from './workflows.service';
export * from './workflow-graph';
export * from './tasks.service';
export * from './work-queue.service';
export * from './task-stats.service';
