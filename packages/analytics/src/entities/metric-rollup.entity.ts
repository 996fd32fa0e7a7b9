import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Organization, OrganizationIdColumn } from '@strata/base';

/**
 * What both rollup tables hold for one metric, tag set and bucket: count, sum,
 * min, max and a mergeable quantile sketch (log buckets with a stated relative
 * error, see `sketch/`): `sketch_keys` ascending, `sketch_counts` the points in
 * each. Merging buckets adds counts key by key, so it is exact.
 */
export abstract class MetricRollup {
  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  name!: string;

  /** Start of the hour (hourly) or the UTC day (daily). */
  @PrimaryColumn({ type: 'timestamptz' })
  bucketStart!: Date;

  @PrimaryColumn({ type: 'jsonb' })
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

  @Column({ type: 'timestamptz', default: () => 'now()' })
  refreshedAt!: Date;

  /** Erased with its organization. */
  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}

@Entity({ schema: 'analytics', name: 'metric_rollups_hourly' })
@Check('metric_rollups_hourly_count_check', `"count" > 0 AND "min" <= "max"`)
@Check('metric_rollups_hourly_sketch_check', `cardinality("sketch_keys") = cardinality("sketch_counts")`)
export class MetricRollupHourly extends MetricRollup {}

@Entity({ schema: 'analytics', name: 'metric_rollups_daily' })
@Check('metric_rollups_daily_count_check', `"count" > 0 AND "min" <= "max"`)
@Check('metric_rollups_daily_sketch_check', `cardinality("sketch_keys") = cardinality("sketch_counts")`)
export class MetricRollupDaily extends MetricRollup {}
