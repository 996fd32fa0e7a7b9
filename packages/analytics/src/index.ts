export * from './entities';
export { analyticsModule } from './analytics.module';
