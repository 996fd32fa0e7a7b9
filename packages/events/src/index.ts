export * from './entities';
export { eventsModule } from './events.module';
export * from './signatures';
export * from './normalize';
export * from './services';
export * from './receiver';
export * from './worker';
