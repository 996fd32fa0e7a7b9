export * from './analyzer';
export * from './languages';
export * from './resolver';
