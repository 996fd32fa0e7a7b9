import { Check, Column, Entity, Index, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { CreatedAtColumn, JsonbColumn, OrganizationIdColumn, UpdatedAtColumn, UuidPrimaryColumn } from '../columns';
import { Organization } from './organization.entity';
import { User } from './user.entity';

export const MEMBERSHIP_ROLES = ['owner', 'admin', 'member', 'viewer'] as const;
export type MembershipRole = (typeof MEMBERSHIP_ROLES)[number];

@Entity({ schema: 'base', name: 'organization_memberships' })
@Unique(['organizationId', 'userId'])
@Check('organization_memberships_role_check', `"role" IN ('owner', 'admin', 'member', 'viewer')`)
export class OrganizationMembership {
  @UuidPrimaryColumn()
  id!: string;

  @OrganizationIdColumn()
  organizationId!: string;

  @Index()
  @Column({ type: 'uuid' })
  userId!: string;

  @Column({ type: 'varchar', length: 16, default: 'member' })
  role!: MembershipRole;

  @JsonbColumn()
  permissions!: Record<string, unknown>;

  @CreatedAtColumn()
  createdAt!: Date;

  @UpdatedAtColumn()
  updatedAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => User, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id' })
  user?: User;
}
