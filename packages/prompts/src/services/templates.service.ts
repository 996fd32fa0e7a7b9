import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsString, IsUUID, Length, Matches, MaxLength, ValidateIf } from 'class-validator';
import {
  NotFoundError,
  Page,
  PageInput,
  TenantConnection,
  TenantService,
  hydrate,
  keysetPage,
  validateId,
  validateInput,
} from '@strata/base';
import { PromptTemplate, TEMPLATE_TYPES } from '../entities';
import type { TemplateType } from '../entities';
import { promptsModule } from '../prompts.module';
import { TEMPLATE_NAME, selectEntities, translated, validateName } from './support';

const NAME_MESSAGE = 'name must be letters, digits, _ . - (starting with a letter or digit), at most 255';

export class CreateTemplateInput {
  @IsString() @Matches(TEMPLATE_NAME, { message: NAME_MESSAGE }) name!: string;
  @IsOptional() @IsIn(TEMPLATE_TYPES) type?: TemplateType;
  @IsOptional() @IsString() @MaxLength(10_000) description?: string | null;
  @IsOptional() @IsUUID() projectId?: string | null;
  @ValidateIf((_o, v) => v !== undefined)
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  @Length(1, 64, { each: true })
  tags?: string[];
}

export class ListTemplatesOptions extends PageInput {
  @IsOptional() @IsString() @Length(1, 64) tag?: string;
  @IsOptional() @IsUUID() projectId?: string;
}

const LIVE = 't.organization_id = $1 AND t.deleted_at IS NULL';

/** Prompt templates of an organization: named (case-insensitively unique among live ones), typed, tagged, soft deleted. */
export class PromptTemplatesService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, promptsModule);
  }

  async create(organizationId: string, input: CreateTemplateInput): Promise<PromptTemplate> {
    const valid = await validateInput(CreateTemplateInput, input, 'prompt template');
    return translated('prompt template', () =>
      this.scope.run(organizationId, async (m) => {
        const [row] = await selectEntities(
          m,
          PromptTemplate,
          `INSERT INTO prompts.prompt_templates (organization_id, name, type, description, project_id, tags)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
          [
            organizationId,
            valid.name,
            valid.type ?? 'text',
            valid.description ?? null,
            valid.projectId ?? null,
            [...new Set(valid.tags ?? [])],
          ],
        );
        return row;
      }),
    );
  }

  async get(organizationId: string, templateId: string): Promise<PromptTemplate> {
    validateId(templateId, 'templateId', 'prompt template');
    const [found] = await this.scope.run(organizationId, (m) =>
      selectEntities(m, PromptTemplate, `SELECT * FROM prompts.prompt_templates t WHERE ${LIVE} AND t.id = $2`, [
        organizationId,
        templateId,
      ]),
    );
    if (!found) throw new NotFoundError('prompt template', { id: templateId });
    return found;
  }

  /** The live template of that name, whatever its case. */
  async getByName(organizationId: string, name: string): Promise<PromptTemplate> {
    validateName(name, 'name', TEMPLATE_NAME, 'prompt template');
    const [found] = await this.scope.run(organizationId, (m) =>
      selectEntities(m, PromptTemplate, `SELECT * FROM prompts.prompt_templates t WHERE ${LIVE} AND lower(t.name) = lower($2)`, [
        organizationId,
        name,
      ]),
    );
    if (!found) throw new NotFoundError('prompt template', { name });
    return found;
  }

  /** Live templates by name (case-insensitively, then id), optionally with a tag or of a project, a page at a time. */
  async list(organizationId: string, options: ListTemplatesOptions = {}): Promise<Page<PromptTemplate>> {
    const { tag, projectId, ...page } = await validateInput(ListTemplatesOptions, options, 'prompt template list');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage(
        m,
        {
          list: 'prompt_templates',
          select: 't.*',
          from: 'prompts.prompt_templates t',
          // tags @> ARRAY[tag] is what the GIN index serves.
          where: [LIVE, '($2::text IS NULL OR t.tags @> ARRAY[$2::text])', '($3::uuid IS NULL OR t.project_id = $3)'],
          parameters: [organizationId, tag ?? null, projectId ?? null],
          orderBy: [
            { expression: 'lower(t.name)', type: 'text' },
            { expression: 't.id', type: 'uuid' },
          ],
        },
        page,
        'prompt template list',
      );
      return { items: hydrate(m, PromptTemplate, items), nextCursor };
    });
  }

  /** Soft delete: the template leaves every lookup and frees its name; its versions and history stay. */
  async delete(organizationId: string, templateId: string): Promise<void> {
    validateId(templateId, 'templateId', 'prompt template');
    const deleted = await this.scope.run(organizationId, (m) =>
      m.query(`UPDATE prompts.prompt_templates t SET deleted_at = now(), updated_at = now() WHERE ${LIVE} AND t.id = $2 RETURNING t.id`, [
        organizationId,
        templateId,
      ]),
    );
    // An UPDATE's result is [rows, affected].
    if ((deleted as [unknown[], number])[1] === 0) throw new NotFoundError('prompt template', { id: templateId });
  }
}
