import { Check, Column, Entity, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { CreatedAtColumn, Organization, OrganizationIdColumn, UpdatedAtColumn, UuidPrimaryColumn } from '@strata/base';
import { SLUG_PATTERN } from '../validation/patterns';

/** A group of the organization's members (reviewers, owners of an area). */
@Entity({ schema: 'projects', name: 'teams' })
@Unique(['organizationId', 'id'])
@Unique(['organizationId', 'slug'])
@Check('teams_name_check', `"name" <> ''`)
@Check('teams_slug_check', `"slug" ~ '${SLUG_PATTERN.source}'`)
export class Team {
  @UuidPrimaryColumn()
  id!: string;

  @OrganizationIdColumn()
  organizationId!: string;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'varchar', length: 100 })
  slug!: string;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @CreatedAtColumn()
  createdAt!: Date;

  @UpdatedAtColumn()
  updatedAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}
