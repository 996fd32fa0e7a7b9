export * from './operations';
export * from './format';
export * from './load-modules';
