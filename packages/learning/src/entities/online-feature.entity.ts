import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Organization } from '@strata/base';
import { FeatureView } from './feature-view.entity';

/** The latest feature row per entity and view, copied by `materialize`, served by `getOnlineFeatures`. */
@Entity({ schema: 'learning', name: 'online_features' })
export class OnlineFeature {
  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @PrimaryColumn({ type: 'uuid' })
  viewId!: string;

  @PrimaryColumn({ type: 'text' })
  entityKey!: string;

  @Column({ type: 'timestamptz' })
  eventTimestamp!: Date;

  @Column({ type: 'timestamptz' })
  createdTimestamp!: Date;

  @Column({ type: 'jsonb' })
  values!: Record<string, unknown>;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  materializedAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => FeatureView, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'online_features_organization_id_view_id_fkey',
    },
    { name: 'view_id', referencedColumnName: 'id' },
  ])
  view?: FeatureView;
}
