export * from './migration-runner';
export * from './schema-drift';
export * from './extensions';
export * from './vector-indexes';
export * from './tenant-table';
export * from './migrate';
export * from './migration-lint';
