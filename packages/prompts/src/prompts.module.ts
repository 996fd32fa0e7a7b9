import { defineModule } from '@strata/base';
import {
  LlmInteraction,
  LlmUsage,
  ModelPrice,
  PromptExecution,
  PromptLabel,
  PromptLabelMove,
  PromptRollout,
  PromptTemplate,
  PromptVersion,
  Repricing,
  ExecutionScore,
} from './entities';
import { CreatePromptsSchema1796310000000 } from './migrations/1796310000000-create-prompts-schema';
import { CreatePromptRollouts1796310300000 } from './migrations/1796310300000-create-prompt-rollouts';
import { RecordExecutionRollouts1796310400000 } from './migrations/1796310400000-record-execution-rollouts';
import { CreateRepricings1796310500000 } from './migrations/1796310500000-create-repricings';
import { CreateExecutionScores1796310600000 } from './migrations/1796310600000-create-execution-scores';

/** Schema `prompts`: versioned templates with movable labels, executions, LLM calls and their usage ledger. */
export const promptsModule = defineModule({
  name: 'prompts',
  entities: [
    PromptTemplate,
    PromptVersion,
    PromptLabel,
    PromptLabelMove,
    PromptRollout,
    ModelPrice,
    PromptExecution,
    LlmInteraction,
    LlmUsage,
    Repricing,
    ExecutionScore,
  ],
  migrations: [
    CreatePromptsSchema1796310000000,
    CreatePromptRollouts1796310300000,
    RecordExecutionRollouts1796310400000,
    CreateRepricings1796310500000,
    CreateExecutionScores1796310600000,
  ],
});
