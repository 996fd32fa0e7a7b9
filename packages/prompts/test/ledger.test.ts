import { ConflictError, NotFoundError, ValidationError, baseModule, withTenant } from '@strata/base';
import { UNKNOWN_ID, expectRefused, useTestDatabase } from '@strata/testing';
import {
  ModelPricesService,
  PromptLedgerService,
  PromptRenderer,
  PromptTemplatesService,
  PromptVersionsService,
  normalizeUsage,
  promptsModule,
} from '../src';
import { addMember, asTenant, createOrganization, expectRefusals } from './support';

/** Usage objects as the providers' API references and guides show them in their example responses. */
const OPENAI_CHAT_CACHED = {
  prompt_tokens: 2006,
  completion_tokens: 300,
  total_tokens: 2306,
  prompt_tokens_details: { cached_tokens: 1920 },
  completion_tokens_details: { reasoning_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};
const OPENAI_CHAT_REASONING = {
  prompt_tokens: 9,
  completion_tokens: 1843,
  total_tokens: 1852,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 1600, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
};
const OPENAI_RESPONSES_REASONING = {
  input_tokens: 75,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 1186,
  output_tokens_details: { reasoning_tokens: 1024 },
  total_tokens: 1261,
};
const ANTHROPIC_CACHE_WRITE = { input_tokens: 21, cache_creation_input_tokens: 188086, cache_read_input_tokens: 0, output_tokens: 393 };
const ANTHROPIC_CACHE_READ = { input_tokens: 21, cache_creation_input_tokens: 0, cache_read_input_tokens: 188086, output_tokens: 393 };
const GEMINI_THINKING = {
  promptTokenCount: 11,
  candidatesTokenCount: 542,
  thoughtsTokenCount: 1109,
  totalTokenCount: 1662,
  cachedContentTokenCount: 0,
};
const GEMINI_CACHED = { promptTokenCount: 696, candidatesTokenCount: 214, totalTokenCount: 910, cachedContentTokenCount: 512 };

const sum = (usage: Partial<Record<string, number>>) => Object.values(usage).reduce<number>((a, b) => a + (b ?? 0), 0);

describe('usage normalization', () => {
  it('OpenAI: prompt tokens include the cached ones, completion tokens the reasoning ones; nothing counted twice', () => {
    expect(normalizeUsage('openai.chat', OPENAI_CHAT_CACHED)).toEqual({ input: 86, cached_input_read: 1920, output: 300 });
    expect(normalizeUsage('openai.chat', OPENAI_CHAT_REASONING)).toEqual({ input: 9, reasoning: 1600, output: 243 });
    expect(normalizeUsage('openai.responses', OPENAI_RESPONSES_REASONING)).toEqual({ input: 75, reasoning: 1024, output: 162 });
    for (const raw of [OPENAI_CHAT_CACHED, OPENAI_CHAT_REASONING]) expect(sum(normalizeUsage('openai.chat', raw))).toBe(raw.total_tokens);
    expect(sum(normalizeUsage('openai.responses', OPENAI_RESPONSES_REASONING))).toBe(OPENAI_RESPONSES_REASONING.total_tokens);
  });

  it('Anthropic: input tokens exclude cache reads and writes, which are types of their own', () => {
    expect(normalizeUsage('anthropic', ANTHROPIC_CACHE_WRITE)).toEqual({ input: 21, cache_write: 188086, output: 393 });
    expect(normalizeUsage('anthropic', ANTHROPIC_CACHE_READ)).toEqual({ input: 21, cached_input_read: 188086, output: 393 });
  });

  it('Gemini: prompt tokens include cached content; thoughts are apart from candidates', () => {
    expect(normalizeUsage('gemini', GEMINI_THINKING)).toEqual({ input: 11, reasoning: 1109, output: 542 });
    expect(normalizeUsage('gemini', GEMINI_CACHED)).toEqual({ input: 184, cached_input_read: 512, output: 214 });
    for (const raw of [GEMINI_THINKING, GEMINI_CACHED]) expect(sum(normalizeUsage('gemini', raw))).toBe(raw.totalTokenCount);
  });

  it('refuses a usage object whose parts exceed their total or whose counts are not counts, naming the field', () => {
    expect(() => normalizeUsage('openai.chat', { prompt_tokens: 10, prompt_tokens_details: { cached_tokens: 11 } })).toThrow(
      ValidationError,
    );
    const refused = (() => {
      try {
        return normalizeUsage('anthropic', { input_tokens: -1 });
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).fields).toEqual(['rawUsage.input_tokens']);
    expect(() => normalizeUsage('gemini', 'tokens' as never)).toThrow(ValidationError);
  });
});

describe('the LLM call ledger', () => {
  const db = useTestDatabase({ modules: [baseModule, promptsModule] });
  let org: string;
  let ledger: PromptLedgerService;
  let prices: ModelPricesService;
  let templateId: string;

  beforeAll(async () => {
    org = await createOrganization(db, 'ledger');
    ledger = new PromptLedgerService(db.dataSource);
    prices = new ModelPricesService(db.dataSource);
    const template = await new PromptTemplatesService(db.dataSource).create(org, { name: 'review' });
    templateId = template.id;
    const versions = new PromptVersionsService(db.dataSource);
    await versions.create(org, templateId, { content: 'Review {{diff}}' });
    await versions.create(org, templateId, { content: 'Review carefully: {{diff}}' });
    const from = new Date('2026-01-01T00:00:00Z');
    for (const [usageType, price] of [
      ['input', '2.50'],
      ['cached_input_read', '1.25'],
      ['output', '10'],
    ])
      await prices.setPrice({ provider: 'openai', modelPattern: 'gpt-4o', usageType, pricePerMillion: price, effectiveFrom: from });
    // The price of a reasoning model's output, reasoning priced as output (no reasoning price of its own).
    await prices.setPrice({
      provider: 'openai',
      modelPattern: 'o3%',
      matchKind: 'like',
      usageType: 'input',
      pricePerMillion: '2',
      effectiveFrom: from,
    });
    await prices.setPrice({
      provider: 'openai',
      modelPattern: 'o3%',
      matchKind: 'like',
      usageType: 'output',
      pricePerMillion: '8',
      effectiveFrom: from,
    });
    for (const [usageType, price] of [
      ['input', '3'],
      ['cache_write', '3.75'],
      ['cached_input_read', '0.30'],
      ['output', '15'],
    ])
      await prices.setPrice({
        provider: 'anthropic',
        modelPattern: 'claude-sonnet-4',
        usageType,
        pricePerMillion: price,
        effectiveFrom: from,
      });
  });

  const at = (iso: string) => new Date(iso);

  it('prices every usage type at its own rate: cached input is not charged as input too', async () => {
    const { interaction, usage } = await ledger.recordInteraction(org, {
      provider: 'openai',
      requestedModel: 'gpt-4o',
      status: 'succeeded',
      startedAt: at('2026-02-10T10:00:00.000Z'),
      rawUsage: OPENAI_CHAT_CACHED,
      usageShape: 'openai.chat',
    });
    expect(interaction.rawUsage).toEqual(OPENAI_CHAT_CACHED);
    expect(interaction.usage).toEqual({ input: 86, cached_input_read: 1920, output: 300 });
    expect(usage.map((u) => [u.usageType, u.tokens, u.pricePerMillion, u.cost]).sort()).toEqual([
      ['cached_input_read', '1920', '1.2500000000', '0.0024000000'],
      ['input', '86', '2.5000000000', '0.0002150000'],
      ['output', '300', '10.0000000000', '0.0030000000'],
    ]);
    // 86 × 2.5 + 1920 × 1.25 + 300 × 10 per million.
    expect(interaction.cost).toBe('0.0056150000');
  });

  it('reasoning tokens are priced (as output, when the list has no reasoning price); a pattern matches the served model', async () => {
    const { interaction, usage } = await ledger.recordInteraction(org, {
      provider: 'openai',
      requestedModel: 'o3',
      servedModel: 'o3-2025-04-16',
      status: 'succeeded',
      startedAt: at('2026-02-10T11:00:00.000Z'),
      rawUsage: OPENAI_RESPONSES_REASONING,
      usageShape: 'openai.responses',
    });
    expect(usage.find((u) => u.usageType === 'reasoning')).toMatchObject({
      tokens: '1024',
      pricePerMillion: '8.0000000000',
      cost: '0.0081920000',
    });
    // 75 × 2 + (1024 + 162) × 8 per million.
    expect(interaction.cost).toBe('0.0096380000');
  });

  it('costs come from the price in effect at the call: a price change in the middle of a day splits that day', async () => {
    await prices.setPrice({
      provider: 'anthropic',
      modelPattern: 'claude-sonnet-4',
      usageType: 'output',
      pricePerMillion: '12',
      effectiveFrom: at('2026-03-05T12:00:00Z'),
    });
    const call = (startedAt: string) =>
      ledger.recordInteraction(org, {
        provider: 'anthropic',
        requestedModel: 'claude-sonnet-4',
        status: 'succeeded',
        startedAt: at(startedAt),
        rawUsage: { input_tokens: 0, output_tokens: 1_000_000 },
        usageShape: 'anthropic',
      });
    expect((await call('2026-03-05T11:59:59.999Z')).interaction.cost).toBe('15.0000000000');
    expect((await call('2026-03-05T12:00:00.000Z')).interaction.cost).toBe('12.0000000000');
    const [day] = await ledger.costReport(org, {
      from: at('2026-03-05T00:00:00Z'),
      to: at('2026-03-06T00:00:00Z'),
      groupBy: ['day', 'model'],
    });
    expect(day).toEqual({
      day: '2026-03-05',
      provider: 'anthropic',
      model: 'claude-sonnet-4',
      interactions: 2,
      cost: '27.0000000000',
      unpriced: 0,
      tokens: { input: 0, cached_input_read: 0, cache_write: 0, reasoning: 0, output: 2_000_000 },
    });
    // Prices never overlap: one set before a later one that is already open is refused.
    await expectRefused(
      prices.setPrice({
        provider: 'anthropic',
        modelPattern: 'claude-sonnet-4',
        usageType: 'output',
        pricePerMillion: '1',
        effectiveFrom: at('2026-01-01T00:00:00Z'),
      }),
      ConflictError,
      ['effectiveFrom', 'effectiveTo'],
    );
  });

  it('a call with a usage type that has no price is recorded with its tokens and no cost, and reported as unpriced', async () => {
    const { interaction } = await ledger.recordInteraction(org, {
      provider: 'mistral',
      requestedModel: 'mistral-large',
      status: 'succeeded',
      startedAt: at('2026-04-01T00:00:00.000Z'),
      usage: { input: 10, output: 5 },
    });
    expect(interaction.cost).toBeNull();
    const [row] = await ledger.costReport(org, { from: at('2026-04-01T00:00:00Z'), to: at('2026-04-02T00:00:00Z'), groupBy: ['model'] });
    expect(row).toMatchObject({ model: 'mistral-large', interactions: 1, unpriced: 1, cost: '0' });
  });

  it('an execution and its calls, by template version; inside the caller transaction they commit or roll back with its other work', async () => {
    const rendered = await new PromptRenderer(db.dataSource).render(org, { name: 'review', variables: { diff: '+1 line' } });
    const startedAt = at('2026-05-02T08:00:00.000Z');
    const record = (tx: Parameters<PromptLedgerService['with']>[0]) =>
      (async () => {
        const l = ledger.with(tx);
        const execution = await l.recordExecution(org, {
          templateId,
          version: rendered.version,
          label: 'latest',
          variables: { diff: '+1 line' },
          renderedInputHash: rendered.renderedInputHash,
          status: 'succeeded',
          startedAt,
          latencyMs: 900,
        });
        await l.recordInteraction(org, {
          executionId: execution.id,
          executionStartedAt: execution.startedAt,
          provider: 'openai',
          requestedModel: 'gpt-4o',
          status: 'succeeded',
          startedAt,
          usage: { input: 1_000_000 },
        });
        return execution;
      })();
    // The caller's own work fails after the records: nothing of it stays.
    await expect(
      withTenant(db.dataSource, org, async (tx) => {
        await record(tx);
        throw new Error('the task completion failed');
      }),
    ).rejects.toThrow('the task completion failed');
    const window = { from: at('2026-05-01T00:00:00Z'), to: at('2026-06-01T00:00:00Z') };
    expect(await ledger.costReport(org, { ...window, groupBy: ['version'] })).toEqual([]);

    const execution = await withTenant(db.dataSource, org, (tx) => record(tx));
    expect(execution).toMatchObject({ version: 2, status: 'succeeded', startedAt });
    expect(await ledger.costReport(org, { ...window, groupBy: ['version'] })).toEqual([
      expect.objectContaining({ templateId, version: 2, interactions: 1, cost: '2.5000000000' }),
    ]);
    expect(await ledger.costReport(org, { ...window, groupBy: ['template'], templateId: UNKNOWN_ID })).toEqual([]);
  });

  it('re-pricing a period after a price correction is explicit and recorded: who, why, calls, cost before and after', async () => {
    await prices.setPrice({
      provider: 'google',
      modelPattern: 'gemini-2.5-pro',
      usageType: 'input',
      pricePerMillion: '1',
      effectiveFrom: at('2026-01-01T00:00:00Z'),
    });
    const call = await ledger.recordInteraction(org, {
      provider: 'google',
      requestedModel: 'gemini-2.5-pro',
      status: 'succeeded',
      startedAt: at('2026-07-10T09:00:00.000Z'),
      rawUsage: { promptTokenCount: 1_000_000, totalTokenCount: 1_000_000 },
      usageShape: 'gemini',
    });
    expect(call.interaction.cost).toBe('1.0000000000');
    // The correction: from July on it was 1.25. Recorded calls keep their cost until re-priced.
    await prices.setPrice({
      provider: 'google',
      modelPattern: 'gemini-2.5-pro',
      usageType: 'input',
      pricePerMillion: '1.25',
      effectiveFrom: at('2026-07-01T00:00:00Z'),
    });
    const july = { from: at('2026-07-01T00:00:00Z'), to: at('2026-08-01T00:00:00Z') };
    expect((await ledger.costReport(org, { ...july, groupBy: [] }))[0].cost).toBe('1.0000000000');

    const operator = await addMember(db, org, 'finance@example.com', 'admin');
    const repricing = await ledger.reprice(org, { ...july, reason: 'gemini price correction' }, { userId: operator });
    expect(repricing).toMatchObject({
      interactions: 1,
      costBefore: '1.0000000000',
      costAfter: '1.2500000000',
      repricedBy: operator,
      reason: 'gemini price correction',
    });
    expect((await ledger.costReport(org, { ...july, groupBy: [] }))[0].cost).toBe('1.2500000000');
    const [row] = await db.query(`SELECT price_per_million, cost FROM prompts.llm_usage WHERE interaction_id = $1`, [call.interaction.id]);
    expect(row).toEqual({ price_per_million: '1.2500000000', cost: '1.2500000000' });
    // Calls outside the period are left alone, and the record of a re-pricing cannot be rewritten.
    expect((await ledger.costReport(org, { from: at('2026-02-10T00:00:00Z'), to: at('2026-02-11T00:00:00Z'), groupBy: [] }))[0].cost).toBe(
      '0.0152530000',
    );
    await expect(asTenant(db, org, `UPDATE prompts.repricings SET reason = 'nothing happened'`)).rejects.toThrow(/permission denied/);
    await expect(asTenant(db, org, `DELETE FROM prompts.repricings`)).rejects.toThrow(/permission denied/);
  });

  it('compares two versions: executions, success rate, p50/p95 latency, mean cost and mean score', async () => {
    const run = async (version: number, status: 'succeeded' | 'failed', latencyMs: number, day: string, inputTokens?: number) => {
      const execution = await ledger.recordExecution(org, {
        templateId,
        version,
        status,
        latencyMs,
        startedAt: at(`2026-06-${day}T10:00:00.000Z`),
      });
      if (inputTokens !== undefined) {
        await ledger.recordInteraction(org, {
          executionId: execution.id,
          executionStartedAt: execution.startedAt,
          provider: 'openai',
          requestedModel: 'gpt-4o',
          status: 'succeeded',
          startedAt: execution.startedAt,
          usage: { input: inputTokens },
        });
      }
      return execution;
    };
    const a1 = await run(1, 'succeeded', 100, '01', 1_000_000);
    const a2 = await run(1, 'succeeded', 200, '02', 1_000_000);
    const a3 = await run(1, 'failed', 300, '03');
    const b1 = await run(2, 'succeeded', 50, '04', 1_000_000);
    await run(2, 'succeeded', 150, '05');
    const score = (e: { id: string; startedAt: Date }, value: number) =>
      ledger.score(org, { executionId: e.id, executionStartedAt: e.startedAt, name: 'quality', value, source: 'evaluator' });
    await score(a1, 0.8);
    await score(a1, 0.6);
    await score(a2, 1);
    await score(b1, 0.9);
    const verdict = await ledger.score(org, {
      executionId: a3.id,
      executionStartedAt: a3.startedAt,
      name: 'verdict',
      category: 'wrong',
      source: 'human',
      comment: 'missed the bug',
    });
    expect(verdict).toMatchObject({ value: null, category: 'wrong', source: 'human' });

    const [one, two] = await ledger.effectiveness(org, {
      templateId,
      from: at('2026-06-01T00:00:00Z'),
      to: at('2026-07-01T00:00:00Z'),
      scoreName: 'quality',
    });
    expect(one).toMatchObject({ version: 1, executions: 3, p50LatencyMs: 200, p95LatencyMs: 290, meanCost: '1.6666666667' });
    expect(one.successRate).toBeCloseTo(2 / 3, 12);
    expect(one.meanScore).toBeCloseTo(0.85, 12);
    expect(two).toMatchObject({
      version: 2,
      executions: 2,
      successRate: 1,
      p50LatencyMs: 100,
      p95LatencyMs: 145,
      meanCost: '1.2500000000',
    });
    expect(two.meanScore).toBeCloseTo(0.9, 12);
    await expectRefusals(db, [
      [
        'value and category',
        () =>
          ledger.score(org, { executionId: a1.id, executionStartedAt: a1.startedAt, name: 'q', value: 1, category: 'x', source: 'agent' }),
        ValidationError,
        ['(input)'],
      ],
      [
        'unknown source',
        () => ledger.score(org, { executionId: a1.id, executionStartedAt: a1.startedAt, name: 'q', value: 1, source: 'robot' as never }),
        ValidationError,
        ['source'],
      ],
      [
        'unknown execution',
        () => ledger.score(org, { executionId: UNKNOWN_ID, executionStartedAt: a1.startedAt, name: 'q', value: 1, source: 'agent' }),
        NotFoundError,
        'prompt execution',
      ],
      [
        'report window backwards',
        () => ledger.effectiveness(org, { templateId, from: new Date(2), to: new Date(1) }),
        ValidationError,
        ['to'],
      ],
    ]);
  });

  it('refuses bad records with typed errors naming the field, writing nothing', async () => {
    const base = { provider: 'openai', requestedModel: 'gpt-4o', status: 'succeeded' as const, usage: { input: 1 } };
    await expectRefusals(db, [
      ['no usage at all', () => ledger.recordInteraction(org, { ...base, usage: undefined }), ValidationError, ['(input)']],
      [
        'both usage and a shape',
        () => ledger.recordInteraction(org, { ...base, usageShape: 'anthropic', rawUsage: {} }),
        ValidationError,
        ['(input)'],
      ],
      [
        'shape without raw usage',
        () => ledger.recordInteraction(org, { ...base, usage: undefined, usageShape: 'gemini' }),
        ValidationError,
        ['rawUsage'],
      ],
      ['negative tokens', () => ledger.recordInteraction(org, { ...base, usage: { input: -1 } }), ValidationError, ['usage.input']],
      ['bad usage type', () => ledger.recordInteraction(org, { ...base, usage: { 'In Put': 1 } }), ValidationError, ['usage.In Put']],
      ['unknown status', () => ledger.recordInteraction(org, { ...base, status: 'ok' as never }), ValidationError, ['status']],
      ['bad provider', () => ledger.recordInteraction(org, { ...base, provider: 'Open AI' }), ValidationError, ['provider']],
      [
        'execution without its start',
        () => ledger.recordInteraction(org, { ...base, executionId: UNKNOWN_ID }),
        ValidationError,
        ['executionStartedAt'],
      ],
      [
        'unknown execution',
        () => ledger.recordInteraction(org, { ...base, executionId: UNKNOWN_ID, executionStartedAt: new Date() }),
        NotFoundError,
        'prompt execution',
      ],
      [
        'execution of an unknown version',
        () => ledger.recordExecution(org, { templateId, version: 99, status: 'succeeded' }),
        ValidationError,
        ['version'],
      ],
      [
        'execution with a bad status',
        () => ledger.recordExecution(org, { templateId, version: 1, status: 'done' as never }),
        ValidationError,
        ['status'],
      ],
      [
        'negative latency',
        () => ledger.recordExecution(org, { templateId, version: 1, status: 'failed', latencyMs: -5 }),
        ValidationError,
        ['latencyMs'],
      ],
      [
        'report window backwards',
        () => ledger.costReport(org, { from: new Date(2), to: new Date(1), groupBy: [] }),
        ValidationError,
        ['to'],
      ],
      [
        'report by nonsense',
        () => ledger.costReport(org, { from: new Date(1), to: new Date(2), groupBy: ['colour' as never] }),
        ValidationError,
        ['groupBy'],
      ],
      [
        'price not a decimal',
        () =>
          prices.setPrice({ provider: 'x', modelPattern: 'y', usageType: 'input', pricePerMillion: 'cheap', effectiveFrom: new Date() }),
        ValidationError,
        ['pricePerMillion'],
      ],
    ]);
  });
});
