import { Check, Column, Entity, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';
import { SLUG_PATTERN } from '../validation/patterns';

/** A group of the organization's members (reviewers, owners of an area). */
@Entity({ schema: 'projects', name: 'teams' })
@Unique(['organizationId', 'slug'])
@Check('teams_name_check', `"name" <> ''`)
@Check('teams_slug_check', `"slug" ~ '${SLUG_PATTERN.source}'`)
export class Team extends TenantRow {
  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'varchar', length: 100 })
  slug!: string;

  @Column({ type: 'text', nullable: true })
  description!: string | null;
}
