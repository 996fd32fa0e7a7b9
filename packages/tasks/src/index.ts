export * from './entities';
export * from './services';
export { tasksModule } from './tasks.module';
