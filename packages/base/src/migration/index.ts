export * from './migration-runner';
export * from './schema-drift';
export * from './migrate';
