import { IsInt, IsNumber, IsObject, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import {
  NotFoundError,
  Page,
  PageInput,
  TenantConnection,
  TenantService,
  definedProperties,
  hydrate,
  keysetPage,
  translateDatabaseError,
  validateId,
  validateInput,
} from '@strata/base';
import { tasksModule } from '../tasks.module';
import { TaskDefinition } from '../entities';

const KIND = /^[a-z][a-z0-9_.:-]{0,63}$/;
const WEEK_SECONDS = 7 * 24 * 3600;

/** What can change on a definition after it is created. */
export class UpdateTaskDefinitionInput {
  @IsOptional() @IsString() description?: string;
  @IsOptional() @IsObject() inputSchema?: Record<string, unknown>;
  @IsOptional() @IsInt() @Min(1) @Max(WEEK_SECONDS) timeoutSeconds?: number;
  @IsOptional() @IsInt() @Min(1) @Max(100) maxAttempts?: number;
  /** Delay before the first retry; each further retry multiplies it by backoffFactor, up to backoffMaxSeconds. */
  @IsOptional() @IsInt() @Min(0) @Max(WEEK_SECONDS) backoffBaseSeconds?: number;
  @IsOptional() @IsNumber({ allowNaN: false, allowInfinity: false }) @Min(1) @Max(10) backoffFactor?: number;
  @IsOptional() @IsInt() @Min(0) @Max(WEEK_SECONDS) backoffMaxSeconds?: number;
  @IsOptional() @IsObject() metadata?: Record<string, unknown>;
}

export class CreateTaskDefinitionInput extends UpdateTaskDefinitionInput {
  @IsString() @Length(1, 255) name!: string;
  @IsString() @Matches(KIND, { message: 'kind must be lowercase letters, digits and _ . : -' }) kind!: string;
}

export class TaskDefinitionNameInput {
  @IsString() @Length(1, 255) name!: string;
}

export class ListTaskDefinitionsInput extends PageInput {
  @IsOptional() @IsString() @Matches(KIND, { message: 'kind must be lowercase letters, digits and _ . : -' }) kind?: string;
}

/** The database's backoff check compares two columns; the field to fix is the cap. */
const CONSTRAINT_FIELDS = { task_definitions_backoff_check: ['backoffMaxSeconds'] };

/** Task definitions: the kinds of work, with their timeouts and retry policy. */
export class TaskDefinitionsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, tasksModule);
  }

  async create(organizationId: string, input: CreateTaskDefinitionInput): Promise<TaskDefinition> {
    const valid = await validateInput(CreateTaskDefinitionInput, input, 'task definition');
    try {
      return await this.scope.run(organizationId, (m) => {
        const repository = m.getRepository(TaskDefinition);
        return repository.save(
          repository.create({ ...valid, organizationId, inputSchema: valid.inputSchema ?? {}, metadata: valid.metadata ?? {} }),
        );
      });
    } catch (error) {
      translateDatabaseError(error, 'task definition', CONSTRAINT_FIELDS);
    }
  }

  async get(organizationId: string, definitionId: string): Promise<TaskDefinition> {
    validateId(definitionId, 'definitionId', 'task definition');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(TaskDefinition).findOneBy({ id: definitionId }));
    if (!found) throw new NotFoundError('task definition', { id: definitionId });
    return found;
  }

  async getByName(organizationId: string, name: string): Promise<TaskDefinition> {
    await validateInput(TaskDefinitionNameInput, { name }, 'task definition');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(TaskDefinition).findOneBy({ name }));
    if (!found) throw new NotFoundError('task definition', { name });
    return found;
  }

  /** Definitions by name (then id), a page at a time. */
  async list(organizationId: string, filter: ListTaskDefinitionsInput = {}): Promise<Page<TaskDefinition>> {
    const { kind, ...page } = await validateInput(ListTaskDefinitionsInput, filter, 'task definition filter');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage(
        m,
        {
          list: 'task definitions',
          select: 'd.*',
          from: 'tasks.task_definitions d',
          where: ['d.organization_id = $1', '($2::text IS NULL OR d.kind = $2)'],
          parameters: [organizationId, kind ?? null],
          orderBy: [
            { expression: 'd.name', type: 'text' },
            { expression: 'd.id', type: 'uuid' },
          ],
        },
        page,
        'task definition filter',
      );
      return { items: hydrate(m, TaskDefinition, items), nextCursor };
    });
  }

  async update(organizationId: string, definitionId: string, input: UpdateTaskDefinitionInput): Promise<TaskDefinition> {
    validateId(definitionId, 'definitionId', 'task definition');
    const valid = await validateInput(UpdateTaskDefinitionInput, input, 'task definition');
    try {
      return await this.scope.run(organizationId, async (m) => {
        const repository = m.getRepository(TaskDefinition);
        const found = await repository.findOneBy({ id: definitionId });
        if (!found) throw new NotFoundError('task definition', { id: definitionId });
        return repository.save(repository.merge(found, definedProperties(valid)));
      });
    } catch (error) {
      translateDatabaseError(error, 'task definition', CONSTRAINT_FIELDS);
    }
  }
}
