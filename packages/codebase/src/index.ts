export * from './entities';
export * from './analyzer';
export { codebaseModule } from './codebase.module';
