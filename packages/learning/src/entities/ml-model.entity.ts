import { Check, Column, Entity, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';

export const MODEL_TYPES = [
  'pattern_recognition',
  'optimization',
  'prediction',
  'classification',
  'regression',
  'ranking',
  'generation',
  'embedding',
  'other',
] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

/**
 * A model in the registry: a name unique within the organization and its
 * versions. `latest_version` is the counter that numbers them: a new version
 * increments it under the model's row lock, so numbers go 1..N without gaps
 * even when two versions are created at once (a rolled-back create rolls the
 * counter back too).
 */
@Entity({ schema: 'learning', name: 'ml_models' })
@Unique(['organizationId', 'name'])
@Check('ml_models_name_check', `"name" <> ''`)
@Check('ml_models_type_check', `"type" IN (${MODEL_TYPES.map((t) => `'${t}'`).join(', ')})`)
@Check('ml_models_latest_version_check', `"latest_version" >= 0`)
export class MlModel extends TenantRow {
  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'varchar', length: 32 })
  type!: ModelType;

  @Column({ type: 'varchar', length: 64, nullable: true })
  framework!: string | null;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  tags!: string[];

  @Column({ type: 'integer', default: 0 })
  latestVersion!: number;

  /** The user who registered it (a plain id: users outlive nothing here). */
  @Column({ type: 'uuid', nullable: true })
  createdBy!: string | null;
}
