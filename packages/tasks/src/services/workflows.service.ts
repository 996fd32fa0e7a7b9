import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsDefined,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { EntityManager } from 'typeorm';
import {
  NotFoundError,
  Page,
  PageInput,
  StateError,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  keysetPage,
  translateDatabaseError,
  validateId,
  validateInput,
} from '@strata/base';
import { tasksModule } from '../tasks.module';
import type { WorkflowStatus } from '../entities';
import { WORKFLOW_STATUSES, Workflow } from '../entities';
import { workflowGraphErrors } from './workflow-graph';

/** Workflows are instantiated in one transaction; this keeps one instantiation reasonable. */
export const MAX_WORKFLOW_STEPS = 5000;

export class WorkflowStepInput {
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$/, { message: 'key must be letters, digits and _ . : - (at most 255)' })
  key!: string;
  @IsString() @Length(1, 500) title!: string;
  /** Name of one of the organization's task definitions. */
  @IsOptional() @IsString() @Length(1, 255) definition?: string;
  @IsOptional() @IsInt() @Min(-1000) @Max(1000) priority?: number;
  @IsOptional() @IsObject() input?: Record<string, unknown>;
}

export class WorkflowEdgeInput {
  @IsString() from!: string;
  @IsString() to!: string;
}

export class WorkflowDefinitionInput {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_WORKFLOW_STEPS)
  @ValidateNested({ each: true })
  @Type(() => WorkflowStepInput)
  steps!: WorkflowStepInput[];

  @IsOptional()
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => WorkflowEdgeInput)
  edges?: WorkflowEdgeInput[];
}

export class CreateWorkflowInput {
  @IsString() @Length(1, 255) name!: string;
  /** Default: one more than the latest version of the same name. */
  @IsOptional() @IsInt() @Min(1) version?: number;
  @IsOptional() @IsUUID() projectId?: string;
  @IsOptional() @IsString() description?: string;
  @IsDefined() @IsObject() @ValidateNested() @Type(() => WorkflowDefinitionInput) definition!: WorkflowDefinitionInput;
  @IsOptional() @IsIn(['draft', 'active']) status?: 'draft' | 'active';
}

export class WorkflowNameInput {
  @IsString() @Length(1, 255) name!: string;
}

export class ListWorkflowsInput extends PageInput {
  @IsOptional() @IsString() @Length(1, 255) name?: string;
  @IsOptional() @IsIn(WORKFLOW_STATUSES) status?: WorkflowStatus;
}

/** Versioned workflow definitions. A definition never changes once stored: a change is a new version. */
export class WorkflowsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, tasksModule);
  }

  async create(organizationId: string, input: CreateWorkflowInput): Promise<Workflow> {
    const valid = await validateInput(CreateWorkflowInput, input, 'workflow');
    const definition = {
      steps: valid.definition.steps.map((s) => ({ ...s })),
      edges: (valid.definition.edges ?? []).map((e) => ({ from: e.from, to: e.to })),
    };
    const graphErrors = workflowGraphErrors(definition);
    if (graphErrors.length > 0) throw new ValidationError(graphErrors, 'workflow');
    try {
      return await this.scope.run(organizationId, async (m) => {
        await assertDefinitionsExist(m, definition.steps);
        const version = valid.version ?? (await nextVersion(m, valid.name));
        const repository = m.getRepository(Workflow);
        return repository.save(
          repository.create({
            organizationId,
            name: valid.name,
            version,
            projectId: valid.projectId ?? null,
            description: valid.description ?? null,
            definition,
            status: valid.status ?? 'draft',
          }),
        );
      });
    } catch (error) {
      translateDatabaseError(error, 'workflow', { workflows_organization_id_name_version_key: ['name', 'version'] });
    }
  }

  async get(organizationId: string, workflowId: string): Promise<Workflow> {
    validateId(workflowId, 'workflowId', 'workflow');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(Workflow).findOneBy({ id: workflowId }));
    if (!found) throw new NotFoundError('workflow', { id: workflowId });
    return found;
  }

  /** The highest active version of a workflow name. */
  async getActive(organizationId: string, name: string): Promise<Workflow> {
    await validateInput(WorkflowNameInput, { name }, 'workflow');
    const found = await this.scope.run(organizationId, (m) =>
      m.getRepository(Workflow).findOne({ where: { name, status: 'active' }, order: { version: 'DESC' } }),
    );
    if (!found) throw new NotFoundError('workflow', { name, status: 'active' });
    return found;
  }

  /** Workflows by name, the newest version first (then id), a page at a time. */
  async list(organizationId: string, filter: ListWorkflowsInput = {}): Promise<Page<Workflow>> {
    const { name, status, ...page } = await validateInput(ListWorkflowsInput, filter, 'workflow filter');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage(
        m,
        {
          list: 'workflows',
          select: 'w.*',
          from: 'tasks.workflows w',
          where: ['w.organization_id = $1', '($2::text IS NULL OR w.name = $2)', '($3::text IS NULL OR w.status = $3)'],
          parameters: [organizationId, name ?? null, status ?? null],
          orderBy: [
            { expression: 'w.name', type: 'text' },
            { expression: 'w.version', type: 'integer', descending: true },
            { expression: 'w.id', type: 'uuid' },
          ],
        },
        page,
        'workflow filter',
      );
      return { items: hydrate(m, Workflow, items), nextCursor };
    });
  }

  /** draft → active. Several versions of one name may be active (running instances finish on theirs). */
  async activate(organizationId: string, workflowId: string): Promise<Workflow> {
    return this.transition(organizationId, workflowId, ['draft'], 'active');
  }

  /** draft | active → retired: no new instances; existing tasks are unaffected. */
  async retire(organizationId: string, workflowId: string): Promise<Workflow> {
    return this.transition(organizationId, workflowId, ['draft', 'active'], 'retired');
  }

  private async transition(organizationId: string, workflowId: string, from: WorkflowStatus[], to: WorkflowStatus): Promise<Workflow> {
    validateId(workflowId, 'workflowId', 'workflow');
    return this.scope.run(organizationId, async (m) => {
      const repository = m.getRepository(Workflow);
      const found = await repository.findOne({ where: { id: workflowId }, lock: { mode: 'pessimistic_write' } });
      if (!found) throw new NotFoundError('workflow', { id: workflowId });
      if (!from.includes(found.status))
        throw new StateError(`workflow ${found.name} v${found.version} is ${found.status}: cannot become ${to}`);
      found.status = to;
      return repository.save(found);
    });
  }
}

async function nextVersion(m: EntityManager, name: string): Promise<number> {
  const [row] = await m.query('SELECT coalesce(max(version), 0) + 1 AS next FROM tasks.workflows WHERE name = $1', [name]);
  return Number(row.next);
}

async function assertDefinitionsExist(m: EntityManager, steps: { definition?: string }[]): Promise<void> {
  const names = [...new Set(steps.map((s) => s.definition).filter((d): d is string => d !== undefined))];
  if (names.length === 0) return;
  const rows: { name: string }[] = await m.query('SELECT name FROM tasks.task_definitions WHERE name = ANY ($1)', [names]);
  const known = new Set(rows.map((r) => r.name));
  const errors = steps.flatMap((s, i) =>
    s.definition !== undefined && !known.has(s.definition)
      ? [{ field: `definition.steps.${i}.definition`, messages: [`names unknown task definition "${s.definition}"`] }]
      : [],
  );
  if (errors.length > 0) throw new ValidationError(errors, 'workflow');
}
