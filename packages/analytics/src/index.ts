export * from './entities';
export * from './services';
export * from './sketch/sketch';
export { analyticsModule } from './analytics.module';
