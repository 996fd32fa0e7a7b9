export * from './entities';
export * from './analyzer';
export * from './services';
export { codebaseModule } from './codebase.module';
