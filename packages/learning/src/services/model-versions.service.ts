import { IsIn, IsInt, IsObject, IsOptional, IsString, IsUUID, Max, MaxLength, Min } from 'class-validator';
import {
  NotFoundError,
  OptionalNotNull,
  Page,
  PageInput,
  StateError,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  keysetPage,
  validateId,
  validateInput,
} from '@strata/base';
import { EntityManager } from 'typeorm';
import { ModelVersion, VERSION_SOURCES, VERSION_STATUSES } from '../entities';
import type { VersionSource, VersionStatus } from '../entities';
import { learningModule } from '../learning.module';
import { rethrowDatabaseError } from './database-errors';

export class CreateVersionInput {
  @OptionalNotNull() @IsObject() hyperparameters?: Record<string, unknown>;
  @OptionalNotNull() @IsObject() trainingConfig?: Record<string, unknown>;
  @OptionalNotNull() @IsObject() metrics?: Record<string, unknown>;
  @OptionalNotNull() @IsIn(VERSION_SOURCES) source?: VersionSource;
  @IsOptional() @IsUUID() sourceId?: string | null;
  /** The version this one was trained or fine-tuned from (any model of the organization). */
  @IsOptional() @IsUUID() parentVersionId?: string | null;
  @IsOptional() @IsString() @MaxLength(10_000) description?: string | null;
  @IsOptional() @IsUUID() createdBy?: string | null;
}

export class ListVersionsOptions extends PageInput {
  @OptionalNotNull() @IsIn(VERSION_STATUSES) status?: VersionStatus;
}

export class LineageOptions {
  /** How many generations to walk (default 100). */
  @OptionalNotNull() @IsInt() @Min(1) @Max(10_000) depth?: number;
}

/**
 * Where a version may go from each status: training ends active (or archived
 * when it failed); an active version can be deprecated and brought back;
 * archived is final.
 */
export const VERSION_TRANSITIONS: Readonly<Record<VersionStatus, readonly VersionStatus[]>> = {
  training: ['active', 'archived'],
  active: ['deprecated', 'archived'],
  deprecated: ['active', 'archived'],
  archived: [],
};

/** A version in a lineage walk, `depth` generations away (1 = parent or child). */
export interface LineageEntry {
  version: ModelVersion;
  depth: number;
}

/** Versions of registry models: numbering, status machine, lineage. */
export class ModelVersionsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, learningModule);
  }

  /**
   * Version N+1 of the model. The number comes from the model's counter,
   * incremented under its row lock in the same transaction as the insert, so
   * concurrent creates get 1..N without gaps or duplicates.
   */
  async create(organizationId: string, modelId: string, input: CreateVersionInput = {}): Promise<ModelVersion> {
    validateId(modelId, 'modelId', 'model version');
    const valid = await validateInput(CreateVersionInput, input, 'model version');
    try {
      return await this.scope.run(organizationId, async (m) => {
        const counted: { latest_version: number }[] = await m.query(
          // In a CTE: TypeORM hands back an UPDATE's rows with its count, a SELECT's as they are.
          `WITH counted AS (UPDATE learning.ml_models SET latest_version = latest_version + 1, updated_at = now()
                             WHERE organization_id = $1 AND id = $2 RETURNING latest_version)
           SELECT latest_version FROM counted`,
          [organizationId, modelId],
        );
        if (counted.length === 0) throw new NotFoundError('model', { id: modelId });
        const rows: Record<string, unknown>[] = await m.query(
          `INSERT INTO learning.model_versions (organization_id, model_id, version, hyperparameters, training_config, metrics,
                                                source, source_id, parent_version_id, description, created_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
          [
            organizationId,
            modelId,
            counted[0].latest_version,
            valid.hyperparameters ?? {},
            valid.trainingConfig ?? {},
            valid.metrics ?? {},
            valid.source ?? 'upload',
            valid.sourceId ?? null,
            valid.parentVersionId ?? null,
            valid.description ?? null,
            valid.createdBy ?? null,
          ],
        );
        return hydrate(m, ModelVersion, rows)[0];
      });
    } catch (error) {
      rethrowDatabaseError(error, 'model version');
    }
  }

  async get(organizationId: string, versionId: string): Promise<ModelVersion> {
    validateId(versionId, 'versionId', 'model version');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(ModelVersion).findOneBy({ organizationId, id: versionId }));
    if (!found) throw new NotFoundError('model version', { id: versionId });
    return found;
  }

  async getByNumber(organizationId: string, modelId: string, version: number): Promise<ModelVersion> {
    validateId(modelId, 'modelId', 'model version');
    if (!Number.isInteger(version) || version < 1 || version > 2_147_483_647) {
      throw ValidationError.forField('version', 'must be a positive integer', 'model version');
    }
    const found = await this.scope.run(organizationId, (m) =>
      m.getRepository(ModelVersion).findOneBy({ organizationId, modelId, version }),
    );
    if (!found) throw new NotFoundError('model version', { modelId, version });
    return found;
  }

  /** A model's versions, newest first. */
  async list(organizationId: string, modelId: string, options: ListVersionsOptions = {}): Promise<Page<ModelVersion>> {
    validateId(modelId, 'modelId', 'model version list');
    const { status, ...page } = await validateInput(ListVersionsOptions, options, 'model version list');
    return this.scope.run(organizationId, async (m) => {
      const { items, nextCursor } = await keysetPage(
        m,
        {
          list: 'model-versions',
          select: 'v.*',
          from: 'learning.model_versions v',
          where: ['v.organization_id = $1', 'v.model_id = $2', '($3::text IS NULL OR v.status = $3)'],
          parameters: [organizationId, modelId, status ?? null],
          orderBy: [{ expression: 'v.version', type: 'integer', descending: true }],
        },
        page,
        'model version list',
      );
      return { items: hydrate(m, ModelVersion, items), nextCursor };
    });
  }

  /**
   * Moves a version to `status` along {@link VERSION_TRANSITIONS}; anything else
   * is a StateError. A version an alias points at cannot be archived (move the
   * alias first). One guarded UPDATE, so two concurrent moves cannot both win.
   */
  async setStatus(organizationId: string, versionId: string, status: VersionStatus): Promise<ModelVersion> {
    validateId(versionId, 'versionId', 'model version');
    if (!VERSION_STATUSES.includes(status)) {
      throw ValidationError.forField('status', `must be one of ${VERSION_STATUSES.join(', ')}`, 'model version');
    }
    const from = (Object.keys(VERSION_TRANSITIONS) as VersionStatus[]).filter((s) => VERSION_TRANSITIONS[s].includes(status));
    return this.scope.run(organizationId, async (m) => {
      if (status === 'archived') await this.refuseIfAliased(m, organizationId, versionId);
      const rows: Record<string, unknown>[] = await m.query(
        `WITH moved AS (UPDATE learning.model_versions SET status = $3, status_changed_at = now(), updated_at = now()
                         WHERE organization_id = $1 AND id = $2 AND status = ANY ($4) RETURNING *)
         SELECT * FROM moved`,
        [organizationId, versionId, status, from],
      );
      if (rows.length > 0) return hydrate(m, ModelVersion, rows)[0];
      const current = await m.getRepository(ModelVersion).findOneBy({ organizationId, id: versionId });
      if (!current) throw new NotFoundError('model version', { id: versionId });
      throw new StateError(`model version ${versionId} is ${current.status}: it cannot become ${status}`);
    });
  }

  activate(organizationId: string, versionId: string): Promise<ModelVersion> {
    return this.setStatus(organizationId, versionId, 'active');
  }

  deprecate(organizationId: string, versionId: string): Promise<ModelVersion> {
    return this.setStatus(organizationId, versionId, 'deprecated');
  }

  archive(organizationId: string, versionId: string): Promise<ModelVersion> {
    return this.setStatus(organizationId, versionId, 'archived');
  }

  /** The version's parent, grandparent, … (nearest first), by a recursive query. */
  async ancestors(organizationId: string, versionId: string, options: LineageOptions = {}): Promise<LineageEntry[]> {
    return this.lineage(organizationId, versionId, options, 'up');
  }

  /** Every version trained or fine-tuned from this one, directly or not (nearest first). */
  async descendants(organizationId: string, versionId: string, options: LineageOptions = {}): Promise<LineageEntry[]> {
    return this.lineage(organizationId, versionId, options, 'down');
  }

  private async lineage(
    organizationId: string,
    versionId: string,
    options: LineageOptions,
    direction: 'up' | 'down',
  ): Promise<LineageEntry[]> {
    validateId(versionId, 'versionId', 'model version lineage');
    const { depth = 100 } = await validateInput(LineageOptions, options, 'model version lineage');
    // Up: join the parent of each row reached; down: the rows whose parent was reached.
    const step = direction === 'up' ? 'v.id = l.parent_version_id' : 'v.parent_version_id = l.id';
    return this.scope.run(organizationId, async (m) => {
      const start = await m.getRepository(ModelVersion).existsBy({ organizationId, id: versionId });
      if (!start) throw new NotFoundError('model version', { id: versionId });
      const rows: (Record<string, unknown> & { lineage_depth: number })[] = await m.query(
        `WITH RECURSIVE lineage AS (
           SELECT v.*, 0 AS lineage_depth FROM learning.model_versions v WHERE v.organization_id = $1 AND v.id = $2
           UNION ALL
           SELECT v.*, l.lineage_depth + 1 FROM lineage l
             JOIN learning.model_versions v ON v.organization_id = l.organization_id AND ${step}
            WHERE l.lineage_depth < $3)
         SELECT * FROM lineage WHERE lineage_depth > 0 ORDER BY lineage_depth, version, id`,
        [organizationId, versionId, depth],
      );
      const versions = hydrate(m, ModelVersion, rows);
      return versions.map((version, i) => ({ version, depth: rows[i].lineage_depth }));
    });
  }

  private async refuseIfAliased(m: EntityManager, organizationId: string, versionId: string): Promise<void> {
    // Locked first: an alias move locks the version FOR SHARE, so one of the two waits for the other and sees it.
    await m.query(`SELECT 1 FROM learning.model_versions WHERE organization_id = $1 AND id = $2 FOR UPDATE`, [organizationId, versionId]);
    const aliases: { alias: string }[] = await m.query(
      `SELECT alias FROM learning.model_aliases WHERE organization_id = $1 AND version_id = $2 ORDER BY alias`,
      [organizationId, versionId],
    );
    if (aliases.length > 0) {
      throw new StateError(
        `model version ${versionId} is still the target of ${aliases.map((a) => a.alias).join(', ')}: move those aliases first`,
      );
    }
  }
}
