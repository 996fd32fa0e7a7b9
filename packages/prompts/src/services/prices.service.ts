import { IsDate, IsIn, IsNumberString, IsOptional, IsString, Length, Matches } from 'class-validator';
import { Type } from 'class-transformer';
import { DataSource } from 'typeorm';
import { hydrate, validateInput } from '@strata/base';
import { MATCH_KINDS, ModelPrice } from '../entities';
import type { MatchKind } from '../entities';
import { translated } from './support';

export class SetPriceInput {
  @IsString() @Length(1, 32) provider!: string;
  /** The model name, or a LIKE pattern with `matchKind: 'like'` (`claude-sonnet-4%`). */
  @IsString() @Length(1, 255) modelPattern!: string;
  @IsOptional() @IsIn(MATCH_KINDS) matchKind?: MatchKind;
  @IsString() @Matches(/^[a-z][a-z0-9_]{0,31}$/) usageType!: string;
  /** Per million tokens, as a decimal string (`'2.50'`): exact. */
  @IsNumberString({ no_symbols: false }) @Matches(/^\d{1,10}(\.\d{1,10})?$/) pricePerMillion!: string;
  @IsOptional() @IsString() @Matches(/^[A-Z]{3}$/) currency?: string;
  @Type(() => Date) @IsDate() effectiveFrom!: Date;
}

/**
 * The shared price list, for operators: it runs as the DataSource's own role
 * (the migrating owner), not as a tenant; the application role can only read it.
 */
export class ModelPricesService {
  constructor(private readonly dataSource: DataSource) {}

  /**
   * A price from `effectiveFrom` on: the price in effect then (same provider,
   * model pattern, match kind and usage type) ends at that instant, in the same
   * transaction, so periods stay back to back. A price after a later one is
   * refused (the database refuses overlaps).
   */
  async setPrice(input: SetPriceInput): Promise<ModelPrice> {
    const valid = await validateInput(SetPriceInput, input, 'model price');
    const key = [valid.provider, valid.modelPattern, valid.matchKind ?? 'exact', valid.usageType];
    return translated('model price', () =>
      this.dataSource.transaction(async (m) => {
        await m.query(
          `UPDATE prompts.model_prices SET effective_to = $5
            WHERE provider = $1 AND model_pattern = $2 AND match_kind = $3 AND usage_type = $4
              AND effective_from < $5 AND (effective_to IS NULL OR effective_to > $5)`,
          [...key, valid.effectiveFrom],
        );
        const rows = await m.query(
          `INSERT INTO prompts.model_prices (provider, model_pattern, match_kind, usage_type, price_per_million, currency, effective_from)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
          [...key, valid.pricePerMillion, valid.currency ?? 'USD', valid.effectiveFrom],
        );
        return hydrate(m, ModelPrice, rows)[0];
      }),
    );
  }
}
