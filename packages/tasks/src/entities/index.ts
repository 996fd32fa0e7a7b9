export * from './task-definition.entity';
export * from './workflow.entity';
export * from './task.entity';
export * from './task-dependency.entity';
export * from './task-execution.entity';
