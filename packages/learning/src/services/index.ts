export * from './models.service';
export * from './model-versions.service';
export * from './model-aliases.service';
export * from './artifact-stores';
export * from './artifacts.service';
export * from './feature-store.service';
export * from './predictions.service';
