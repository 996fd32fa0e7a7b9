export * from './entities';
export { eventsModule } from './events.module';
export * from './signatures';
