import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Organization } from '@strata/base';
import { Artifact } from './artifact.entity';

/** The largest blob PostgreSQL storage takes: larger content belongs on the filesystem. */
export const MAX_DATABASE_BLOB_BYTES = 1024 * 1024;

/** The content of an artifact kept in PostgreSQL (small blobs); removed with its artifact. */
@Entity({ schema: 'learning', name: 'artifact_blobs' })
@Check('artifact_blobs_content_check', `octet_length("content") <= ${MAX_DATABASE_BLOB_BYTES}`)
export class ArtifactBlob {
  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @PrimaryColumn({ type: 'uuid' })
  artifactId!: string;

  @Column({ type: 'bytea' })
  content!: Buffer;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => Artifact, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'artifact_blobs_organization_id_artifact_id_fkey',
    },
    { name: 'artifact_id', referencedColumnName: 'id' },
  ])
  artifact?: Artifact;
}
