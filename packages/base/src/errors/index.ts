export * from './errors';
export * from './database-errors';
