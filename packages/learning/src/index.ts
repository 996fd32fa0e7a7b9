export * from './entities';
export * from './services';
export { learningModule } from './learning.module';
