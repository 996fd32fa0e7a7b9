export * from './hydrate';
