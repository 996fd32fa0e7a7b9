export * from './ml-model.entity';
export * from './model-version.entity';
export * from './model-alias.entity';
export * from './model-alias-move.entity';
export * from './artifact.entity';
export * from './artifact-blob.entity';
export * from './model-version-artifact.entity';
