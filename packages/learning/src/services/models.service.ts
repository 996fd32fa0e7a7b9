import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, IsUUID, Length, Matches, MaxLength } from 'class-validator';
import {
  NotFoundError,
  OptionalNotNull,
  Page,
  PageInput,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  keysetPage,
  validateId,
  validateInput,
} from '@strata/base';
import { MODEL_TYPES, MlModel } from '../entities';
import type { ModelType } from '../entities';
import { learningModule } from '../learning.module';
import { TAG_PATTERN } from '../validation';
import { rethrowDatabaseError } from './database-errors';

export class CreateModelInput {
  @IsString() @Length(1, 255) name!: string;
  @IsIn(MODEL_TYPES) type!: ModelType;
  @IsOptional() @IsString() @Length(1, 64) framework?: string | null;
  @IsOptional() @IsString() @MaxLength(10_000) description?: string | null;
  @OptionalNotNull() @IsArray() @ArrayMaxSize(64) @Matches(TAG_PATTERN, { each: true }) tags?: string[];
  @IsOptional() @IsUUID() createdBy?: string | null;
}

export class ListModelsOptions extends PageInput {
  @OptionalNotNull() @IsIn(MODEL_TYPES) type?: ModelType;
  /** Only models carrying this tag. */
  @OptionalNotNull() @Matches(TAG_PATTERN) tag?: string;
}

/** The models of an organization's registry. */
export class ModelsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, learningModule);
  }

  async create(organizationId: string, input: CreateModelInput): Promise<MlModel> {
    const valid = await validateInput(CreateModelInput, input, 'model');
    try {
      return await this.scope.run(organizationId, async (m) => {
        const rows: Record<string, unknown>[] = await m.query(
          `INSERT INTO learning.ml_models (organization_id, name, type, framework, description, tags, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
          [
            organizationId,
            valid.name,
            valid.type,
            valid.framework ?? null,
            valid.description ?? null,
            [...new Set(valid.tags ?? [])],
            valid.createdBy ?? null,
          ],
        );
        return hydrate(m, MlModel, rows)[0];
      });
    } catch (error) {
      rethrowDatabaseError(error, 'model');
    }
  }

  async get(organizationId: string, modelId: string): Promise<MlModel> {
    validateId(modelId, 'modelId', 'model');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(MlModel).findOneBy({ organizationId, id: modelId }));
    if (!found) throw new NotFoundError('model', { id: modelId });
    return found;
  }

  async getByName(organizationId: string, name: string): Promise<MlModel> {
    if (typeof name !== 'string' || name.length < 1 || name.length > 255) {
      throw ValidationError.forField('name', 'must be a string of 1 to 255 characters', 'model');
    }
    const found = await this.scope.run(organizationId, (m) => m.getRepository(MlModel).findOneBy({ organizationId, name }));
    if (!found) throw new NotFoundError('model', { name });
    return found;
  }

  /** The organization's models by name (then id), a page at a time. */
  async list(organizationId: string, options: ListModelsOptions = {}): Promise<Page<MlModel>> {
    const { type, tag, ...page } = await validateInput(ListModelsOptions, options, 'model list');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage(
        m,
        {
          list: 'models',
          select: 'm.*',
          from: 'learning.ml_models m',
          where: ['m.organization_id = $1', '($2::text IS NULL OR m.type = $2)', '($3::text IS NULL OR $3 = ANY (m.tags))'],
          parameters: [organizationId, type ?? null, tag ?? null],
          orderBy: [
            { expression: 'm.name', type: 'text' },
            { expression: 'm.id', type: 'uuid' },
          ],
        },
        page,
        'model list',
      );
      return { items: hydrate(m, MlModel, items), nextCursor };
    });
  }
}
