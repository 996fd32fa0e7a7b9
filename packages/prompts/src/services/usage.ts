import { ValidationError } from '@strata/base';

/** The usage types every provider's usage is normalized to (the ledger accepts others, e.g. `audio_input`). */
export const USAGE_TYPES = ['input', 'cached_input_read', 'cache_write', 'reasoning', 'output'] as const;
export type UsageType = (typeof USAGE_TYPES)[number];

/** Tokens per usage type; every token in exactly one type. */
export type NormalizedUsage = Partial<Record<string, number>>;

/** The usage shapes the normalizers read. */
export const USAGE_SHAPES = ['openai.chat', 'openai.responses', 'anthropic', 'gemini'] as const;
export type UsageShape = (typeof USAGE_SHAPES)[number];

const SUBJECT = 'llm interaction';

function count(raw: Record<string, unknown>, path: string): number {
  let value: unknown = raw;
  for (const part of path.split('.'))
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw ValidationError.forField(`rawUsage.${path}`, 'must be a non-negative integer token count', SUBJECT);
  }
  return value;
}

function remainder(total: number, part: number, field: string): number {
  if (part > total)
    throw ValidationError.forField(`rawUsage.${field}`, `is larger than the total it is part of (${part} > ${total})`, SUBJECT);
  return total - part;
}

function withoutZeros(usage: Record<string, number>): NormalizedUsage {
  return Object.fromEntries(Object.entries(usage).filter(([, tokens]) => tokens > 0));
}

/**
 * A provider's usage object (as returned) → tokens per usage type, none counted twice:
 * - OpenAI chat completions: `prompt_tokens` includes `prompt_tokens_details.cached_tokens`,
 *   `completion_tokens` includes `completion_tokens_details.reasoning_tokens`;
 * - OpenAI responses: the same with `input_tokens` / `output_tokens` and their `_details`;
 * - Anthropic: `input_tokens` excludes `cache_read_input_tokens` and `cache_creation_input_tokens`
 *   (thinking is billed inside `output_tokens`);
 * - Gemini: `promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount`
 *   excludes `thoughtsTokenCount`; `toolUsePromptTokenCount` is input too.
 */
export function normalizeUsage(shape: UsageShape, raw: unknown): NormalizedUsage {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw ValidationError.forField('rawUsage', 'must be an object', SUBJECT);
  const u = raw as Record<string, unknown>;
  switch (shape) {
    case 'openai.chat': {
      const cached = count(u, 'prompt_tokens_details.cached_tokens');
      const reasoning = count(u, 'completion_tokens_details.reasoning_tokens');
      return withoutZeros({
        input: remainder(count(u, 'prompt_tokens'), cached, 'prompt_tokens_details.cached_tokens'),
        cached_input_read: cached,
        reasoning,
        output: remainder(count(u, 'completion_tokens'), reasoning, 'completion_tokens_details.reasoning_tokens'),
      });
    }
    case 'openai.responses': {
      const cached = count(u, 'input_tokens_details.cached_tokens');
      const reasoning = count(u, 'output_tokens_details.reasoning_tokens');
      return withoutZeros({
        input: remainder(count(u, 'input_tokens'), cached, 'input_tokens_details.cached_tokens'),
        cached_input_read: cached,
        reasoning,
        output: remainder(count(u, 'output_tokens'), reasoning, 'output_tokens_details.reasoning_tokens'),
      });
    }
    case 'anthropic':
      return withoutZeros({
        input: count(u, 'input_tokens'),
        cached_input_read: count(u, 'cache_read_input_tokens'),
        cache_write: count(u, 'cache_creation_input_tokens'),
        output: count(u, 'output_tokens'),
      });
    case 'gemini': {
      const cached = count(u, 'cachedContentTokenCount');
      return withoutZeros({
        input: remainder(count(u, 'promptTokenCount'), cached, 'cachedContentTokenCount') + count(u, 'toolUsePromptTokenCount'),
        cached_input_read: cached,
        reasoning: count(u, 'thoughtsTokenCount'),
        output: count(u, 'candidatesTokenCount'),
      });
    }
  }
}
