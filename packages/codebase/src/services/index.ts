export * from './codebases.service';
export * from './snapshots.service';
