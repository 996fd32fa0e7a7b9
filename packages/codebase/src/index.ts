export * from './entities';
export { codebaseModule } from './codebase.module';
