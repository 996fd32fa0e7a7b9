export * from './patterns';
export * from './git';
export * from './inputs';
