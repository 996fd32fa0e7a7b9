import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Organization } from '@strata/base';

export type AggregationGranularity = 'hour' | 'day';

/**
 * How many events of one (source, type, action, repository) arrived per hour
 * and per day, counted in the ingest transaction, so a count is never ahead
 * of or behind the events. `action` and `repository` are '' when the event
 * has none. Partitioned monthly on `bucket_start`, kept 25 months: longer than
 * the raw events.
 */
@Entity({ schema: 'events', name: 'event_aggregations' })
@Check('event_aggregations_granularity_check', `"granularity" IN ('hour', 'day')`)
export class EventAggregation {
  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @PrimaryColumn({ type: 'text' })
  granularity!: AggregationGranularity;

  @PrimaryColumn({ type: 'timestamptz' })
  bucketStart!: Date;

  @PrimaryColumn({ type: 'text' })
  source!: string;

  @PrimaryColumn({ type: 'text' })
  eventType!: string;

  @PrimaryColumn({ type: 'text', default: '' })
  action!: string;

  /** The repository's full name, '' for events without one. */
  @PrimaryColumn({ type: 'text', default: '' })
  repository!: string;

  @Column({ type: 'bigint', default: 0 })
  eventCount!: string;

  @Column({ type: 'timestamptz' })
  lastOccurredAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}
