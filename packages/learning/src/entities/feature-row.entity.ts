import { Column, Entity, Index, JoinColumn, ManyToOne } from 'typeorm';
import { OrganizationIdColumn, Organization, UuidPrimaryColumn } from '@strata/base';
import { FeatureView } from './feature-view.entity';

/**
 * An offline feature row: the values of a view's features for one entity as of
 * `event_timestamp`, recorded at `created_timestamp` (a later row for the same
 * event time is a correction and wins the tie). `entity_key` is the JSON array
 * of the entity's key values in the view's key order.
 */
@Entity({ schema: 'learning', name: 'feature_rows' })
// The as-of lookup: one backward index scan per entity row (newest event, then newest correction).
@Index('feature_rows_as_of_idx', ['organizationId', 'viewId', 'entityKey', 'eventTimestamp', 'createdTimestamp'])
// Incremental materialization reads what was created since the last run.
@Index('feature_rows_created_idx', ['organizationId', 'viewId', 'createdTimestamp'])
export class FeatureRow {
  @UuidPrimaryColumn()
  id!: string;

  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @Column({ type: 'uuid' })
  viewId!: string;

  @Column({ type: 'text' })
  entityKey!: string;

  @Column({ type: 'timestamptz' })
  eventTimestamp!: Date;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  createdTimestamp!: Date;

  @Column({ type: 'jsonb' })
  values!: Record<string, unknown>;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => FeatureView, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'feature_rows_organization_id_view_id_fkey',
    },
    { name: 'view_id', referencedColumnName: 'id' },
  ])
  view?: FeatureView;
}
