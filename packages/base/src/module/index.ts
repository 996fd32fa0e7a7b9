export * from './define-module';
