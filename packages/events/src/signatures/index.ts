export * from './signatures';
