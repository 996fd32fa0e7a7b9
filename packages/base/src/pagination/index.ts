export * from './keyset';
