import { defineModule } from '@strata/base';
import {
  LlmInteraction,
  LlmUsage,
  ModelPrice,
  PromptExecution,
  PromptLabel,
  PromptLabelMove,
  PromptTemplate,
  PromptVersion,
} from './entities';
import { CreatePromptsSchema1796310000000 } from './migrations/1796310000000-create-prompts-schema';

/** Schema `prompts`: versioned templates with movable labels, executions, LLM calls and their usage ledger. */
export const promptsModule = defineModule({
  name: 'prompts',
  entities: [PromptTemplate, PromptVersion, PromptLabel, PromptLabelMove, ModelPrice, PromptExecution, LlmInteraction, LlmUsage],
  migrations: [CreatePromptsSchema1796310000000],
});
