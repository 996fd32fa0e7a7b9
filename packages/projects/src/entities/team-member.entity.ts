import { Check, Column, Entity, Index, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { OrganizationMembership, TenantRow, User } from '@strata/base';
import { Team } from './team.entity';

export const TEAM_ROLES = ['maintainer', 'member'] as const;
export type TeamRole = (typeof TEAM_ROLES)[number];

/**
 * A user's place in a team. The user must be a member of the team's
 * organization: the reference goes to `base.organization_memberships`
 * `(organization_id, user_id)`, so leaving the organization also leaves its teams.
 */
@Entity({ schema: 'projects', name: 'team_members' })
@Unique(['organizationId', 'teamId', 'userId'])
@Index(['organizationId', 'userId'])
@Check('team_members_role_check', `"role" IN ('maintainer', 'member')`)
export class TeamMember extends TenantRow {
  @Column({ type: 'uuid' })
  teamId!: string;

  @Column({ type: 'uuid' })
  userId!: string;

  @Column({ type: 'varchar', length: 16, default: 'member' })
  role!: TeamRole;

  // TypeORM would name a composite key after its own column order (id first); the
  // explicit name keeps `<table>_organization_id_<column>_fkey`, which error messages rely on.
  @ManyToOne(() => Team, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'team_members_organization_id_team_id_fkey',
    },
    { name: 'team_id', referencedColumnName: 'id' },
  ])
  team?: Team;

  @ManyToOne(() => OrganizationMembership, { onDelete: 'CASCADE' })
  @JoinColumn([
    { name: 'organization_id', referencedColumnName: 'organizationId' },
    { name: 'user_id', referencedColumnName: 'userId' },
  ])
  membership?: OrganizationMembership;

  /** For reading the user's email and name; the membership reference above is the constraint. */
  @ManyToOne(() => User, { createForeignKeyConstraints: false })
  @JoinColumn({ name: 'user_id' })
  user?: User;
}
