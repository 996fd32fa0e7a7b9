import { Check, Column, Entity, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';
import { MlModel } from './ml-model.entity';
import { ModelVersion } from './model-version.entity';

export const ALIAS_PATTERN = /^[a-z][a-z0-9_-]{0,63}$/;

/**
 * A movable name for one version of a model (`champion`, `staging`), in place of
 * fixed stages. The reference includes `model_id`, so an alias can only point at
 * a version of its own model. Every move is recorded in `model_alias_history`.
 */
@Entity({ schema: 'learning', name: 'model_aliases' })
@Unique(['organizationId', 'modelId', 'alias'])
@Check('model_aliases_alias_check', `"alias" ~ '${ALIAS_PATTERN.source}'`)
export class ModelAlias extends TenantRow {
  @Column({ type: 'uuid' })
  modelId!: string;

  @Column({ type: 'varchar', length: 64 })
  alias!: string;

  @Column({ type: 'uuid' })
  versionId!: string;

  @Column({ type: 'uuid', nullable: true })
  movedBy!: string | null;

  @ManyToOne(() => MlModel, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'model_aliases_organization_id_model_id_fkey',
    },
    { name: 'model_id', referencedColumnName: 'id' },
  ])
  model?: MlModel;

  @ManyToOne(() => ModelVersion)
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'model_aliases_organization_id_model_id_version_id_fkey',
    },
    { name: 'model_id', referencedColumnName: 'modelId' },
    { name: 'version_id', referencedColumnName: 'id' },
  ])
  version?: ModelVersion;
}
