export * from './entities';
export { learningModule } from './learning.module';
