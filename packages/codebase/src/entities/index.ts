export * from './codebase.entity';
export * from './snapshot.entity';
export * from './file-analysis.entity';
export * from './code-element.entity';
export * from './element-relation.entity';
export * from './file-quality-score.entity';
