import { IsBoolean, IsInt, IsString, Matches, Min } from 'class-validator';
import { EntityManager } from 'typeorm';
import {
  NotFoundError,
  Page,
  PageInput,
  StateError,
  TenantConnection,
  TenantContext,
  TenantService,
  ValidationError,
  hydrate,
  keysetPage,
  validateId,
  validateInput,
} from '@strata/base';
import { PromptLabel, PromptLabelMove } from '../entities';
import { promptsModule } from '../prompts.module';
import { LABEL_NAME, selectEntities, translated, validateName } from './support';
import { liveTemplate } from './versions.service';

const LABEL_MESSAGE = 'label must be 1 to 64 lowercase letters, digits, _ . - (starting with a letter or digit)';

export class MoveLabelInput {
  @IsString() @Matches(LABEL_NAME, { message: LABEL_MESSAGE }) label!: string;
  @IsInt() @Min(1) version!: number;
}

export class ProtectLabelInput {
  @IsString() @Matches(LABEL_NAME, { message: LABEL_MESSAGE }) label!: string;
  @IsBoolean() protected!: boolean;
}

export class LabelHistoryOptions extends PageInput {}

/**
 * Movable labels (`production`, `staging`…) of a template. A move is one
 * statement; the database records it (who, when, from, to), so two sessions
 * moving one label at once leave one final value and both moves in the history.
 * A protected label is moved or unprotected only by an owner or admin: pass the
 * acting user as `{ userId }` (inside your own transaction, the one it was opened for).
 */
export class PromptLabelsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, promptsModule);
  }

  /** Points the label at a version of the template (creating the label if needed). `latest` moves by itself. */
  async move(organizationId: string, templateId: string, input: MoveLabelInput, context: TenantContext = {}): Promise<PromptLabel> {
    validateId(templateId, 'templateId', 'prompt label');
    const valid = await validateInput(MoveLabelInput, input, 'prompt label');
    refuseLatest(valid.label);
    return translated('prompt label', () =>
      this.scope.run(organizationId, (m) => moveLabel(m, organizationId, templateId, valid.label, valid.version), context),
    );
  }

  /** Moves the label back to where its last move took it from (a rollback); a label never moved is a StateError. */
  async rollback(organizationId: string, templateId: string, label: string, context: TenantContext = {}): Promise<PromptLabel> {
    validateId(templateId, 'templateId', 'prompt label');
    validateName(label, 'label', LABEL_NAME, 'prompt label');
    refuseLatest(label);
    return translated('prompt label', () =>
      this.scope.run(
        organizationId,
        async (m) => {
          // The label's row lock first, so a concurrent move cannot slip between reading the history and moving.
          const [current] = await m.query(
            'SELECT version FROM prompts.prompt_labels WHERE organization_id = $1 AND template_id = $2 AND name = $3 FOR UPDATE',
            [organizationId, templateId, label],
          );
          if (!current) throw new NotFoundError('prompt label', { templateId, label });
          const [last] = await m.query(
            `SELECT from_version FROM prompts.prompt_label_moves WHERE organization_id = $1 AND template_id = $2 AND label = $3
              ORDER BY moved_at DESC, id DESC LIMIT 1`,
            [organizationId, templateId, label],
          );
          if (!last || last.from_version === null) throw new StateError(`label ${label} has no earlier version to go back to`);
          return moveLabel(m, organizationId, templateId, label, last.from_version as number);
        },
        context,
      ),
    );
  }

  /** Protects or unprotects a label (owner or admin only). */
  async protect(organizationId: string, templateId: string, input: ProtectLabelInput, context: TenantContext = {}): Promise<PromptLabel> {
    validateId(templateId, 'templateId', 'prompt label');
    const valid = await validateInput(ProtectLabelInput, input, 'prompt label');
    refuseLatest(valid.label);
    return translated('prompt label', () =>
      this.scope.run(
        organizationId,
        async (m) => {
          const [[row]] = await m.query(
            `UPDATE prompts.prompt_labels SET protected = $4, updated_at = now()
              WHERE organization_id = $1 AND template_id = $2 AND name = $3 RETURNING *`,
            [organizationId, templateId, valid.label, valid.protected],
          );
          if (!row) throw new NotFoundError('prompt label', { templateId, label: valid.label });
          return hydrate(m, PromptLabel, [row])[0];
        },
        context,
      ),
    );
  }

  /** The template's labels by name. */
  async list(organizationId: string, templateId: string): Promise<PromptLabel[]> {
    validateId(templateId, 'templateId', 'prompt label');
    return this.scope.run(organizationId, (m) =>
      selectEntities(m, PromptLabel, 'SELECT * FROM prompts.prompt_labels WHERE organization_id = $1 AND template_id = $2 ORDER BY name', [
        organizationId,
        templateId,
      ]),
    );
  }

  /** The label's moves, newest first, a page at a time. */
  async history(
    organizationId: string,
    templateId: string,
    label: string,
    options: LabelHistoryOptions = {},
  ): Promise<Page<PromptLabelMove>> {
    validateId(templateId, 'templateId', 'prompt label history');
    validateName(label, 'label', LABEL_NAME, 'prompt label history');
    const page = await validateInput(LabelHistoryOptions, options, 'prompt label history');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage(
        m,
        {
          list: 'prompt_label_moves',
          select: 'h.*',
          from: 'prompts.prompt_label_moves h',
          where: ['h.organization_id = $1', 'h.template_id = $2', 'h.label = $3'],
          parameters: [organizationId, templateId, label],
          orderBy: [
            { expression: 'h.moved_at', type: 'timestamptz', descending: true },
            { expression: 'h.id', type: 'uuid' },
          ],
        },
        page,
        'prompt label history',
      );
      return { items: hydrate(m, PromptLabelMove, items), nextCursor };
    });
  }
}

function refuseLatest(label: string): void {
  if (label === 'latest')
    throw ValidationError.forField('label', 'latest follows the newest version by itself and cannot be moved', 'prompt label');
}

/** One upsert: the row lock orders concurrent moves, and the trigger records each with the version it found. */
async function moveLabel(
  m: EntityManager,
  organizationId: string,
  templateId: string,
  label: string,
  version: number,
): Promise<PromptLabel> {
  await liveTemplate(m, organizationId, templateId);
  const [row] = await selectEntities(
    m,
    PromptLabel,
    `INSERT INTO prompts.prompt_labels (organization_id, template_id, name, version) VALUES ($1, $2, $3, $4)
     ON CONFLICT (organization_id, template_id, name) DO UPDATE SET version = EXCLUDED.version, updated_at = now()
     RETURNING *`,
    [organizationId, templateId, label, version],
  );
  return row;
}
