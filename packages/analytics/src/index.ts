export * from './entities';
export * from './services';
export * from './sketch/sketch';
export { analyticsModule } from './analytics.module';
export * from './experiments/bucketing';
export * from './experiments/statistics';
