export * from './metric-input';
export * from './metrics.service';
export * from './analysis-runs.service';
export * from './experiments.service';
