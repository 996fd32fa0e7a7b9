export * from './entities';
export * from './services';
export * from './validation/patterns';
export * from './validation/git';
export { projectsModule } from './projects.module';
