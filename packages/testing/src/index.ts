export * from './test-database';
export * from './catalog';
export * from './refusals';
export * from './wait';
