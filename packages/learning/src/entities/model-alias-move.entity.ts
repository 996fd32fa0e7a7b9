import { Column, Entity, Index, JoinColumn, ManyToOne } from 'typeorm';
import { TenantRow } from '@strata/base';
import { MlModel } from './ml-model.entity';
import { ModelVersion } from './model-version.entity';

/** One move of an alias (`created_at` is when): from `previous_version_id` (null: it was new) to `version_id` (null: removed). */
@Entity({ schema: 'learning', name: 'model_alias_history' })
@Index('model_alias_history_model_id_alias_idx', ['organizationId', 'modelId', 'alias', 'createdAt'])
export class ModelAliasMove extends TenantRow {
  @Column({ type: 'uuid' })
  modelId!: string;

  @Column({ type: 'varchar', length: 64 })
  alias!: string;

  @Column({ type: 'uuid', nullable: true })
  versionId!: string | null;

  @Column({ type: 'uuid', nullable: true })
  previousVersionId!: string | null;

  @Column({ type: 'uuid', nullable: true })
  movedBy!: string | null;

  @ManyToOne(() => MlModel, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'model_alias_history_organization_id_model_id_fkey',
    },
    { name: 'model_id', referencedColumnName: 'id' },
  ])
  model?: MlModel;

  @ManyToOne(() => ModelVersion, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'model_alias_history_organization_id_model_id_version_id_fkey',
    },
    { name: 'model_id', referencedColumnName: 'modelId' },
    { name: 'version_id', referencedColumnName: 'id' },
  ])
  version?: ModelVersion;

  @ManyToOne(() => ModelVersion, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'model_alias_history_previous_version_id_fkey',
    },
    { name: 'model_id', referencedColumnName: 'modelId' },
    { name: 'previous_version_id', referencedColumnName: 'id' },
  ])
  previousVersion?: ModelVersion;
}
