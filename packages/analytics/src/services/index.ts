export * from './metric-input';
export * from './metrics.service';
