export * from './codebases.service';
export * from './snapshots.service';
export * from './impact.service';
