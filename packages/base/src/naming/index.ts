export * from './naming-strategy';
