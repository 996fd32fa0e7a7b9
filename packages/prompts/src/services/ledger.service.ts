import { randomUUID } from 'node:crypto';
import { Type } from 'class-transformer';
import {
  IsDate,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { EntityManager } from 'typeorm';
import { NotFoundError, TenantConnection, TenantContext, TenantService, ValidationError, hydrate, validateInput } from '@strata/base';
import {
  EXECUTION_STATUSES,
  ExecutionScore,
  INTERACTION_STATUSES,
  LlmInteraction,
  LlmUsage,
  PromptExecution,
  Repricing,
  SCORE_SOURCES,
} from '../entities';
import type { InteractionStatus, PromptExecutionStatus, ScoreSource } from '../entities';
import { promptsModule } from '../prompts.module';
import { LABEL_NAME, translated } from './support';
import { USAGE_SHAPES, USAGE_TYPES, normalizeUsage } from './usage';
import type { NormalizedUsage, UsageShape } from './usage';

export class RecordExecutionInput {
  @IsUUID() templateId!: string;
  @IsInt() @Min(1) version!: number;
  @IsOptional() @IsString() @Matches(LABEL_NAME) label?: string | null;
  @IsOptional() @IsString() @Length(1, 255) unitId?: string | null;
  /** The rollout that chose the version (`render`'s rolloutId). */
  @IsOptional() @IsUUID() rolloutId?: string | null;
  @IsOptional() @IsUUID() taskId?: string | null;
  @IsOptional() @IsObject() variables?: Record<string, unknown>;
  @IsOptional() @IsString() @Matches(/^[0-9a-f]{64}$/) renderedInputHash?: string | null;
  @IsOptional() output?: unknown;
  @IsIn(EXECUTION_STATUSES) status!: PromptExecutionStatus;
  @IsOptional() @IsString() @MaxLength(100_000) error?: string | null;
  /** Default: now (to the millisecond, so the Date you get back names the row exactly). */
  @IsOptional() @Type(() => Date) @IsDate() startedAt?: Date;
  @IsOptional() @Type(() => Date) @IsDate() finishedAt?: Date | null;
  @IsOptional() @IsInt() @Min(0) latencyMs?: number | null;
  @IsOptional() @IsInt() @Min(0) timeToFirstTokenMs?: number | null;
}

export class RecordInteractionInput {
  /** The execution it belongs to: its id and its startedAt (the partition key), as recordExecution returned them. */
  @IsOptional() @IsUUID() executionId?: string;
  @ValidateIf((o: RecordInteractionInput) => o.executionId !== undefined) @Type(() => Date) @IsDate() executionStartedAt?: Date;
  @IsString() @Matches(/^[a-z][a-z0-9_.-]{0,31}$/) provider!: string;
  @IsString() @Length(1, 255) requestedModel!: string;
  @IsOptional() @IsString() @Length(1, 255) servedModel?: string | null;
  @IsOptional() @IsString() @Length(1, 255) requestId?: string | null;
  @IsOptional() @Type(() => Date) @IsDate() startedAt?: Date;
  @IsOptional() @Type(() => Date) @IsDate() finishedAt?: Date | null;
  @IsOptional() @IsInt() @Min(0) latencyMs?: number | null;
  @IsIn(INTERACTION_STATUSES) status!: InteractionStatus;
  @IsOptional() @IsString() @Length(1, 64) finishReason?: string | null;
  @IsOptional() @IsString() @MaxLength(100_000) error?: string | null;
  /** The provider's usage object exactly as returned; kept as it is. */
  @IsOptional() @IsObject() rawUsage?: Record<string, unknown>;
  /** How to read rawUsage; leave it out and give `usage` to record tokens per type yourself. */
  @IsOptional() @IsIn(USAGE_SHAPES) usageShape?: UsageShape;
  @IsOptional() @IsObject() usage?: Record<string, number>;
}

export interface RecordedInteraction {
  interaction: LlmInteraction;
  /** The ledger rows, one per usage type, with the unit price and cost. */
  usage: LlmUsage[];
}

export const COST_GROUPS = ['day', 'model', 'template', 'version'] as const;
export type CostGroup = (typeof COST_GROUPS)[number];

export class CostReportInput {
  @Type(() => Date) @IsDate() from!: Date;
  @Type(() => Date) @IsDate() to!: Date;
  @IsIn(COST_GROUPS, { each: true }) groupBy!: CostGroup[];
  @IsOptional() @IsUUID() templateId?: string;
}

export class RepriceInput {
  @Type(() => Date) @IsDate() from!: Date;
  @Type(() => Date) @IsDate() to!: Date;
  /** Why (a price correction, …): kept with the record of the re-pricing. */
  @IsString() @Length(1, 10_000) reason!: string;
}

export class ScoreInput {
  @IsUUID() executionId!: string;
  @Type(() => Date) @IsDate() executionStartedAt!: Date;
  @IsString() @Matches(/^[a-z][a-z0-9_.-]{0,63}$/) name!: string;
  /** A number, or give `category` instead. */
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) value?: number;
  @IsOptional() @IsString() @Length(1, 255) category?: string;
  @IsIn(SCORE_SOURCES) source!: ScoreSource;
  @IsOptional() @IsString() @MaxLength(10_000) comment?: string | null;
}

export class EffectivenessInput {
  @IsUUID() templateId!: string;
  @Type(() => Date) @IsDate() from!: Date;
  @Type(() => Date) @IsDate() to!: Date;
  /** The numeric score whose mean is reported. */
  @IsOptional() @IsString() @Matches(/^[a-z][a-z0-9_.-]{0,63}$/) scoreName?: string;
}

export interface VersionEffectiveness {
  version: number;
  executions: number;
  successRate: number;
  p50LatencyMs: number | null;
  p95LatencyMs: number | null;
  /** Mean cost of an execution (its calls' costs; none = 0), as a decimal string. */
  meanCost: string;
  /** Mean of `scoreName` over the scored executions, null without scores. */
  meanScore: number | null;
}

export interface CostRow {
  /** UTC day, `YYYY-MM-DD`, when grouped by day. */
  day?: string;
  provider?: string;
  model?: string;
  templateId?: string | null;
  version?: number | null;
  interactions: number;
  /** Tokens per standard usage type. */
  tokens: Record<string, number>;
  /** Exact decimal; interactions without a price count nothing. */
  cost: string;
  /** Interactions with a usage type that had no price in effect. */
  unpriced: number;
}

/**
 * Which price a usage type falls back to when the list has none of its own:
 * reasoning tokens are billed as output, cache reads and writes as input.
 */
const FALLBACK = `CASE u.usage_type WHEN 'reasoning' THEN 'output' WHEN 'cached_input_read' THEN 'input' WHEN 'cache_write' THEN 'input' END`;

/** The price of one usage type of a model in effect at an instant: its own type first, then its fallback; an exact model before a pattern, a longer pattern first. */
function priceInEffect(provider: string, model: string, usageType: string, at: string): string {
  const fallback = FALLBACK.replace(/u\.usage_type/g, usageType);
  return `SELECT p.id, p.price_per_million, p.currency FROM prompts.model_prices p
           WHERE p.provider = ${provider} AND p.usage_type IN (${usageType}, ${fallback})
             AND CASE p.match_kind WHEN 'exact' THEN p.model_pattern = ${model} ELSE ${model} LIKE p.model_pattern END
             AND p.effective_from <= ${at} AND (p.effective_to IS NULL OR p.effective_to > ${at})
           ORDER BY p.usage_type = ${usageType} DESC, p.match_kind = 'exact' DESC, length(p.model_pattern) DESC
           LIMIT 1`;
}

/**
 * The interaction and its ledger in one statement: every usage type priced at
 * the price in effect at the call's time (own type first, then its fallback; an
 * exact model before a pattern, a longer pattern before a shorter one).
 */
const RECORD = `
  WITH u AS (SELECT * FROM unnest($18::text[], $19::bigint[]) AS u(usage_type, tokens)),
  priced AS (
    SELECT u.usage_type, u.tokens, p.id AS price_id, p.price_per_million, p.currency,
           round(u.tokens * p.price_per_million / 1000000, 10) AS cost
      FROM u LEFT JOIN LATERAL (${priceInEffect('$7', '$20', 'u.usage_type', '$2')}) p ON true),
  interaction AS (
    INSERT INTO prompts.llm_interactions (organization_id, id, started_at, execution_id, execution_started_at, template_id, version, provider,
                                          requested_model, served_model, request_id, finished_at, latency_ms, status, finish_reason, error,
                                          raw_usage, usage, cost, currency)
    SELECT $1, $21::uuid, $2::timestamptz, $3::uuid, $4::timestamptz, $5::uuid, $6::int, $7, $8, $9, $10, $11::timestamptz, $12::int, $13, $14, $15,
           $16::jsonb, $17::jsonb,
           CASE WHEN bool_and(price_id IS NOT NULL) OR count(*) = 0 THEN coalesce(sum(cost), 0) END,
           coalesce(min(currency), 'USD')
      FROM priced
    RETURNING id)
  INSERT INTO prompts.llm_usage (organization_id, interaction_id, started_at, usage_type, tokens, price_id, price_per_million, cost, currency)
  SELECT $1, interaction.id, $2, priced.usage_type, priced.tokens, priced.price_id, priced.price_per_million, priced.cost, coalesce(priced.currency, 'USD')
    FROM priced, interaction
  RETURNING *`;

/** Executions and LLM calls with their usage ledger and cost; usable inside a caller's transaction (`.with(tx)`). */
export class PromptLedgerService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, promptsModule);
  }

  async recordExecution(organizationId: string, input: RecordExecutionInput): Promise<PromptExecution> {
    const v = await validateInput(RecordExecutionInput, input, 'prompt execution');
    return translated('prompt execution', () =>
      this.scope.run(organizationId, async (m) => {
        const rows = await m.query(
          `INSERT INTO prompts.prompt_executions (organization_id, started_at, template_id, version, label, unit_id, task_id, variables,
                                                  rendered_input_hash, output, status, error, finished_at, latency_ms, time_to_first_token_ms, rollout_id)
           VALUES ($1, coalesce($2, date_trunc('milliseconds', now())), $3, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb, $11, $12, $13, $14, $15, $16)
           RETURNING *`,
          [
            organizationId,
            v.startedAt ?? null,
            v.templateId,
            v.version,
            v.label ?? null,
            v.unitId ?? null,
            v.taskId ?? null,
            JSON.stringify(v.variables ?? {}),
            v.renderedInputHash ?? null,
            v.output === undefined ? null : JSON.stringify(v.output),
            v.status,
            v.error ?? null,
            v.finishedAt ?? null,
            v.latencyMs ?? null,
            v.timeToFirstTokenMs ?? null,
            v.rolloutId ?? null,
          ],
        );
        return hydrate(m, PromptExecution, rows)[0];
      }),
    );
  }

  /**
   * One LLM call: its raw usage kept, normalized (`usageShape`) or given (`usage`),
   * and priced into the ledger at the price in effect at `startedAt`.
   */
  async recordInteraction(organizationId: string, input: RecordInteractionInput): Promise<RecordedInteraction> {
    const v = await validateInput(RecordInteractionInput, input, 'llm interaction');
    const usage = usageOf(v);
    const startedAt = v.startedAt ?? truncatedNow();
    return translated('llm interaction', () =>
      this.scope.run(organizationId, async (m) => {
        const execution = v.executionId ? await findExecution(m, organizationId, v.executionId, v.executionStartedAt as Date) : undefined;
        const [types, tokens] = [Object.keys(usage), Object.values(usage).map(String)];
        const id = randomUUID();
        const rows = await m.query(RECORD, [
          organizationId,
          startedAt,
          execution?.id ?? null,
          execution?.startedAt ?? null,
          execution?.templateId ?? null,
          execution?.version ?? null,
          v.provider,
          v.requestedModel,
          v.servedModel ?? null,
          v.requestId ?? null,
          v.finishedAt ?? null,
          v.latencyMs ?? null,
          v.status,
          v.finishReason ?? null,
          v.error ?? null,
          v.rawUsage === undefined ? null : JSON.stringify(v.rawUsage),
          JSON.stringify(usage),
          types,
          tokens,
          v.servedModel ?? v.requestedModel,
          id,
        ]);
        const [interaction] = hydrate(
          m,
          LlmInteraction,
          await m.query('SELECT * FROM prompts.llm_interactions WHERE organization_id = $1 AND id = $2 AND started_at = $3', [
            organizationId,
            id,
            startedAt,
          ]),
        );
        return { interaction, usage: hydrate(m, LlmUsage, rows) };
      }),
    );
  }

  /**
   * Prices the calls of [from, to) again at the current price list (after a
   * price correction): their ledger rows and costs change, and the re-pricing is
   * recorded (`prompts.repricings`: who, when, why, how many calls, cost before
   * and after). Only an explicit call re-prices; recording never does.
   */
  async reprice(organizationId: string, input: RepriceInput, context: TenantContext = {}): Promise<Repricing> {
    const v = await validateInput(RepriceInput, input, 'repricing');
    if (v.to <= v.from) throw ValidationError.forField('to', 'must be after from', 'repricing');
    return translated('repricing', () =>
      this.scope.run(
        organizationId,
        async (m) => {
          const costBefore = await costIn(m, organizationId, v.from, v.to);
          await m.query(REPRICE_USAGE, [organizationId, v.from, v.to]);
          const [rows] = (await m.query(REPRICE_INTERACTIONS, [organizationId, v.from, v.to])) as [unknown[], number];
          const costAfter = await costIn(m, organizationId, v.from, v.to);
          const recorded = await m.query(
            `INSERT INTO prompts.repricings (organization_id, period_start, period_end, reason, repriced_by, interactions, cost_before, cost_after)
             VALUES ($1, $2, $3, $4, nullif(current_setting('strata.user_id', true), '')::uuid, $5, $6, $7) RETURNING *`,
            [organizationId, v.from, v.to, v.reason, rows.length, costBefore, costAfter],
          );
          return hydrate(m, Repricing, recorded)[0];
        },
        context,
      ),
    );
  }

  /** Scores an execution (effectiveness tracking); `{ userId }` is recorded as its author. */
  async score(organizationId: string, input: ScoreInput, context: TenantContext = {}): Promise<ExecutionScore> {
    const v = await validateInput(ScoreInput, input, 'execution score');
    if ((v.value === undefined) === (v.category === undefined)) {
      throw ValidationError.forField('(input)', 'give exactly one of value, category', 'execution score');
    }
    return translated('execution score', () =>
      this.scope.run(
        organizationId,
        async (m) => {
          await findExecution(m, organizationId, v.executionId, v.executionStartedAt);
          const rows = await m.query(
            `INSERT INTO prompts.execution_scores (organization_id, execution_id, execution_started_at, name, value, category, source, comment, created_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif(current_setting('strata.user_id', true), '')::uuid) RETURNING *`,
            [organizationId, v.executionId, v.executionStartedAt, v.name, v.value ?? null, v.category ?? null, v.source, v.comment ?? null],
          );
          return hydrate(m, ExecutionScore, rows)[0];
        },
        context,
      ),
    );
  }

  /** Per version of a template over [from, to): executions, success rate, p50/p95 latency, mean cost and mean score, to compare versions. */
  async effectiveness(organizationId: string, input: EffectivenessInput): Promise<VersionEffectiveness[]> {
    const v = await validateInput(EffectivenessInput, input, 'effectiveness report');
    if (v.to <= v.from) throw ValidationError.forField('to', 'must be after from', 'effectiveness report');
    const rows: Record<string, unknown>[] = await this.scope.run(organizationId, (m) =>
      m.query(
        `SELECT e.version, count(*)::int AS executions,
                (count(*) FILTER (WHERE e.status = 'succeeded'))::float8 / count(*) AS success_rate,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY e.latency_ms) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY e.latency_ms) AS p95,
                round(avg(coalesce(c.cost, 0)), 10)::text AS mean_cost,
                avg(sc.score) AS mean_score
           FROM prompts.prompt_executions e
           LEFT JOIN LATERAL (SELECT sum(i.cost) AS cost FROM prompts.llm_interactions i
                               WHERE i.organization_id = e.organization_id AND i.execution_id = e.id AND i.execution_started_at = e.started_at) c ON true
           LEFT JOIN LATERAL (SELECT avg(s.value) AS score FROM prompts.execution_scores s
                               WHERE s.organization_id = e.organization_id AND s.execution_id = e.id AND s.execution_started_at = e.started_at
                                 AND s.name = $5) sc ON true
          WHERE e.organization_id = $1 AND e.template_id = $2 AND e.started_at >= $3 AND e.started_at < $4
          GROUP BY e.version ORDER BY e.version`,
        [organizationId, v.templateId, v.from, v.to, v.scoreName ?? null],
      ),
    );
    return rows.map((row) => ({
      version: row.version as number,
      executions: row.executions as number,
      successRate: row.success_rate as number,
      p50LatencyMs: row.p50 as number | null,
      p95LatencyMs: row.p95 as number | null,
      meanCost: row.mean_cost as string,
      meanScore: row.mean_score as number | null,
    }));
  }

  /** Cost and tokens over [from, to), grouped by any of day (UTC), model, template, version. */
  async costReport(organizationId: string, input: CostReportInput): Promise<CostRow[]> {
    const v = await validateInput(CostReportInput, input, 'cost report');
    if (v.to <= v.from) throw ValidationError.forField('to', 'must be after from', 'cost report');
    const groups = new Set(v.groupBy);
    const keys: [string, string][] = [];
    if (groups.has('day')) keys.push(['day', `to_char(date_trunc('day', i.started_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')`]);
    if (groups.has('model')) keys.push(['provider', 'i.provider'], ['model', 'coalesce(i.served_model, i.requested_model)']);
    if (groups.has('template') || groups.has('version')) keys.push(['template_id', 'i.template_id']);
    if (groups.has('version')) keys.push(['version', 'i.version']);
    const select = keys.map(([name, expression]) => `${expression} AS ${name}`);
    const rows: Record<string, unknown>[] = await this.scope.run(organizationId, (m) =>
      m.query(
        `SELECT ${[...select, ''].join(', ')}
                count(*)::int AS interactions,
                coalesce(sum(i.cost), 0)::text AS cost,
                (count(*) FILTER (WHERE i.cost IS NULL))::int AS unpriced,
                jsonb_build_object(${USAGE_TYPES.map((type) => `'${type}', coalesce(sum((i.usage ->> '${type}')::bigint), 0)`).join(', ')}) AS tokens
           FROM prompts.llm_interactions i
          WHERE i.organization_id = $1 AND i.started_at >= $2 AND i.started_at < $3 AND ($4::uuid IS NULL OR i.template_id = $4)
          ${keys.length > 0 ? `GROUP BY ${keys.map((_, n) => n + 1).join(', ')} ORDER BY ${keys.map((_, n) => n + 1).join(', ')}` : ''}`,
        [organizationId, v.from, v.to, v.templateId ?? null],
      ),
    );
    return rows.map((row) => {
      const out: CostRow = {
        interactions: row.interactions as number,
        cost: row.cost as string,
        unpriced: row.unpriced as number,
        tokens: {},
      };
      for (const [key, tokens] of Object.entries((row.tokens as Record<string, string | number>) ?? {})) out.tokens[key] = Number(tokens);
      if ('day' in row) out.day = row.day as string;
      if ('provider' in row) out.provider = row.provider as string;
      if ('model' in row) out.model = row.model as string;
      if ('template_id' in row) out.templateId = row.template_id as string | null;
      if ('version' in row) out.version = row.version as number | null;
      return out;
    });
  }
}

const REPRICE_USAGE = `
  WITH priced AS (
    SELECT u.interaction_id, u.usage_type, u.started_at, p.id AS price_id, p.price_per_million, p.currency,
           round(u.tokens * p.price_per_million / 1000000, 10) AS cost
      FROM prompts.llm_usage u
      JOIN prompts.llm_interactions i ON i.organization_id = u.organization_id AND i.id = u.interaction_id AND i.started_at = u.started_at
      LEFT JOIN LATERAL (${priceInEffect('i.provider', 'coalesce(i.served_model, i.requested_model)', 'u.usage_type', 'u.started_at')}) p ON true
     WHERE u.organization_id = $1 AND u.started_at >= $2 AND u.started_at < $3 AND i.started_at >= $2 AND i.started_at < $3)
  UPDATE prompts.llm_usage u
     SET price_id = priced.price_id, price_per_million = priced.price_per_million, cost = priced.cost, currency = coalesce(priced.currency, u.currency)
    FROM priced
   WHERE u.organization_id = $1 AND u.started_at >= $2 AND u.started_at < $3
     AND u.interaction_id = priced.interaction_id AND u.usage_type = priced.usage_type AND u.started_at = priced.started_at`;

const REPRICE_INTERACTIONS = `
  UPDATE prompts.llm_interactions i
     SET cost = (SELECT CASE WHEN bool_and(u.price_id IS NOT NULL) OR count(*) = 0 THEN coalesce(sum(u.cost), 0) END
                   FROM prompts.llm_usage u WHERE u.organization_id = i.organization_id AND u.interaction_id = i.id AND u.started_at = i.started_at)
   WHERE i.organization_id = $1 AND i.started_at >= $2 AND i.started_at < $3
  RETURNING i.cost`;

/** A JS Date holds milliseconds: the row's key must be what the caller gets back. */
async function costIn(m: EntityManager, organizationId: string, from: Date, to: Date): Promise<string> {
  const [{ cost }] = await m.query(
    'SELECT coalesce(sum(cost), 0)::text AS cost FROM prompts.llm_interactions WHERE organization_id = $1 AND started_at >= $2 AND started_at < $3',
    [organizationId, from, to],
  );
  return cost as string;
}

function truncatedNow(): Date {
  return new Date();
}

function usageOf(v: RecordInteractionInput): NormalizedUsage & Record<string, number> {
  if ((v.usageShape === undefined) === (v.usage === undefined)) {
    throw ValidationError.forField('(input)', 'give exactly one of usageShape (with rawUsage), usage', 'llm interaction');
  }
  if (v.usageShape !== undefined) {
    if (v.rawUsage === undefined) throw ValidationError.forField('rawUsage', 'is required with usageShape', 'llm interaction');
    return normalizeUsage(v.usageShape, v.rawUsage) as Record<string, number>;
  }
  const usage = v.usage as Record<string, unknown>;
  for (const [type, tokens] of Object.entries(usage)) {
    if (!/^[a-z][a-z0-9_]{0,31}$/.test(type))
      throw ValidationError.forField(`usage.${type}`, 'is not a usage type name', 'llm interaction');
    if (typeof tokens !== 'number' || !Number.isSafeInteger(tokens) || tokens < 0) {
      throw ValidationError.forField(`usage.${type}`, 'must be a non-negative integer', 'llm interaction');
    }
  }
  return usage as Record<string, number>;
}

async function findExecution(m: EntityManager, organizationId: string, id: string, startedAt: Date): Promise<PromptExecution> {
  const rows = await m.query('SELECT * FROM prompts.prompt_executions WHERE organization_id = $1 AND id = $2 AND started_at = $3', [
    organizationId,
    id,
    startedAt,
  ]);
  if (rows.length === 0) throw new NotFoundError('prompt execution', { id });
  return hydrate(m, PromptExecution, rows)[0];
}
