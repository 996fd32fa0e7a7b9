export * from './analyzer';
export * from './languages';
