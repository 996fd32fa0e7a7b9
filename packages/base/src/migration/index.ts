export * from './migration-runner';
export * from './schema-drift';
export * from './migrate';
export * from './migration-lint';
