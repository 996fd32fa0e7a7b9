export * from './entities';
export { promptsModule } from './prompts.module';
