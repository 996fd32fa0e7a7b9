import { IsOptional, IsUUID } from 'class-validator';
import {
  NotFoundError,
  StateError,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  validateId,
  validateInput,
} from '@strata/base';
import { EntityManager } from 'typeorm';
import { ALIAS_PATTERN, ModelAlias, ModelAliasMove, ModelVersion } from '../entities';
import { learningModule } from '../learning.module';
import { rethrowDatabaseError } from './database-errors';

export class MoveAliasOptions {
  /** Who moved it (recorded in the history). */
  @IsOptional() @IsUUID() movedBy?: string | null;
}

const ALIAS_MESSAGE = 'must be 1 to 64 lower-case letters, digits, _ or -, starting with a letter';

/**
 * Movable names for model versions (`champion`, `staging`). A move is one
 * transaction that locks the model row (so moves of one model's aliases take
 * turns), records the move in `model_alias_history` with the version it
 * replaced, and points the alias at the new version.
 */
export class ModelAliasesService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, learningModule);
  }

  /** Points `alias` at `versionId` (a version of this model that is not archived), creating the alias if need be. */
  async move(
    organizationId: string,
    modelId: string,
    alias: string,
    versionId: string,
    options: MoveAliasOptions = {},
  ): Promise<ModelAlias> {
    validateAlias(alias);
    validateId(modelId, 'modelId', 'model alias');
    validateId(versionId, 'versionId', 'model alias');
    const { movedBy = null } = await validateInput(MoveAliasOptions, options, 'model alias');
    try {
      return await this.scope.run(organizationId, async (m) => {
        await lockModel(m, organizationId, modelId);
        const [target]: { status: string }[] = await m.query(
          `SELECT status FROM learning.model_versions WHERE organization_id = $1 AND model_id = $2 AND id = $3 FOR SHARE`,
          [organizationId, modelId, versionId],
        );
        if (!target) throw ValidationError.forField('versionId', 'is not a version of this model', 'model alias');
        if (target.status === 'archived') throw new StateError(`model version ${versionId} is archived: an alias cannot point at it`);
        const previous = await currentTarget(m, organizationId, modelId, alias);
        if (previous === versionId) {
          return await m.getRepository(ModelAlias).findOneByOrFail({ organizationId, modelId, alias });
        }
        const rows: Record<string, unknown>[] = await m.query(
          `INSERT INTO learning.model_aliases (organization_id, model_id, alias, version_id, moved_by) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (organization_id, model_id, alias)
           DO UPDATE SET version_id = EXCLUDED.version_id, moved_by = EXCLUDED.moved_by, updated_at = now()
           RETURNING *`,
          [organizationId, modelId, alias, versionId, movedBy],
        );
        await recordMove(m, organizationId, modelId, alias, versionId, previous, movedBy);
        return hydrate(m, ModelAlias, rows)[0];
      });
    } catch (error) {
      rethrowDatabaseError(error, 'model alias');
    }
  }

  /** Removes the alias (recorded in the history with no version). */
  async remove(organizationId: string, modelId: string, alias: string, options: MoveAliasOptions = {}): Promise<void> {
    validateAlias(alias);
    validateId(modelId, 'modelId', 'model alias');
    const { movedBy = null } = await validateInput(MoveAliasOptions, options, 'model alias');
    await this.scope.run(organizationId, async (m) => {
      await lockModel(m, organizationId, modelId);
      const previous = await currentTarget(m, organizationId, modelId, alias);
      if (previous === null) throw new NotFoundError('model alias', { modelId, alias });
      await m.query(`DELETE FROM learning.model_aliases WHERE organization_id = $1 AND model_id = $2 AND alias = $3`, [
        organizationId,
        modelId,
        alias,
      ]);
      await recordMove(m, organizationId, modelId, alias, null, previous, movedBy);
    });
  }

  /** The version `alias` points at now. */
  async resolve(organizationId: string, modelId: string, alias: string): Promise<ModelVersion> {
    validateAlias(alias);
    validateId(modelId, 'modelId', 'model alias');
    const found = await this.scope.run(organizationId, async (m) => {
      const rows: Record<string, unknown>[] = await m.query(
        `SELECT v.* FROM learning.model_aliases a
           JOIN learning.model_versions v ON v.organization_id = a.organization_id AND v.model_id = a.model_id AND v.id = a.version_id
          WHERE a.organization_id = $1 AND a.model_id = $2 AND a.alias = $3`,
        [organizationId, modelId, alias],
      );
      return hydrate(m, ModelVersion, rows)[0];
    });
    if (!found) throw new NotFoundError('model alias', { modelId, alias });
    return found;
  }

  /** The model's aliases by name. */
  async list(organizationId: string, modelId: string): Promise<ModelAlias[]> {
    validateId(modelId, 'modelId', 'model alias');
    return this.scope.run(organizationId, (m) =>
      m.getRepository(ModelAlias).find({ where: { organizationId, modelId }, order: { alias: 'ASC' } }),
    );
  }

  /** Every move of `alias`, oldest first. */
  async history(organizationId: string, modelId: string, alias: string): Promise<ModelAliasMove[]> {
    validateAlias(alias);
    validateId(modelId, 'modelId', 'model alias');
    return this.scope.run(organizationId, (m) =>
      m.getRepository(ModelAliasMove).find({ where: { organizationId, modelId, alias }, order: { createdAt: 'ASC', id: 'ASC' } }),
    );
  }
}

function validateAlias(alias: unknown): void {
  if (typeof alias !== 'string' || !ALIAS_PATTERN.test(alias)) throw ValidationError.forField('alias', ALIAS_MESSAGE, 'model alias');
}

/** Moves of one model's aliases take turns on its row (FOR NO KEY UPDATE: version numbering takes the same lock). */
async function lockModel(m: EntityManager, organizationId: string, modelId: string): Promise<void> {
  const rows: unknown[] = await m.query(`SELECT 1 FROM learning.ml_models WHERE organization_id = $1 AND id = $2 FOR NO KEY UPDATE`, [
    organizationId,
    modelId,
  ]);
  if (rows.length === 0) throw new NotFoundError('model', { id: modelId });
}

async function currentTarget(m: EntityManager, organizationId: string, modelId: string, alias: string): Promise<string | null> {
  const [row]: { version_id: string }[] = await m.query(
    `SELECT version_id FROM learning.model_aliases WHERE organization_id = $1 AND model_id = $2 AND alias = $3`,
    [organizationId, modelId, alias],
  );
  return row?.version_id ?? null;
}

async function recordMove(
  m: EntityManager,
  organizationId: string,
  modelId: string,
  alias: string,
  versionId: string | null,
  previousVersionId: string | null,
  movedBy: string | null,
): Promise<void> {
  // clock_timestamp: moves that took turns within one another's transactions keep their order.
  await m.query(
    `INSERT INTO learning.model_alias_history (organization_id, model_id, alias, version_id, previous_version_id, moved_by, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp(), clock_timestamp())`,
    [organizationId, modelId, alias, versionId, previousVersionId, movedBy],
  );
}
