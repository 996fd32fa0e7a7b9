import { Check, Column, Entity, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';

export const FEATURE_TYPES = ['number', 'string', 'boolean', 'json'] as const;
export type FeatureType = (typeof FEATURE_TYPES)[number];

export interface FeatureDefinition {
  name: string;
  type: FeatureType;
}

/**
 * A group of features about one kind of entity (Feast's feature view): the
 * entity key columns (`['repository', 'path']`), the typed features, and the
 * time to live of a value (null: values never expire). `materialized_through`
 * is how far `materialize` has copied offline rows online (by created time).
 */
@Entity({ schema: 'learning', name: 'feature_views' })
@Unique(['organizationId', 'name'])
@Check('feature_views_name_check', `"name" <> ''`)
@Check('feature_views_entity_keys_check', `cardinality("entity_keys") BETWEEN 1 AND 8`)
@Check('feature_views_ttl_seconds_check', `"ttl_seconds" > 0`)
export class FeatureView extends TenantRow {
  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'text', array: true })
  entityKeys!: string[];

  @Column({ type: 'jsonb' })
  features!: FeatureDefinition[];

  @Column({ type: 'integer', nullable: true })
  ttlSeconds!: number | null;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  materializedThrough!: Date | null;
}
