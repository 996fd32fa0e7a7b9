import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { JsonbColumn, Organization } from '@strata/base';
import { ModelPrice } from './model-price.entity';
import { PromptExecution } from './prompt-execution.entity';

export const INTERACTION_STATUSES = ['succeeded', 'failed', 'cancelled'] as const;
export type InteractionStatus = (typeof INTERACTION_STATUSES)[number];

/**
 * One call to an LLM provider (partitioned monthly on `started_at`), with the
 * provider's usage object kept exactly as returned (`raw_usage`), its
 * normalization (`usage`: tokens per usage type, none counted twice) and its
 * cost. The template and version are copied from the execution for the reports.
 */
@Entity({ schema: 'prompts', name: 'llm_interactions' })
@Index(['organizationId', 'startedAt'])
@Index(['organizationId', 'executionId'])
@Check('llm_interactions_status_check', `"status" IN ('succeeded', 'failed', 'cancelled')`)
@Check('llm_interactions_latency_ms_check', `"latency_ms" >= 0`)
@Check('llm_interactions_execution_check', `("execution_id" IS NULL) = ("execution_started_at" IS NULL)`)
export class LlmInteraction {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @PrimaryColumn({ type: 'timestamptz', default: () => 'now()' })
  startedAt!: Date;

  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @Column({ type: 'uuid', nullable: true })
  executionId!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  executionStartedAt!: Date | null;

  @Column({ type: 'uuid', nullable: true })
  templateId!: string | null;

  @Column({ type: 'integer', nullable: true })
  version!: number | null;

  @Column({ type: 'varchar', length: 32 })
  provider!: string;

  @Column({ type: 'varchar', length: 255 })
  requestedModel!: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  servedModel!: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  requestId!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @Column({ type: 'integer', nullable: true })
  latencyMs!: number | null;

  @Column({ type: 'varchar', length: 16 })
  status!: InteractionStatus;

  @Column({ type: 'varchar', length: 64, nullable: true })
  finishReason!: string | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  rawUsage!: unknown;

  /** Tokens per usage type, as the ledger has them. */
  @JsonbColumn()
  usage!: Record<string, number>;

  /** Sum of the ledger's costs; null when a usage type had no price. numeric as text. */
  @Column({ type: 'numeric', precision: 20, scale: 10, nullable: true })
  cost!: string | null;

  @Column({ type: 'varchar', length: 3, default: 'USD' })
  currency!: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => PromptExecution, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'llm_interactions_organization_id_execution_id_fkey',
    },
    { name: 'execution_id', referencedColumnName: 'id' },
    { name: 'execution_started_at', referencedColumnName: 'startedAt' },
  ])
  execution?: PromptExecution;
}

/**
 * The usage ledger: one row per (interaction, usage type) — `input` (uncached
 * input), `cached_input_read`, `cache_write`, `reasoning`, `output`, or another
 * type — with the tokens, the unit price in effect at the call's time and the cost.
 * Partitioned like its interaction, on the interaction's `started_at`.
 */
@Entity({ schema: 'prompts', name: 'llm_usage' })
@Check('llm_usage_usage_type_check', `"usage_type" ~ '^[a-z][a-z0-9_]{0,31}$'`)
@Check('llm_usage_tokens_check', `"tokens" >= 0`)
export class LlmUsage {
  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @PrimaryColumn({ type: 'uuid' })
  interactionId!: string;

  @PrimaryColumn({ type: 'varchar', length: 32 })
  usageType!: string;

  @PrimaryColumn({ type: 'timestamptz' })
  startedAt!: Date;

  /** bigint as text. */
  @Column({ type: 'bigint' })
  tokens!: string;

  @Column({ type: 'uuid', nullable: true })
  priceId!: string | null;

  @Column({ type: 'numeric', precision: 20, scale: 10, nullable: true })
  pricePerMillion!: string | null;

  @Column({ type: 'numeric', precision: 20, scale: 10, nullable: true })
  cost!: string | null;

  @Column({ type: 'varchar', length: 3, default: 'USD' })
  currency!: string;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => LlmInteraction, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'llm_usage_organization_id_interaction_id_fkey',
    },
    { name: 'interaction_id', referencedColumnName: 'id' },
    { name: 'started_at', referencedColumnName: 'startedAt' },
  ])
  interaction?: LlmInteraction;

  @ManyToOne(() => ModelPrice)
  @JoinColumn({ name: 'price_id', foreignKeyConstraintName: 'llm_usage_price_id_fkey' })
  price?: ModelPrice;
}
