import { randomUUID } from 'node:crypto';
import { IsIn, IsObject, IsOptional, IsString, Length, Matches } from 'class-validator';
import { IsNull } from 'typeorm';
import { baseModule } from '../base.module';
import { NotFoundError, ValidationError, translateDatabaseError } from '../errors';
import type { MembershipRole } from '../entities';
import { MEMBERSHIP_ROLES, Organization, OrganizationMembership, User } from '../entities';
import { hydrate } from '../mapping';
import { Page, PageInput, keysetPage } from '../pagination';
import { TenantConnection, TenantContext, TenantService } from '../tenancy';
import { validateId, validateInput } from '../validation';

export class CreateOrganizationInput {
  @IsString() @Length(1, 255) name!: string;
  @IsString()
  @Matches(/^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$/, { message: 'slug must be lowercase letters, digits and dashes' })
  slug!: string;
  @IsOptional() @IsObject() settings?: Record<string, unknown>;
}

export class InviteMemberInput {
  @IsString() @Length(3, 320) @Matches(/^[^\s@]+@[^\s@]+$/, { message: 'email must be an email address' }) email!: string;
  @IsIn(MEMBERSHIP_ROLES) role!: MembershipRole;
  /** The new user's name: needed only when nobody has this email yet (otherwise ignored). */
  @IsOptional() @IsString() @Length(1, 255) name?: string;
}

export class UpdateProfileInput {
  @IsOptional() @IsString() @Length(1, 255) name?: string;
  @IsOptional() @IsObject() preferences?: Record<string, unknown>;
}

/**
 * Organizations (tenants), their members, and users. Every method validates first and writes nothing on bad input.
 * A tenant sees only its own members' user rows; users join organizations by invitation (`inviteMember`).
 * Standalone, or `.with(tx)` inside a caller's tenant transaction.
 */
export class OrganizationsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, baseModule);
  }

  async create(input: CreateOrganizationInput): Promise<Organization> {
    const valid = await validateInput(CreateOrganizationInput, input, 'organization');
    // The id is chosen here so the row can be written inside its own tenant context.
    const id = randomUUID();
    try {
      return await this.scope.run(id, (m) =>
        m
          .getRepository(Organization)
          .save(m.getRepository(Organization).create({ id, name: valid.name, slug: valid.slug, settings: valid.settings ?? {} })),
      );
    } catch (error) {
      translateDatabaseError(error, 'organization');
    }
  }

  async get(organizationId: string): Promise<Organization> {
    const found = await this.scope.run(organizationId, (m) =>
      m.getRepository(Organization).findOneBy({ id: organizationId, deletedAt: IsNull() }),
    );
    if (!found) throw new NotFoundError('organization', { id: organizationId });
    return found;
  }

  /** Hides the organization (soft delete); `erase` removes it and all its rows for good. */
  async archive(organizationId: string): Promise<void> {
    await this.scope.run(organizationId, async (m) => {
      const result = await m.getRepository(Organization).softDelete({ id: organizationId });
      if (!result.affected) throw new NotFoundError('organization', { id: organizationId });
    });
  }

  /** Right to be forgotten: deletes the organization; foreign keys cascade to its rows in every module. */
  async erase(organizationId: string): Promise<void> {
    await this.scope.run(organizationId, async (m) => {
      const result = await m.getRepository(Organization).delete({ id: organizationId });
      if (!result.affected) throw new NotFoundError('organization', { id: organizationId });
    });
  }

  /**
   * The only way a user joins an organization: the user with this email (created, with `name`, if nobody
   * has it yet) becomes a member with `role`. With `context.userId` the invitation is on that user's behalf:
   * they must be an owner or admin of the organization, and only an owner may invite an owner (ForbiddenError).
   * A tenant never writes users itself (`base.invite_member`, checked by the database).
   */
  async inviteMember(
    organizationId: string,
    input: InviteMemberInput,
    context: TenantContext = {},
  ): Promise<OrganizationMembership & { user: User }> {
    const valid = await validateInput(InviteMemberInput, input, 'membership');
    try {
      return await this.scope.run(
        organizationId,
        async (m) => {
          const [{ id }] = await m.query('SELECT base.invite_member($1, $2, $3) AS id', [valid.email, valid.role, valid.name ?? null]);
          const membership = await m.getRepository(OrganizationMembership).findOneOrFail({ where: { id }, relations: { user: true } });
          return membership as OrganizationMembership & { user: User };
        },
        context,
      );
    } catch (error) {
      translateDatabaseError(error, 'membership', { organization_memberships_organization_id_user_id_key: ['email'] });
    }
  }

  /**
   * A user changes their own profile, working in one of their organizations (`base.update_own_profile`):
   * ForbiddenError when `userId` is not a member of it. Returns the updated user.
   */
  async updateOwnProfile(organizationId: string, userId: string, input: UpdateProfileInput): Promise<User> {
    validateId(userId, 'userId', 'profile');
    const valid = await validateInput(UpdateProfileInput, input, 'profile');
    if (valid.name == null && valid.preferences == null) {
      throw ValidationError.forField('(input)', 'give at least one of name, preferences', 'profile');
    }
    try {
      return await this.scope.run(
        organizationId,
        async (m) => {
          await m.query('SELECT base.update_own_profile($1, $2::jsonb)', [
            valid.name ?? null,
            valid.preferences == null ? null : JSON.stringify(valid.preferences),
          ]);
          return m.getRepository(User).findOneByOrFail({ id: userId });
        },
        { userId },
      );
    } catch (error) {
      translateDatabaseError(error, 'profile');
    }
  }

  /** A member of the organization by email; null for anyone else (other organizations' users are not visible). */
  async findMemberByEmail(organizationId: string, email: string): Promise<User | null> {
    return this.scope.run(organizationId, (m) => m.getRepository(User).findOneBy({ email: email.trim().toLowerCase() }));
  }

  /** The organization's members with their users, oldest membership first, a page at a time. */
  async listMembers(organizationId: string, options: PageInput = {}): Promise<Page<OrganizationMembership & { user: User }>> {
    const page = await validateInput(PageInput, options, 'member list');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage<Record<string, unknown> & { user: Record<string, unknown> }>(
        m,
        {
          list: 'members',
          select: 'om.*, to_jsonb(u) AS "user"',
          from: 'base.organization_memberships om JOIN base.users u ON u.id = om.user_id',
          where: ['om.organization_id = $1'],
          parameters: [organizationId],
          orderBy: [
            { expression: 'om.created_at', type: 'timestamptz' },
            { expression: 'om.id', type: 'uuid' },
          ],
        },
        page,
        'member list',
      );
      const members = hydrate(m, OrganizationMembership, items).map((membership, i) =>
        Object.assign(membership, { user: hydrate(m, User, [items[i].user])[0] }),
      );
      return { items: members, nextCursor };
    });
  }
}
