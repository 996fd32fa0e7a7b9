import { Check, Column, Entity, Index, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';
import { FileAnalysis } from './file-analysis.entity';
import { Snapshot } from './snapshot.entity';

export const QUALITY_RATINGS = ['good', 'moderate', 'poor'] as const;
export type QualityRating = (typeof QUALITY_RATINGS)[number];

/**
 * Quality of one analysed file of a snapshot, computed when the snapshot is
 * stored: the maintainability index with Visual Studio's rating (≥ 20 good,
 * 10–19 moderate, < 10 poor) and its functions' complexity, counting those
 * above McCabe's threshold of 10.
 */
@Entity({ schema: 'codebase', name: 'file_quality_scores' })
@Unique(['organizationId', 'fileId'])
@Index(['organizationId', 'snapshotId', 'maintainability'])
@Check('file_quality_scores_rating_check', `"rating" IN ('good', 'moderate', 'poor')`)
export class FileQualityScore extends TenantRow {
  @Column({ type: 'uuid' })
  snapshotId!: string;

  @Column({ type: 'uuid' })
  fileId!: string;

  @Column({ type: 'double precision', nullable: true })
  maintainability!: number | null;

  /** Null when the file has no maintainability index (nothing parsed). */
  @Column({ type: 'varchar', length: 16, nullable: true })
  rating!: QualityRating | null;

  @Column({ type: 'integer' })
  functionCount!: number;

  @Column({ type: 'integer', nullable: true })
  maxComplexity!: number | null;

  @Column({ type: 'double precision', nullable: true })
  meanComplexity!: number | null;

  /** Functions and methods with cyclomatic complexity above 10. */
  @Column({ type: 'integer' })
  complexFunctionCount!: number;

  @ManyToOne(() => Snapshot, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'file_quality_scores_organization_id_snapshot_id_fkey',
    },
    { name: 'snapshot_id', referencedColumnName: 'id' },
  ])
  snapshot?: Snapshot;

  @ManyToOne(() => FileAnalysis, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'file_quality_scores_organization_id_file_id_fkey',
    },
    { name: 'file_id', referencedColumnName: 'id' },
  ])
  file?: FileAnalysis;
}
