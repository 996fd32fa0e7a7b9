export * from './events.service';
