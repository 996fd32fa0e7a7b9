export * from './partitioning';
