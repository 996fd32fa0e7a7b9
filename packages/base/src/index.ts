import 'reflect-metadata';

export * from './errors';
export * from './naming';
export * from './columns';
export * from './module';
export * from './database';
export * from './migration';
export * from './tenancy';
export * from './validation';
export * from './mapping';
export * from './partitioning';
export * from './pagination';
export * from './health';
export * from './entities';
export * from './services';
export * from './cli';
export { baseModule } from './base.module';
