import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { JsonbColumn, Organization, OrganizationIdColumn } from '@strata/base';

/**
 * One measurement (the seeds' system_performance_metrics), partitioned daily on
 * `ts` and kept for the retention of its partition policy; the hourly and daily
 * rollups outlive it. The primary key `(organization_id, name, ts, id)` is also
 * the index every read by metric and time uses. `tags` (flat string → string)
 * has a GIN index made by the migration.
 */
@Entity({ schema: 'analytics', name: 'metric_points' })
@Check('metric_points_name_check', `"name" <> ''`)
@Check('metric_points_value_check', `"value" > '-Infinity' AND "value" < 'Infinity'`)
export class MetricPoint {
  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  name!: string;

  /** The partition key. */
  @PrimaryColumn({ type: 'timestamptz' })
  ts!: Date;

  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /** e.g. `database`, `api`, `agent`. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  category!: string | null;

  @Column({ type: 'double precision' })
  value!: number;

  @Column({ type: 'varchar', length: 32, nullable: true })
  unit!: string | null;

  @JsonbColumn()
  tags!: Record<string, string>;

  /** The component that produced it. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  source!: string | null;

  /** Erased with its organization. */
  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}
