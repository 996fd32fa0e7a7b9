import { randomUUID } from 'node:crypto';
import { IsIn, IsObject, IsOptional, IsString, IsUUID, Length, Matches } from 'class-validator';
import { EntityManager, IsNull } from 'typeorm';
import { baseModule } from '../base.module';
import { NotFoundError, translateDatabaseError } from '../errors';
import type { MembershipRole } from '../entities';
import { MEMBERSHIP_ROLES, Organization, OrganizationMembership, User } from '../entities';
import { TenantConnection, TenantService } from '../tenancy';
import { validateInput } from '../validation';

export class CreateOrganizationInput {
  @IsString() @Length(1, 255) name!: string;
  @IsString()
  @Matches(/^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$/, { message: 'slug must be lowercase letters, digits and dashes' })
  slug!: string;
  @IsOptional() @IsObject() settings?: Record<string, unknown>;
}

export class CreateUserInput {
  @IsString() @Length(3, 320) @Matches(/^[^\s@]+@[^\s@]+$/, { message: 'email must be an email address' }) email!: string;
  @IsString() @Length(1, 255) name!: string;
  @IsOptional() @IsObject() preferences?: Record<string, unknown>;
}

export class AddMemberInput {
  @IsUUID() userId!: string;
  @IsIn(MEMBERSHIP_ROLES) role!: MembershipRole;
}

/**
 * Organizations (tenants), their members, and users. Every method validates
 * first and writes nothing on bad input. Standalone, or `.with(tx)` inside a
 * caller's tenant transaction.
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

  async createUser(input: CreateUserInput): Promise<User> {
    const valid = await validateInput(CreateUserInput, input, 'user');
    try {
      const repository = this.users().getRepository(User);
      return await repository.save(
        repository.create({ email: valid.email.toLowerCase(), name: valid.name, preferences: valid.preferences ?? {} }),
      );
    } catch (error) {
      translateDatabaseError(error, 'user');
    }
  }

  async findUserByEmail(email: string): Promise<User | null> {
    return this.users().getRepository(User).findOneBy({ email: email.trim().toLowerCase() });
  }

  async addMember(organizationId: string, input: AddMemberInput): Promise<OrganizationMembership> {
    const valid = await validateInput(AddMemberInput, input, 'membership');
    try {
      return await this.scope.run(organizationId, (m) =>
        m
          .getRepository(OrganizationMembership)
          .save(m.getRepository(OrganizationMembership).create({ organizationId, userId: valid.userId, role: valid.role })),
      );
    } catch (error) {
      translateDatabaseError(error, 'membership');
    }
  }

  async listMembers(organizationId: string): Promise<OrganizationMembership[]> {
    return this.scope.run(organizationId, (m) =>
      m.getRepository(OrganizationMembership).find({ where: { organizationId }, relations: { user: true }, order: { createdAt: 'ASC' } }),
    );
  }

  /** Users are not tenant rows: they are read and written outside a tenant context, or in the caller's transaction. */
  private users(): EntityManager {
    return this.scope.transaction ?? this.scope.dataSource.manager;
  }
}
