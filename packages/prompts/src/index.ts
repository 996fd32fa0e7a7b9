export * from './entities';
export * from './services';
export { promptsModule } from './prompts.module';
