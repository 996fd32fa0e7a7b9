import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { CreatedAtColumn, Organization } from '@strata/base';
import { Artifact } from './artifact.entity';
import { ModelVersion } from './model-version.entity';

/**
 * An artifact a model version is made of (`weights`, `tokenizer`, …). The
 * reference to the artifact does not cascade: a linked artifact cannot be
 * deleted, so garbage collection keeps it.
 */
@Entity({ schema: 'learning', name: 'model_version_artifacts' })
@Index(['organizationId', 'artifactId'])
@Check('model_version_artifacts_name_check', `"name" <> ''`)
export class ModelVersionArtifact {
  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @PrimaryColumn({ type: 'uuid' })
  versionId!: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'uuid' })
  artifactId!: string;

  @CreatedAtColumn()
  createdAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => ModelVersion, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'model_version_artifacts_organization_id_version_id_fkey',
    },
    { name: 'version_id', referencedColumnName: 'id' },
  ])
  version?: ModelVersion;

  @ManyToOne(() => Artifact)
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'model_version_artifacts_organization_id_artifact_id_fkey',
    },
    { name: 'artifact_id', referencedColumnName: 'id' },
  ])
  artifact?: Artifact;
}
