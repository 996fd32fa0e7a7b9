import Ajv from 'ajv';
import { IsDefined, IsInt, IsObject, IsOptional, IsString, IsUUID, MaxLength, Min, ValidateIf } from 'class-validator';
import { EntityManager } from 'typeorm';
import {
  NotFoundError,
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
import { PromptTemplate, PromptVersion } from '../entities';
import type { PromptContent } from '../entities';
import { promptsModule } from '../prompts.module';
import { LABEL_NAME, canonicalJson, selectEntities, sha256, translated, validateName } from './support';

const ROLES = ['system', 'user', 'assistant', 'tool'];

export class CreateVersionInput {
  /** A string for a text template; `[{ role, content }]` for a chat template. */
  @IsDefined() content!: PromptContent;
  @IsOptional() @IsObject() modelConfig?: Record<string, unknown>;
  /** A JSON schema (draft 07) of the variables, `{ type: 'object', properties, required }`. */
  @IsOptional() @IsObject() variablesSchema?: Record<string, unknown>;
  @IsOptional() @IsString() @MaxLength(10_000) commitMessage?: string | null;
  /** The member who wrote it. */
  @IsOptional() @IsUUID() authorId?: string | null;
}

export class ListVersionsOptions extends PageInput {}

/** What a label or a number picks: `{ label: 'production' }` or `{ version: 3 }`. */
export type VersionRef = { label: string; version?: undefined } | { version: number; label?: undefined };

export class VersionRefInput {
  @ValidateIf((o: VersionRefInput) => o.version === undefined) @IsString() label?: string;
  @ValidateIf((o: VersionRefInput) => o.label === undefined) @IsInt() @Min(1) version?: number;
}

/** One JSON-schema compiler for the module: schemas are checked on create and compiled once per version when rendering. */
export const ajv = new Ajv({ allErrors: true, strict: false });

/** sha256 of what makes a version: the content, the model config and the variables schema (canonical JSON). */
export function versionHash(
  content: PromptContent,
  modelConfig: Record<string, unknown>,
  variablesSchema: Record<string, unknown>,
): string {
  return sha256(canonicalJson({ content, modelConfig, variablesSchema }));
}

/** Immutable, numbered versions of templates (the database numbers them and refuses changes). */
export class PromptVersionsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, promptsModule);
  }

  /**
   * A new version of a live template: number N+1 of its template (no gap and no
   * duplicate however many are created at once), and the label `latest` moves to it.
   */
  async create(organizationId: string, templateId: string, input: CreateVersionInput): Promise<PromptVersion> {
    validateId(templateId, 'templateId', 'prompt version');
    const valid = await validateInput(CreateVersionInput, input, 'prompt version');
    const modelConfig = valid.modelConfig ?? {};
    const variablesSchema = valid.variablesSchema ?? {};
    if (!ajv.validateSchema(variablesSchema)) {
      throw ValidationError.forField('variablesSchema', `is not a JSON schema: ${ajv.errorsText(ajv.errors)}`, 'prompt version');
    }
    return translated('prompt version', () =>
      this.scope.run(organizationId, async (m) => {
        const template = await liveTemplate(m, organizationId, templateId);
        checkContent(template, valid.content);
        if (valid.authorId) await checkMember(m, organizationId, valid.authorId);
        const [row] = await selectEntities(
          m,
          PromptVersion,
          `INSERT INTO prompts.prompt_versions (organization_id, template_id, content, model_config, variables_schema, commit_message, author_id, content_hash)
           VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb, $6, $7, $8) RETURNING *`,
          [
            organizationId,
            templateId,
            JSON.stringify(valid.content),
            JSON.stringify(modelConfig),
            JSON.stringify(variablesSchema),
            valid.commitMessage ?? null,
            valid.authorId ?? null,
            versionHash(valid.content, modelConfig, variablesSchema),
          ],
        );
        return row;
      }),
    );
  }

  /** A version by template and label (`{ label: 'production' }`) or number (`{ version: 3 }`). */
  async get(organizationId: string, templateId: string, ref: VersionRef): Promise<PromptVersion> {
    validateId(templateId, 'templateId', 'prompt version');
    const valid = await validateRef(ref);
    const found = await this.scope.run(organizationId, (m) => findVersion(m, organizationId, templateId, valid));
    if (!found) throw new NotFoundError('prompt version', { templateId, ...valid });
    return found;
  }

  /** The template's versions, newest first, a page at a time. */
  async list(organizationId: string, templateId: string, options: ListVersionsOptions = {}): Promise<Page<PromptVersion>> {
    validateId(templateId, 'templateId', 'prompt version list');
    const page = await validateInput(ListVersionsOptions, options, 'prompt version list');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage(
        m,
        {
          list: 'prompt_versions',
          select: 'v.*',
          from: 'prompts.prompt_versions v',
          where: ['v.organization_id = $1', 'v.template_id = $2'],
          parameters: [organizationId, templateId],
          orderBy: [
            { expression: 'v.version', type: 'integer', descending: true },
            { expression: 'v.id', type: 'uuid' },
          ],
        },
        page,
        'prompt version list',
      );
      return { items: hydrate(m, PromptVersion, items), nextCursor };
    });
  }
}

export async function validateRef(ref: unknown): Promise<VersionRef> {
  const valid = await validateInput(VersionRefInput, ref, 'version reference');
  if ((valid.label === undefined) === (valid.version === undefined)) {
    throw ValidationError.forField('(input)', 'give exactly one of label, version', 'version reference');
  }
  if (valid.label !== undefined) return { label: validateName(valid.label, 'label', LABEL_NAME, 'version reference') };
  return { version: valid.version as number };
}

export async function liveTemplate(m: EntityManager, organizationId: string, templateId: string): Promise<PromptTemplate> {
  const [template] = await selectEntities(
    m,
    PromptTemplate,
    'SELECT * FROM prompts.prompt_templates WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL',
    [organizationId, templateId],
  );
  if (!template) throw new NotFoundError('prompt template', { id: templateId });
  return template;
}

export async function findVersion(
  m: EntityManager,
  organizationId: string,
  templateId: string,
  ref: VersionRef,
): Promise<PromptVersion | undefined> {
  const [found] =
    ref.label !== undefined
      ? await selectEntities(
          m,
          PromptVersion,
          `SELECT v.* FROM prompts.prompt_labels l
             JOIN prompts.prompt_versions v ON v.organization_id = l.organization_id AND v.template_id = l.template_id AND v.version = l.version
            WHERE l.organization_id = $1 AND l.template_id = $2 AND l.name = $3`,
          [organizationId, templateId, ref.label],
        )
      : await selectEntities(
          m,
          PromptVersion,
          'SELECT * FROM prompts.prompt_versions WHERE organization_id = $1 AND template_id = $2 AND version = $3',
          [organizationId, templateId, ref.version],
        );
  return found;
}

function checkContent(template: PromptTemplate, content: unknown): void {
  if (template.type === 'text') {
    if (typeof content !== 'string') throw ValidationError.forField('content', 'must be a string for a text template', 'prompt version');
    return;
  }
  const bad =
    !Array.isArray(content) ||
    content.length === 0 ||
    content.some(
      (message: unknown) =>
        message === null ||
        typeof message !== 'object' ||
        !ROLES.includes((message as { role?: string }).role ?? '') ||
        typeof (message as { content?: unknown }).content !== 'string' ||
        Object.keys(message).some((key) => key !== 'role' && key !== 'content'),
    );
  if (bad)
    throw ValidationError.forField(
      'content',
      `must be a non-empty array of { role: ${ROLES.join(' | ')}, content: string }`,
      'prompt version',
    );
}

async function checkMember(m: EntityManager, organizationId: string, userId: string): Promise<void> {
  const rows: unknown[] = await m.query('SELECT 1 FROM base.organization_memberships WHERE organization_id = $1 AND user_id = $2', [
    organizationId,
    userId,
  ]);
  if (rows.length === 0) throw ValidationError.forField('authorId', 'is not a member of the organization', 'prompt version');
}
