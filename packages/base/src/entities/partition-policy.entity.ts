import { Check, Column, Entity, PrimaryColumn } from 'typeorm';
import { CreatedAtColumn, UpdatedAtColumn } from '../columns';

/** How base maintains one range-partitioned table (see base.run_maintenance()). */
@Entity({ schema: 'base', name: 'partition_policies' })
@Check('partition_policies_parent_table_check', `"parent_table" ~ '^[a-z_][a-z0-9_]*\\.[a-z_][a-z0-9_]*$'`)
@Check('partition_policies_partition_interval_check', `"partition_interval" IN ('day', 'week', 'month')`)
@Check('partition_policies_premake_check', `"premake" BETWEEN 1 AND 366`)
@Check('partition_policies_retention_mode_check', `"retention_mode" IN ('drop', 'detach')`)
export class PartitionPolicyRow {
  @PrimaryColumn({ type: 'text' })
  parentTable!: string;

  @Column({ type: 'text' })
  controlColumn!: string;

  @Column({ type: 'text' })
  partitionInterval!: 'day' | 'week' | 'month';

  @Column({ type: 'integer', default: 4 })
  premake!: number;

  @Column({ type: 'interval', nullable: true })
  retention!: string | null;

  @Column({ type: 'text', default: 'drop' })
  retentionMode!: 'drop' | 'detach';

  @CreatedAtColumn()
  createdAt!: Date;

  @UpdatedAtColumn()
  updatedAt!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  lastMaintainedAt!: Date | null;
}
