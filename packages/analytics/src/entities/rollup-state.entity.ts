import { Column, Entity, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { CreatedAtColumn, Organization, OrganizationIdColumn } from '@strata/base';

/** How far an organization's hourly rollups are complete: every hour before `refreshedThrough` (`-infinity`: none yet). */
@Entity({ schema: 'analytics', name: 'rollup_watermarks' })
export class RollupWatermark {
  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @Column({ type: 'timestamptz', default: () => "'-infinity'" })
  refreshedThrough!: Date;

  @Column({ type: 'timestamptz', nullable: true })
  refreshedAt!: Date | null;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}

/** Late points rolled up per metric, tag set and hour at ingest, waiting for the next refresh to merge them into their hour. */
@Entity({ schema: 'analytics', name: 'rollup_deltas' })
export class RollupDelta {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'timestamptz' })
  bucketStart!: Date;

  @Column({ type: 'jsonb' })
  tags!: Record<string, string>;

  @Column({ type: 'bigint' })
  count!: string;

  @Column({ type: 'double precision' })
  sum!: number;

  @Column({ type: 'double precision' })
  min!: number;

  @Column({ type: 'double precision' })
  max!: number;

  @Column({ type: 'integer', array: true })
  sketchKeys!: number[];

  @Column({ type: 'bigint', array: true })
  sketchCounts!: string[];

  @CreatedAtColumn()
  createdAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}
