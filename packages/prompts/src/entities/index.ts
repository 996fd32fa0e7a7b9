export * from './prompt-template.entity';
export * from './prompt-version.entity';
export * from './prompt-label.entity';
export * from './model-price.entity';
export * from './prompt-execution.entity';
export * from './llm-interaction.entity';
export * from './prompt-rollout.entity';
export * from './repricing.entity';
