import { IsInt, IsNumber, IsObject, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import { DataSource } from 'typeorm';
import { NotFoundError, ValidationError, definedProperties, translateDatabaseError, validateId, validateInput, withTenant } from '@strata/base';
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

export class ListTaskDefinitionsInput {
  @IsOptional() @IsString() @Matches(KIND, { message: 'kind must be lowercase letters, digits and _ . : -' }) kind?: string;
}

/** The database's defaults (see the migration), to check a partial policy before writing. */
const DEFAULT_POLICY = { backoffBaseSeconds: 10, backoffMaxSeconds: 3600 };

/** The cap must not be below the first delay; checked here so the error names the input field. */
function checkBackoff(policy: { backoffBaseSeconds?: number; backoffMaxSeconds?: number }): void {
  const base = policy.backoffBaseSeconds ?? DEFAULT_POLICY.backoffBaseSeconds;
  const max = policy.backoffMaxSeconds ?? DEFAULT_POLICY.backoffMaxSeconds;
  if (max < base) throw ValidationError.forField('backoffMaxSeconds', `must be at least backoffBaseSeconds (${base})`, 'task definition');
}

/** Task definitions: the kinds of work, with their timeouts and retry policy. */
export class TaskDefinitionsService {
  constructor(private readonly dataSource: DataSource) {}

  async create(organizationId: string, input: CreateTaskDefinitionInput): Promise<TaskDefinition> {
    const valid = await validateInput(CreateTaskDefinitionInput, input, 'task definition');
    checkBackoff(valid);
    try {
      return await withTenant(this.dataSource, organizationId, (m) => {
        const repository = m.getRepository(TaskDefinition);
        return repository.save(repository.create({ ...valid, organizationId, inputSchema: valid.inputSchema ?? {}, metadata: valid.metadata ?? {} }));
      });
    } catch (error) {
      translateDatabaseError(error, 'task definition');
    }
  }

  async get(organizationId: string, definitionId: string): Promise<TaskDefinition> {
    validateId(definitionId, 'definitionId', 'task definition');
    const found = await withTenant(this.dataSource, organizationId, (m) => m.getRepository(TaskDefinition).findOneBy({ id: definitionId }));
    if (!found) throw new NotFoundError('task definition', { id: definitionId });
    return found;
  }

  async getByName(organizationId: string, name: string): Promise<TaskDefinition> {
    await validateInput(TaskDefinitionNameInput, { name }, 'task definition');
    const found = await withTenant(this.dataSource, organizationId, (m) => m.getRepository(TaskDefinition).findOneBy({ name }));
    if (!found) throw new NotFoundError('task definition', { name });
    return found;
  }

  async list(organizationId: string, filter: ListTaskDefinitionsInput = {}): Promise<TaskDefinition[]> {
    const valid = await validateInput(ListTaskDefinitionsInput, filter, 'task definition filter');
    return withTenant(this.dataSource, organizationId, (m) =>
      m.getRepository(TaskDefinition).find({ where: definedProperties(valid), order: { name: 'ASC' } }),
    );
  }

  async update(organizationId: string, definitionId: string, input: UpdateTaskDefinitionInput): Promise<TaskDefinition> {
    validateId(definitionId, 'definitionId', 'task definition');
    const valid = await validateInput(UpdateTaskDefinitionInput, input, 'task definition');
    try {
      return await withTenant(this.dataSource, organizationId, async (m) => {
        const repository = m.getRepository(TaskDefinition);
        const found = await repository.findOneBy({ id: definitionId });
        if (!found) throw new NotFoundError('task definition', { id: definitionId });
        const changed = repository.merge(found, definedProperties(valid));
        checkBackoff(changed);
        return repository.save(changed);
      });
    } catch (error) {
      translateDatabaseError(error, 'task definition');
    }
  }
}
