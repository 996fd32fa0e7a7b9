import { IsIn, IsOptional, IsString, IsUUID, Length, Matches, MaxLength } from 'class-validator';
import {
  NotFoundError,
  OptionalNotNull,
  OrganizationMembership,
  Page,
  PageInput,
  TenantConnection,
  TenantService,
  User,
  ValidationError,
  definedProperties,
  hydrate,
  keysetPage,
  validateId,
  validateInput,
  violatedConstraint,
} from '@strata/base';
import { TEAM_ROLES, Team, TeamMember } from '../entities';
import type { TeamRole } from '../entities';
import { SLUG_MESSAGE, SLUG_PATTERN, requireSomeField } from '../validation';
import { projectsModule } from '../projects.module';
import { rethrowDatabaseError } from './database-errors';
import { insertReturning, updateReturning } from './queries';

export class CreateTeamInput {
  @IsString() @Length(1, 255) name!: string;
  @IsString() @Matches(SLUG_PATTERN, { message: SLUG_MESSAGE }) slug!: string;
  @IsOptional() @IsString() @MaxLength(10_000) description?: string | null;
}

export class RenameTeamInput {
  @OptionalNotNull() @IsString() @Length(1, 255) name?: string;
  @OptionalNotNull() @IsString() @Matches(SLUG_PATTERN, { message: SLUG_MESSAGE }) slug?: string;
}

export class AddTeamMemberInput {
  @IsUUID() userId!: string;
  /** Defaults to `member`. */
  @OptionalNotNull() @IsIn(TEAM_ROLES) role?: TeamRole;
}

export class ChangeTeamRoleInput {
  @IsIn(TEAM_ROLES) role!: TeamRole;
}

export class ListTeamsOptions extends PageInput {}

export interface TeamSummary {
  team: Team;
  memberCount: number;
}

const RENAMABLE = ['name', 'slug'] as const;

/**
 * Teams of an organization and their members, who must be members of the
 * organization. Every method validates first and writes nothing on bad input.
 */
export class TeamsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, projectsModule);
  }

  async create(organizationId: string, input: CreateTeamInput): Promise<Team> {
    const valid = await validateInput(CreateTeamInput, input, 'team');
    try {
      return await this.scope.run(organizationId, (m) =>
        insertReturning(m, Team, { organizationId, name: valid.name, slug: valid.slug, description: valid.description ?? null }),
      );
    } catch (error) {
      rethrowDatabaseError(error, 'team');
    }
  }

  async get(organizationId: string, teamId: string): Promise<Team> {
    validateId(teamId, 'teamId', 'team');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(Team).findOneBy({ organizationId, id: teamId }));
    if (!found) throw new NotFoundError('team', { id: teamId });
    return found;
  }

  /** The organization's teams by name (then id), each with its member count, a page at a time. */
  async list(organizationId: string, options: ListTeamsOptions = {}): Promise<Page<TeamSummary>> {
    const page = await validateInput(ListTeamsOptions, options, 'team list');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage<Record<string, unknown> & { member_count: number }>(
        m,
        {
          list: 'teams',
          select: `t.*, (SELECT count(*)::int FROM projects.team_members tm
                          WHERE tm.organization_id = t.organization_id AND tm.team_id = t.id) AS member_count`,
          from: 'projects.teams t',
          where: ['t.organization_id = $1'],
          parameters: [organizationId],
          orderBy: [
            { expression: 't.name', type: 'text' },
            { expression: 't.id', type: 'uuid' },
          ],
        },
        page,
        'team list',
      );
      return { items: hydrate(m, Team, items).map((team, i) => ({ team, memberCount: items[i].member_count })), nextCursor };
    });
  }

  async rename(organizationId: string, teamId: string, input: RenameTeamInput): Promise<Team> {
    validateId(teamId, 'teamId', 'team');
    const changes = definedProperties(await validateInput(RenameTeamInput, input, 'team'));
    requireSomeField(changes, RENAMABLE, 'team');
    try {
      const updated = await this.scope.run(organizationId, (m) =>
        updateReturning<Team>(m, Team, changes, 'organization_id = :organizationId AND id = :teamId', { organizationId, teamId }),
      );
      if (!updated) throw new NotFoundError('team', { id: teamId });
      return updated;
    } catch (error) {
      rethrowDatabaseError(error, 'team');
    }
  }

  /** Deletes the team and its memberships (not the users). */
  async delete(organizationId: string, teamId: string): Promise<void> {
    validateId(teamId, 'teamId', 'team');
    const result = await this.scope.run(organizationId, (m) => m.getRepository(Team).delete({ organizationId, id: teamId }));
    if (!result.affected) throw new NotFoundError('team', { id: teamId });
  }

  /** Adds a member of the organization to the team; anyone else is a ValidationError on userId. */
  async addMember(organizationId: string, teamId: string, input: AddTeamMemberInput): Promise<TeamMember> {
    validateId(teamId, 'teamId', 'team member');
    const valid = await validateInput(AddTeamMemberInput, input, 'team member');
    try {
      return await this.scope.run(organizationId, (m) =>
        insertReturning(m, TeamMember, { organizationId, teamId, userId: valid.userId, role: valid.role ?? 'member' }),
      );
    } catch (error) {
      // Both references are composite, so another organization's team or user fails them too.
      const constraint = violatedConstraint(error);
      if (constraint === 'team_members_organization_id_team_id_fkey') throw new NotFoundError('team', { id: teamId });
      if (constraint === 'team_members_organization_id_user_id_fkey') {
        throw ValidationError.forField('userId', 'is not a member of the organization', 'team member');
      }
      rethrowDatabaseError(error, 'team member');
    }
  }

  async changeRole(organizationId: string, teamId: string, userId: string, input: ChangeTeamRoleInput): Promise<TeamMember> {
    validateId(teamId, 'teamId', 'team member');
    validateId(userId, 'userId', 'team member');
    const { role } = await validateInput(ChangeTeamRoleInput, input, 'team member');
    const updated = await this.scope.run(organizationId, (m) =>
      updateReturning<TeamMember>(
        m,
        TeamMember,
        { role },
        'organization_id = :organizationId AND team_id = :teamId AND user_id = :userId',
        {
          organizationId,
          teamId,
          userId,
        },
      ),
    );
    if (!updated) throw new NotFoundError('team member', { teamId, userId });
    return updated;
  }

  async removeMember(organizationId: string, teamId: string, userId: string): Promise<void> {
    validateId(teamId, 'teamId', 'team member');
    validateId(userId, 'userId', 'team member');
    const result = await this.scope.run(organizationId, (m) => m.getRepository(TeamMember).delete({ organizationId, teamId, userId }));
    if (!result.affected) throw new NotFoundError('team member', { teamId, userId });
  }

  /** The team's members, each with `user` (email, name) loaded, maintainers first, then by email, a page at a time. */
  async listMembers(organizationId: string, teamId: string, options: PageInput = {}): Promise<Page<TeamMemberWithUser>> {
    validateId(teamId, 'teamId', 'team');
    const page = await validateInput(PageInput, options, 'team member list');
    return this.scope.run(organizationId, async (m) => {
      if (!(await m.getRepository(Team).existsBy({ organizationId, id: teamId }))) throw new NotFoundError('team', { id: teamId });
      const { items, nextCursor } = await keysetPage<Record<string, unknown> & { user: Record<string, unknown> }>(
        m,
        {
          list: 'team members',
          select: 'tm.*, to_jsonb(u) AS "user"',
          from: 'projects.team_members tm JOIN base.users u ON u.id = tm.user_id',
          where: ['tm.organization_id = $1', 'tm.team_id = $2'],
          parameters: [organizationId, teamId],
          orderBy: [
            { expression: 'tm.role', type: 'text' }, // 'maintainer' sorts before 'member'
            { expression: 'u.email', type: 'text' },
            { expression: 'tm.user_id', type: 'uuid' },
          ],
        },
        page,
        'team member list',
      );
      const members = hydrate(m, TeamMember, items).map((member, i) =>
        Object.assign(member, { user: hydrate(m, User, [items[i].user])[0] }),
      );
      return { items: members, nextCursor };
    });
  }

  /** The teams a member of the organization belongs to, each membership with `team` loaded, by team name (then id), a page at a time. */
  async listTeamsForUser(organizationId: string, userId: string, options: PageInput = {}): Promise<Page<TeamMember & { team: Team }>> {
    validateId(userId, 'userId', 'team member');
    const page = await validateInput(PageInput, options, 'team list');
    return this.scope.run(organizationId, async (m) => {
      if (!(await m.getRepository(OrganizationMembership).existsBy({ organizationId, userId }))) {
        throw new NotFoundError('organization member', { userId });
      }
      const { items, nextCursor } = await keysetPage<Record<string, unknown> & { team: Record<string, unknown> }>(
        m,
        {
          list: 'teams of a user',
          select: 'tm.*, to_jsonb(t) AS team',
          from: 'projects.team_members tm JOIN projects.teams t ON t.organization_id = tm.organization_id AND t.id = tm.team_id',
          where: ['tm.organization_id = $1', 'tm.user_id = $2'],
          parameters: [organizationId, userId],
          orderBy: [
            { expression: 't.name', type: 'text' },
            { expression: 't.id', type: 'uuid' },
          ],
        },
        page,
        'team list',
      );
      const memberships = hydrate(m, TeamMember, items).map((membership, i) =>
        Object.assign(membership, { team: hydrate(m, Team, [items[i].team])[0] }),
      );
      return { items: memberships, nextCursor };
    });
  }
}

/** A team member with the user loaded. */
export type TeamMemberWithUser = TeamMember & { user: User };
