import { Check, Column, Entity, Index, JoinColumn, ManyToOne } from 'typeorm';
import { TenantRow } from '@strata/base';
import { Codebase } from './codebase.entity';

export const SNAPSHOT_STATUSES = ['running', 'succeeded', 'failed'] as const;
export type SnapshotStatus = (typeof SNAPSHOT_STATUSES)[number];

/** One analysis of a codebase: at a commit (or of a working tree), by a tool at a version, with its counts. */
@Entity({ schema: 'codebase', name: 'snapshots' })
@Index(['organizationId', 'codebaseId', 'startedAt'])
@Check('snapshots_status_check', `"status" IN ('running', 'succeeded', 'failed')`)
@Check('snapshots_finished_at_check', `("status" = 'running') = ("finished_at" IS NULL)`)
@Check('snapshots_resolution_rate_check', `"resolution_rate" BETWEEN 0 AND 1`)
export class Snapshot extends TenantRow {
  @Column({ type: 'uuid' })
  codebaseId!: string;

  @Column({ type: 'varchar', length: 64, nullable: true })
  commitSha!: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  branch!: string | null;

  @Column({ type: 'varchar', length: 64 })
  tool!: string;

  @Column({ type: 'varchar', length: 32 })
  toolVersion!: string;

  @Column({ type: 'varchar', length: 16, default: 'running' })
  status!: SnapshotStatus;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  startedAt!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @Column({ type: 'integer', default: 0 })
  fileCount!: number;

  /** Files parsed in this snapshot; the others were carried over from the previous one by content hash. */
  @Column({ type: 'integer', default: 0 })
  parsedFileCount!: number;

  @Column({ type: 'integer', default: 0 })
  reusedFileCount!: number;

  /** Files stored with a parse error (or skipped as binary or too large). */
  @Column({ type: 'integer', default: 0 })
  errorFileCount!: number;

  @Column({ type: 'integer', default: 0 })
  elementCount!: number;

  @Column({ type: 'integer', default: 0 })
  relationCount!: number;

  /** Share of call and extends relations resolved to an element of the snapshot. */
  @Column({ type: 'double precision', nullable: true })
  resolutionRate!: number | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @ManyToOne(() => Codebase, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'snapshots_organization_id_codebase_id_fkey',
    },
    { name: 'codebase_id', referencedColumnName: 'id' },
  ])
  codebase?: Codebase;
}
