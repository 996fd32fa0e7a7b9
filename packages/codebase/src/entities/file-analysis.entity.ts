import { Check, Column, Entity, Index, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';
import { Snapshot } from './snapshot.entity';

/** One file of a snapshot: language, line counts, content hash, parse error and file-level metrics. */
@Entity({ schema: 'codebase', name: 'file_analysis' })
@Unique(['organizationId', 'snapshotId', 'path'])
@Index(['organizationId', 'snapshotId', 'contentHash'])
@Check('file_analysis_path_check', `"path" <> ''`)
@Check('file_analysis_content_hash_check', `"content_hash" ~ '^[0-9a-f]{64}$'`)
export class FileAnalysis extends TenantRow {
  @Column({ type: 'uuid' })
  snapshotId!: string;

  /** Relative to the codebase root, with forward slashes. */
  @Column({ type: 'text' })
  path!: string;

  /** `typescript`, `python`, …; null when the extension is not one the analyzer knows. */
  @Column({ type: 'varchar', length: 32, nullable: true })
  language!: string | null;

  @Column({ type: 'bigint' })
  sizeBytes!: string;

  /** SHA-256 of the bytes, hex. */
  @Column({ type: 'char', length: 64 })
  contentHash!: string;

  @Column({ type: 'integer', default: 0 })
  physicalLines!: number;

  @Column({ type: 'integer', default: 0 })
  sourceLines!: number;

  @Column({ type: 'integer', default: 0 })
  commentLines!: number;

  @Column({ type: 'integer', default: 0 })
  blankLines!: number;

  /** Why the file was not (fully) analysed: syntax errors, binary, too large. */
  @Column({ type: 'text', nullable: true })
  parseError!: string | null;

  /** Sum of its functions' cyclomatic complexity. */
  @Column({ type: 'integer', default: 0 })
  complexity!: number;

  /** Maintainability index 0–100 (Microsoft's rescaling), null when there is nothing to measure. */
  @Column({ type: 'double precision', nullable: true })
  maintainability!: number | null;

  @ManyToOne(() => Snapshot, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'file_analysis_organization_id_snapshot_id_fkey',
    },
    { name: 'snapshot_id', referencedColumnName: 'id' },
  ])
  snapshot?: Snapshot;
}
