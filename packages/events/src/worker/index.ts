export * from './delivery-worker';
