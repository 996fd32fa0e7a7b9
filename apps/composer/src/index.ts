export { composerModule } from './composer.module';
export { installedModules } from './modules';
export { buildCli, runCli } from './cli-program';
export * from './events';
