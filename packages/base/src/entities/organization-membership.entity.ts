import { Check, Column, Entity, Index, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { JsonbColumn } from '../columns';
import { TenantRow } from './tenant-row';
import { User } from './user.entity';

export const MEMBERSHIP_ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
export type MembershipRole = (typeof MEMBERSHIP_ROLES)[number];

@Entity({ schema: 'base', name: 'organization_memberships' })
@Unique(['organizationId', 'userId'])
@Check('organization_memberships_role_check', `"role" IN ('owner', 'admin', 'member', 'viewer')`)
export class OrganizationMembership extends TenantRow {
  @Index()
  @Column({ type: 'uuid' })
  userId!: string;

  @Column({ type: 'varchar', length: 16, default: 'member' })
  role!: MembershipRole;

  @JsonbColumn()
  permissions!: Record<string, unknown>;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User;
}
