import { IsIn, IsObject, IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';
import {
  NotFoundError,
  OptionalNotNull,
  Page,
  PageInput,
  StateError,
  TenantConnection,
  TenantService,
  definedProperties,
  hydrate,
  keysetPage,
  validateId,
  validateInput,
} from '@strata/base';
import { PROJECT_STATUSES, Project } from '../entities';
import type { ProjectStatus } from '../entities';
import { SLUG_MESSAGE, SLUG_PATTERN, requireSomeField, validateSlug } from '../validation';
import { projectsModule } from '../projects.module';
import { rethrowDatabaseError } from './database-errors';
import { updateReturning, insertReturning } from './queries';

export class CreateProjectInput {
  @IsString() @Length(1, 255) name!: string;
  @IsString() @Matches(SLUG_PATTERN, { message: SLUG_MESSAGE }) slug!: string;
  @IsOptional() @IsString() @MaxLength(10_000) description?: string | null;
  @OptionalNotNull() @IsObject() settings?: Record<string, unknown>;
}

export class RenameProjectInput {
  @OptionalNotNull() @IsString() @Length(1, 255) name?: string;
  @OptionalNotNull() @IsString() @Matches(SLUG_PATTERN, { message: SLUG_MESSAGE }) slug?: string;
}

/** `description: null` clears it; `settings` replaces the whole object. */
export class UpdateProjectInput {
  @IsOptional() @IsString() @MaxLength(10_000) description?: string | null;
  @OptionalNotNull() @IsObject() settings?: Record<string, unknown>;
}

export class ListProjectsOptions extends PageInput {
  @OptionalNotNull() @IsIn(PROJECT_STATUSES) status?: ProjectStatus;
}

export interface ProjectSummary {
  project: Project;
  /** Repositories linked to the project. */
  repositoryCount: number;
}

const RENAMABLE = ['name', 'slug'] as const;
const UPDATABLE = ['description', 'settings'] as const;

/** Projects of an organization. Every method validates first and writes nothing on bad input. */
export class ProjectsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, projectsModule);
  }

  async create(organizationId: string, input: CreateProjectInput): Promise<Project> {
    const valid = await validateInput(CreateProjectInput, input, 'project');
    try {
      return await this.scope.run(organizationId, (m) =>
        insertReturning(m, Project, {
          organizationId,
          name: valid.name,
          slug: valid.slug,
          description: valid.description ?? null,
          settings: valid.settings ?? {},
        }),
      );
    } catch (error) {
      rethrowDatabaseError(error, 'project');
    }
  }

  async get(organizationId: string, projectId: string): Promise<Project> {
    validateId(projectId, 'projectId', 'project');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(Project).findOneBy({ organizationId, id: projectId }));
    if (!found) throw new NotFoundError('project', { id: projectId });
    return found;
  }

  async getBySlug(organizationId: string, slug: string): Promise<Project> {
    validateSlug(slug, 'project');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(Project).findOneBy({ organizationId, slug }));
    if (!found) throw new NotFoundError('project', { slug });
    return found;
  }

  async rename(organizationId: string, projectId: string, input: RenameProjectInput): Promise<Project> {
    validateId(projectId, 'projectId', 'project');
    const changes = definedProperties(await validateInput(RenameProjectInput, input, 'project'));
    requireSomeField(changes, RENAMABLE, 'project');
    return this.change(organizationId, projectId, changes);
  }

  async update(organizationId: string, projectId: string, input: UpdateProjectInput): Promise<Project> {
    validateId(projectId, 'projectId', 'project');
    const changes = definedProperties(await validateInput(UpdateProjectInput, input, 'project'));
    requireSomeField(changes, UPDATABLE, 'project');
    return this.change(organizationId, projectId, changes);
  }

  /** Hides the project from the active list; archiving an archived project is a StateError. */
  async archive(organizationId: string, projectId: string): Promise<Project> {
    return this.moveTo(organizationId, projectId, 'archived');
  }

  /** Brings an archived project back; restoring an active project is a StateError. */
  async restore(organizationId: string, projectId: string): Promise<Project> {
    return this.moveTo(organizationId, projectId, 'active');
  }

  /**
   * The organization's projects by name (then id), each with its repository
   * count, a page at a time (`limit`, `cursor` = the previous page's `nextCursor`).
   * Teams belong to the organization, not to projects, so there is no
   * per-project member count.
   */
  async list(organizationId: string, options: ListProjectsOptions = {}): Promise<Page<ProjectSummary>> {
    const { status, ...page } = await validateInput(ListProjectsOptions, options, 'project list');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage<Record<string, unknown> & { repository_count: number }>(
        m,
        {
          list: 'projects',
          select: `p.*, (SELECT count(*)::int FROM projects.project_repositories pr
                          WHERE pr.organization_id = p.organization_id AND pr.project_id = p.id) AS repository_count`,
          from: 'projects.projects p',
          where: ['p.organization_id = $1', '($2::text IS NULL OR p.status = $2)'],
          parameters: [organizationId, status ?? null],
          orderBy: [
            { expression: 'p.name', type: 'text' },
            { expression: 'p.id', type: 'uuid' },
          ],
        },
        page,
        'project list',
      );
      const projects = hydrate(m, Project, items);
      return { items: projects.map((project, i) => ({ project, repositoryCount: items[i].repository_count })), nextCursor };
    });
  }

  private async change(organizationId: string, projectId: string, changes: Partial<Project>): Promise<Project> {
    try {
      const updated = await this.scope.run(organizationId, (m) =>
        updateReturning(m, Project, changes, 'organization_id = :organizationId AND id = :projectId', { organizationId, projectId }),
      );
      if (!updated) throw new NotFoundError('project', { id: projectId });
      return updated;
    } catch (error) {
      rethrowDatabaseError(error, 'project');
    }
  }

  private async moveTo(organizationId: string, projectId: string, status: ProjectStatus): Promise<Project> {
    validateId(projectId, 'projectId', 'project');
    const from: ProjectStatus = status === 'archived' ? 'active' : 'archived';
    return this.scope.run(organizationId, async (m) => {
      // One guarded statement, so two concurrent archives cannot both succeed.
      const moved = await updateReturning(
        m,
        Project,
        { status, archivedAt: status === 'archived' ? () => 'now()' : null },
        'organization_id = :organizationId AND id = :projectId AND status = :from',
        { organizationId, projectId, from },
      );
      if (moved) return moved;
      if (!(await m.getRepository(Project).existsBy({ organizationId, id: projectId })))
        throw new NotFoundError('project', { id: projectId });
      throw new StateError(`project ${projectId} is already ${status}`);
    });
  }
}
