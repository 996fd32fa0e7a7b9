export * from './errors';
export * from './database-errors';
export * from './retry';
