import { IsIn, IsObject, IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';
import {
  NotFoundError,
  OptionalNotNull,
  Page,
  PageInput,
  TenantConnection,
  TenantService,
  definedProperties,
  hydrate,
  keysetPage,
  validateId,
  validateInput,
  violatedConstraint,
} from '@strata/base';
import { CodeRepository, Project, ProjectRepository, REPOSITORY_PROVIDERS, REPOSITORY_VISIBILITIES } from '../entities';
import type { RepositoryProvider, RepositoryVisibility } from '../entities';
import { FULL_NAME_MESSAGE, FULL_NAME_PATTERN, IsBranchName, IsCloneUrl, requireSomeField } from '../validation';
import { projectsModule } from '../projects.module';
import { rethrowDatabaseError } from './database-errors';
import { insertReturning, updateReturning } from './queries';

export class RegisterRepositoryInput {
  @IsIn(REPOSITORY_PROVIDERS) provider!: RepositoryProvider;
  @IsString() @MaxLength(255) @Matches(FULL_NAME_PATTERN, { message: FULL_NAME_MESSAGE }) fullName!: string;
  @IsOptional() @IsString() @Length(1, 255) externalId?: string | null;
  @IsOptional() @IsCloneUrl() cloneUrl?: string | null;
  @OptionalNotNull() @IsBranchName() defaultBranch?: string;
  @OptionalNotNull() @IsIn(REPOSITORY_VISIBILITIES) visibility?: RepositoryVisibility;
  @OptionalNotNull() @IsObject() metadata?: Record<string, unknown>;
}

/** `null` clears externalId or cloneUrl; `metadata` replaces the whole object; a new fullName follows a rename at the provider. */
export class UpdateRepositoryInput {
  @OptionalNotNull() @IsString() @MaxLength(255) @Matches(FULL_NAME_PATTERN, { message: FULL_NAME_MESSAGE }) fullName?: string;
  @IsOptional() @IsString() @Length(1, 255) externalId?: string | null;
  @IsOptional() @IsCloneUrl() cloneUrl?: string | null;
  @OptionalNotNull() @IsBranchName() defaultBranch?: string;
  @OptionalNotNull() @IsIn(REPOSITORY_VISIBILITIES) visibility?: RepositoryVisibility;
  @OptionalNotNull() @IsObject() metadata?: Record<string, unknown>;
}

class FullNameLookup {
  @IsIn(REPOSITORY_PROVIDERS) provider!: RepositoryProvider;
  @IsString() @MaxLength(255) @Matches(FULL_NAME_PATTERN, { message: FULL_NAME_MESSAGE }) fullName!: string;
}

class ExternalIdLookup {
  @IsIn(REPOSITORY_PROVIDERS) provider!: RepositoryProvider;
  @IsString() @Length(1, 255) externalId!: string;
}

const UPDATABLE = ['fullName', 'externalId', 'cloneUrl', 'defaultBranch', 'visibility', 'metadata'] as const;

/**
 * Source repositories of an organization and their links to projects. Every
 * method validates first and writes nothing on bad input. References to
 * another organization's project or repository are refused by the database
 * (composite keys) and reported as NotFoundError, as that row is invisible here.
 */
export class RepositoriesService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, projectsModule);
  }

  async register(organizationId: string, input: RegisterRepositoryInput): Promise<CodeRepository> {
    const valid = await validateInput(RegisterRepositoryInput, input, 'repository');
    try {
      return await this.scope.run(organizationId, (m) =>
        insertReturning(m, CodeRepository, {
          organizationId,
          provider: valid.provider,
          fullName: valid.fullName,
          externalId: valid.externalId ?? null,
          cloneUrl: valid.cloneUrl ?? null,
          defaultBranch: valid.defaultBranch ?? 'main',
          visibility: valid.visibility ?? 'private',
          metadata: valid.metadata ?? {},
        }),
      );
    } catch (error) {
      rethrowDatabaseError(error, 'repository');
    }
  }

  async get(organizationId: string, repositoryId: string): Promise<CodeRepository> {
    validateId(repositoryId, 'repositoryId', 'repository');
    const found = await this.scope.run(organizationId, (m) =>
      m.getRepository(CodeRepository).findOneBy({ organizationId, id: repositoryId }),
    );
    if (!found) throw new NotFoundError('repository', { id: repositoryId });
    return found;
  }

  /**
   * The repository a webhook names, or null. Case-insensitive, as the providers
   * are (`Octo/Repo` finds `octo/repo`); served by the unique index on lower(full_name).
   */
  async findByFullName(organizationId: string, provider: RepositoryProvider, fullName: string): Promise<CodeRepository | null> {
    const lookup = await validateInput(FullNameLookup, { provider, fullName }, 'repository');
    return this.scope.run(organizationId, (m) =>
      m
        .getRepository(CodeRepository)
        .createQueryBuilder('repository')
        .where('repository.organizationId = :organizationId AND repository.provider = :provider', {
          organizationId,
          provider: lookup.provider,
        })
        .andWhere('lower(repository.fullName) = lower(:fullName)', { fullName: lookup.fullName })
        .getOne(),
    );
  }

  /** The repository with the provider's own id (stable across renames), or null. */
  async findByExternalId(organizationId: string, provider: RepositoryProvider, externalId: string): Promise<CodeRepository | null> {
    const lookup = await validateInput(ExternalIdLookup, { provider, externalId }, 'repository');
    return this.scope.run(organizationId, (m) =>
      m.getRepository(CodeRepository).findOneBy({ organizationId, provider: lookup.provider, externalId: lookup.externalId }),
    );
  }

  async update(organizationId: string, repositoryId: string, input: UpdateRepositoryInput): Promise<CodeRepository> {
    validateId(repositoryId, 'repositoryId', 'repository');
    const changes = definedProperties(await validateInput(UpdateRepositoryInput, input, 'repository'));
    requireSomeField(changes, UPDATABLE, 'repository');
    try {
      const updated = await this.scope.run(organizationId, (m) =>
        updateReturning<CodeRepository>(m, CodeRepository, changes, 'organization_id = :organizationId AND id = :repositoryId', {
          organizationId,
          repositoryId,
        }),
      );
      if (!updated) throw new NotFoundError('repository', { id: repositoryId });
      return updated;
    } catch (error) {
      rethrowDatabaseError(error, 'repository');
    }
  }

  /** Links a repository to a project; linking the same pair twice is a ConflictError. */
  async linkToProject(organizationId: string, projectId: string, repositoryId: string): Promise<ProjectRepository> {
    validateId(projectId, 'projectId', 'project repository link');
    validateId(repositoryId, 'repositoryId', 'project repository link');
    try {
      return await this.scope.run(organizationId, (m) =>
        insertReturning(m, ProjectRepository, { organizationId, projectId, repositoryId }),
      );
    } catch (error) {
      // The composite references fail for unknown ids and for another organization's ids alike.
      const constraint = violatedConstraint(error);
      if (constraint === 'project_repositories_organization_id_project_id_fkey') throw new NotFoundError('project', { id: projectId });
      if (constraint === 'project_repositories_organization_id_repository_id_fkey')
        throw new NotFoundError('repository', { id: repositoryId });
      rethrowDatabaseError(error, 'project repository link');
    }
  }

  async unlinkFromProject(organizationId: string, projectId: string, repositoryId: string): Promise<void> {
    validateId(projectId, 'projectId', 'project repository link');
    validateId(repositoryId, 'repositoryId', 'project repository link');
    const result = await this.scope.run(organizationId, (m) =>
      m.getRepository(ProjectRepository).delete({ organizationId, projectId, repositoryId }),
    );
    if (!result.affected) throw new NotFoundError('project repository link', { projectId, repositoryId });
  }

  /** The project's repositories by full name (then id), a page at a time. */
  async listForProject(organizationId: string, projectId: string, options: PageInput = {}): Promise<Page<CodeRepository>> {
    validateId(projectId, 'projectId', 'project');
    const page = await validateInput(PageInput, options, 'repository list');
    return this.scope.run(organizationId, async (m) => {
      if (!(await m.getRepository(Project).existsBy({ organizationId, id: projectId })))
        throw new NotFoundError('project', { id: projectId });
      const { items, nextCursor } = await keysetPage(
        m,
        {
          list: 'project repositories',
          select: 'r.*',
          from: `projects.repositories r
                 JOIN projects.project_repositories link ON link.organization_id = r.organization_id AND link.repository_id = r.id`,
          where: ['link.organization_id = $1', 'link.project_id = $2'],
          parameters: [organizationId, projectId],
          orderBy: [
            { expression: 'r.full_name', type: 'text' },
            { expression: 'r.id', type: 'uuid' },
          ],
        },
        page,
        'repository list',
      );
      return { items: hydrate(m, CodeRepository, items), nextCursor };
    });
  }

  /** The projects a repository serves, by name (then id), a page at a time (the events module routes a push to them). */
  async listProjectsForRepository(organizationId: string, repositoryId: string, options: PageInput = {}): Promise<Page<Project>> {
    validateId(repositoryId, 'repositoryId', 'repository');
    const page = await validateInput(PageInput, options, 'project list');
    return this.scope.run(organizationId, async (m) => {
      if (!(await m.getRepository(CodeRepository).existsBy({ organizationId, id: repositoryId }))) {
        throw new NotFoundError('repository', { id: repositoryId });
      }
      const { items, nextCursor } = await keysetPage(
        m,
        {
          list: 'repository projects',
          select: 'p.*',
          from: `projects.projects p
                 JOIN projects.project_repositories link ON link.organization_id = p.organization_id AND link.project_id = p.id`,
          where: ['link.organization_id = $1', 'link.repository_id = $2'],
          parameters: [organizationId, repositoryId],
          orderBy: [
            { expression: 'p.name', type: 'text' },
            { expression: 'p.id', type: 'uuid' },
          ],
        },
        page,
        'project list',
      );
      return { items: hydrate(m, Project, items), nextCursor };
    });
  }
}
