export * from './tenancy';
export * from './tenant-scope';
