import { Check, Column, Entity, Index } from 'typeorm';
import { CreatedAtColumn, UuidPrimaryColumn } from '@strata/base';

export const MATCH_KINDS = ['exact', 'like'] as const;
export type MatchKind = (typeof MATCH_KINDS)[number];

/**
 * The shared price list (not a tenant table: the application reads it,
 * operators write it). A price applies to one provider's model, given exactly
 * or as a LIKE pattern (`gpt-4o-%`), for one usage type, per million tokens,
 * from `effective_from` until `effective_to` (open when null). Two prices of
 * one model and usage type never overlap: trigger `model_prices_no_overlap`.
 */
@Entity({ schema: 'prompts', name: 'model_prices' })
@Index(['provider', 'usageType', 'effectiveFrom'])
@Check('model_prices_match_kind_check', `"match_kind" IN ('exact', 'like')`)
@Check('model_prices_usage_type_check', `"usage_type" ~ '^[a-z][a-z0-9_]{0,31}$'`)
@Check('model_prices_price_per_million_check', `"price_per_million" >= 0`)
@Check('model_prices_effective_check', `"effective_to" > "effective_from"`)
export class ModelPrice {
  @UuidPrimaryColumn()
  id!: string;

  @Column({ type: 'varchar', length: 32 })
  provider!: string;

  @Column({ type: 'varchar', length: 255 })
  modelPattern!: string;

  @Column({ type: 'varchar', length: 8, default: 'exact' })
  matchKind!: MatchKind;

  @Column({ type: 'varchar', length: 32 })
  usageType!: string;

  /** numeric as text: exact decimal. */
  @Column({ type: 'numeric', precision: 20, scale: 10 })
  pricePerMillion!: string;

  @Column({ type: 'varchar', length: 3, default: 'USD' })
  currency!: string;

  @Column({ type: 'timestamptz' })
  effectiveFrom!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  effectiveTo!: Date | null;

  @CreatedAtColumn()
  createdAt!: Date;
}
