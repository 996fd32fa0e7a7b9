export * from './analysis-run.entity';
export * from './analysis-run-metric.entity';
export * from './metric-point.entity';
export * from './metric-rollup.entity';
export * from './rollup-state.entity';
export * from './experiment.entity';
