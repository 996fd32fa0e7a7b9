import { Check, Column, Entity, Index, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { JsonbColumn, TenantRow } from '@strata/base';
import { MlModel } from './ml-model.entity';

export const VERSION_STATUSES = ['training', 'active', 'deprecated', 'archived'] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];

export const VERSION_SOURCES = ['training_session', 'fine_tuning_job', 'upload'] as const;
export type VersionSource = (typeof VERSION_SOURCES)[number];

/**
 * One version of a model, numbered 1..N within it. `parent_version_id` is its
 * lineage (the version it was trained or fine-tuned from, in any model of the
 * organization). A trigger keeps `model_id`, `version` and the parent as they
 * were inserted: a parent always exists before its child, so lineage can never
 * form a cycle.
 */
@Entity({ schema: 'learning', name: 'model_versions' })
@Unique(['organizationId', 'modelId', 'version'])
@Unique(['organizationId', 'modelId', 'id'])
@Index(['organizationId', 'parentVersionId'])
@Check('model_versions_version_check', `"version" >= 1`)
@Check('model_versions_status_check', `"status" IN (${VERSION_STATUSES.map((s) => `'${s}'`).join(', ')})`)
@Check('model_versions_source_check', `"source" IN (${VERSION_SOURCES.map((s) => `'${s}'`).join(', ')})`)
@Check('model_versions_parent_version_id_check', `"parent_version_id" <> "id"`)
export class ModelVersion extends TenantRow {
  @Column({ type: 'uuid' })
  modelId!: string;

  @Column({ type: 'integer' })
  version!: number;

  @Column({ type: 'varchar', length: 16, default: 'training' })
  status!: VersionStatus;

  @JsonbColumn()
  hyperparameters!: Record<string, unknown>;

  @JsonbColumn()
  trainingConfig!: Record<string, unknown>;

  /** The summary of its metrics (per-step metrics belong to training sessions). */
  @JsonbColumn()
  metrics!: Record<string, unknown>;

  @Column({ type: 'varchar', length: 32, default: 'upload' })
  source!: VersionSource;

  /** The training session or fine-tuning job it came from. */
  @Column({ type: 'uuid', nullable: true })
  sourceId!: string | null;

  @Column({ type: 'uuid', nullable: true })
  parentVersionId!: string | null;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ type: 'uuid', nullable: true })
  createdBy!: string | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  statusChangedAt!: Date;

  @ManyToOne(() => MlModel, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'model_versions_organization_id_model_id_fkey',
    },
    { name: 'model_id', referencedColumnName: 'id' },
  ])
  model?: MlModel;

  @ManyToOne(() => ModelVersion)
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'model_versions_organization_id_parent_version_id_fkey',
    },
    { name: 'parent_version_id', referencedColumnName: 'id' },
  ])
  parent?: ModelVersion;
}
