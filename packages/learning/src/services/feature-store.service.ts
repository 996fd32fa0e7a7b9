import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { Type } from 'class-transformer';
import { FieldError, NotFoundError, TenantConnection, TenantService, ValidationError, hydrate, validateInput } from '@strata/base';
import { EntityManager } from 'typeorm';
import { FEATURE_TYPES, FeatureView } from '../entities';
import type { FeatureDefinition, FeatureType } from '../entities';
import { learningModule } from '../learning.module';
import { rethrowDatabaseError } from './database-errors';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const IDENTIFIER_MESSAGE = 'must be a lower-case identifier (letters, digits, _; at most 63)';
/** Rows per ingest call and entity rows per lookup. */
export const MAX_FEATURE_BATCH = 100_000;

export class FeatureDefinitionInput {
  @Matches(IDENTIFIER, { message: `name ${IDENTIFIER_MESSAGE}` }) name!: string;
  @IsIn(FEATURE_TYPES) type!: FeatureType;
}

export class CreateFeatureViewInput {
  @IsString() @Length(1, 255) name!: string;
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(8)
  @Matches(IDENTIFIER, { each: true, message: `entityKeys ${IDENTIFIER_MESSAGE}` })
  entityKeys!: string[];
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @ValidateNested({ each: true })
  @Type(() => FeatureDefinitionInput)
  features!: FeatureDefinitionInput[];
  /** How long a value stays valid after its event time; left out or null: forever. */
  @IsOptional() @IsInt() @Min(1) @Max(2_147_483_647) ttlSeconds?: number | null;
  @IsOptional() @IsString() @MaxLength(10_000) description?: string | null;
}

/** Entity key values by key name, e.g. `{ repository: 'web', path: 'src/a.ts' }`. */
export type EntityKey = Record<string, string | number>;
export type FeatureValues = Record<string, unknown>;

export interface FeatureRowInput {
  entity: EntityKey;
  eventTimestamp: Date;
  values: FeatureValues;
}

export interface EntityRow {
  entity: EntityKey;
  /** The moment the features are wanted as of. */
  timestamp: Date;
}

export interface HistoricalOptions {
  /**
   * Also leave out rows recorded (`created_timestamp`) after the entity row's
   * timestamp: only what was known then, so late-arriving data and later
   * corrections cannot leak into training sets. Default false (by event time, as Feast).
   */
  knownAt?: boolean;
}

/** One view's features for one entity row: null when no row qualifies (none yet, or expired). */
export interface FeatureLookup {
  values: FeatureValues;
  eventTimestamp: Date;
  createdTimestamp: Date;
}

export interface HistoricalRow extends EntityRow {
  /** By view name. */
  features: Record<string, FeatureLookup | null>;
}

/**
 * The feature store (Feast's model, in one tenant-safe PostgreSQL): feature
 * views, offline rows with point-in-time lookups in SQL, and an online table
 * whose reads honour the view's time to live.
 */
export class FeatureStoreService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, learningModule);
  }

  async createView(organizationId: string, input: CreateFeatureViewInput): Promise<FeatureView> {
    const valid = await validateInput(CreateFeatureViewInput, input, 'feature view');
    const duplicates = (names: string[]) => names.filter((n, i) => names.indexOf(n) !== i);
    const errors: FieldError[] = [];
    if (duplicates(valid.entityKeys).length > 0) errors.push({ field: 'entityKeys', messages: ['must not repeat a key'] });
    if (duplicates(valid.features.map((f) => f.name)).length > 0)
      errors.push({ field: 'features', messages: ['must not repeat a feature name'] });
    if (errors.length > 0) throw new ValidationError(errors, 'feature view');
    const features: FeatureDefinition[] = valid.features.map((f) => ({ name: f.name, type: f.type }));
    try {
      return await this.scope.run(organizationId, async (m) => {
        const rows: Record<string, unknown>[] = await m.query(
          `INSERT INTO learning.feature_views (organization_id, name, entity_keys, features, ttl_seconds, description)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
          [organizationId, valid.name, valid.entityKeys, JSON.stringify(features), valid.ttlSeconds ?? null, valid.description ?? null],
        );
        return hydrate(m, FeatureView, rows)[0];
      });
    } catch (error) {
      rethrowDatabaseError(error, 'feature view');
    }
  }

  async getView(organizationId: string, name: string): Promise<FeatureView> {
    return this.scope.run(organizationId, (m) => findView(m, organizationId, name));
  }

  /**
   * Appends offline rows (one multi-row INSERT). Every row is checked against
   * the view first: its entity has exactly the view's keys, its values only
   * the view's features with their types. The view row is locked FOR KEY SHARE
   * before the rows get their created time, so `materialize` (which locks it
   * FOR UPDATE) sees every row created before its watermark.
   */
  async ingest(organizationId: string, viewName: string, rows: FeatureRowInput[]): Promise<number> {
    if (!Array.isArray(rows) || rows.length === 0 || rows.length > MAX_FEATURE_BATCH) {
      throw ValidationError.forField('rows', `must be an array of 1 to ${MAX_FEATURE_BATCH} rows`, 'feature rows');
    }
    return this.scope.run(organizationId, async (m) => {
      const view = await findView(m, organizationId, viewName);
      const errors: FieldError[] = [];
      const prepared = rows.map((row, i) => {
        const field = `rows.${i}`;
        if (row === null || typeof row !== 'object') {
          errors.push({ field, messages: ['must be an object with entity, eventTimestamp and values'] });
          return null;
        }
        const key = entityKeyOf(view, row.entity, `${field}.entity`, errors);
        if (!(row.eventTimestamp instanceof Date) || Number.isNaN(row.eventTimestamp.getTime())) {
          errors.push({ field: `${field}.eventTimestamp`, messages: ['must be a valid Date'] });
        }
        checkValues(view, row.values, `${field}.values`, errors);
        return { entity_key: key, event_timestamp: row.eventTimestamp, values: row.values };
      });
      if (errors.length > 0) throw new ValidationError(errors.slice(0, 100), 'feature rows');
      await m.query(`SELECT 1 FROM learning.feature_views WHERE organization_id = $1 AND id = $2 FOR KEY SHARE`, [organizationId, view.id]);
      await m.query(
        `INSERT INTO learning.feature_rows (organization_id, view_id, entity_key, event_timestamp, created_timestamp, values)
         SELECT $1, $2, r.entity_key, r.event_timestamp, clock_timestamp(), r.values
           FROM jsonb_to_recordset($3::jsonb) AS r(entity_key text, event_timestamp timestamptz, values jsonb)`,
        [organizationId, view.id, JSON.stringify(prepared)],
      );
      return prepared.length;
    });
  }

  /**
   * Point-in-time lookup for training sets: for each entity row and view, the
   * newest row of that entity whose event time is at or before the row's
   * timestamp and no older than the view's TTL, ties on event time broken by
   * the newest created time. Never a value from after the timestamp. One
   * LATERAL index probe per entity row, in SQL; the result is in input order.
   */
  async getHistoricalFeatures(
    organizationId: string,
    viewNames: string[],
    entityRows: EntityRow[],
    options: HistoricalOptions = {},
  ): Promise<HistoricalRow[]> {
    if (!Array.isArray(viewNames) || viewNames.length === 0 || viewNames.length > 32) {
      throw ValidationError.forField('views', 'must name 1 to 32 feature views', 'feature lookup');
    }
    if (!Array.isArray(entityRows) || entityRows.length > MAX_FEATURE_BATCH) {
      throw ValidationError.forField('entityRows', `must be an array of at most ${MAX_FEATURE_BATCH} rows`, 'feature lookup');
    }
    const knownAt = options.knownAt ?? false;
    if (typeof knownAt !== 'boolean') throw ValidationError.forField('knownAt', 'must be a boolean', 'feature lookup');
    const timestampErrors: FieldError[] = [];
    entityRows.forEach((row, i) => {
      if (!(row?.timestamp instanceof Date) || Number.isNaN(row.timestamp.getTime())) {
        timestampErrors.push({ field: `entityRows.${i}.timestamp`, messages: ['must be a valid Date'] });
      }
    });
    if (timestampErrors.length > 0) throw new ValidationError(timestampErrors.slice(0, 100), 'feature lookup');
    return this.scope.run(organizationId, async (m) => {
      const result: HistoricalRow[] = entityRows.map((row) => ({ entity: row.entity, timestamp: row.timestamp, features: {} }));
      for (const name of viewNames) {
        const view = await findView(m, organizationId, name);
        const errors: FieldError[] = [];
        const keys = entityRows.map((row, i) => entityKeyOf(view, row.entity, `entityRows.${i}.entity`, errors));
        if (errors.length > 0) throw new ValidationError(errors.slice(0, 100), 'feature lookup');
        const found: { ord: string; values: FeatureValues | null; event_timestamp: Date | null; created_timestamp: Date | null }[] =
          await m.query(
            `SELECT e.ord, f.values, f.event_timestamp, f.created_timestamp
               FROM unnest($3::text[], $4::timestamptz[]) WITH ORDINALITY AS e(entity_key, ts, ord)
               LEFT JOIN LATERAL (
                 SELECT r.values, r.event_timestamp, r.created_timestamp FROM learning.feature_rows r
                  WHERE r.organization_id = $1 AND r.view_id = $2 AND r.entity_key = e.entity_key
                    AND r.event_timestamp <= e.ts
                    AND ($5::integer IS NULL OR r.event_timestamp >= e.ts - make_interval(secs => $5))
                    AND (NOT $6 OR r.created_timestamp <= e.ts)
                  ORDER BY r.event_timestamp DESC, r.created_timestamp DESC
                  LIMIT 1) f ON true
              ORDER BY e.ord`,
            [organizationId, view.id, keys, entityRows.map((r) => r.timestamp), view.ttlSeconds, knownAt],
          );
        for (const row of found) {
          const target = result[Number(row.ord) - 1];
          target.features[view.name] =
            row.event_timestamp === null
              ? null
              : { values: row.values!, eventTimestamp: row.event_timestamp, createdTimestamp: row.created_timestamp! };
        }
      }
      return result;
    });
  }

  /**
   * Copies to the online table, per entity, the newest row created since the
   * last run (newer event time, then newer created time, wins over what is
   * there), and moves the view's watermark. Returns how many entities changed.
   */
  async materialize(organizationId: string, viewName: string): Promise<number> {
    return this.scope.run(organizationId, async (m) => {
      const view = await findView(m, organizationId, viewName);
      // Waits for ingests in flight (they hold KEY SHARE) and holds off new ones until commit.
      const [locked]: { materialized_through: Date | null; watermark: Date }[] = await m.query(
        `SELECT materialized_through, clock_timestamp() AS watermark FROM learning.feature_views
          WHERE organization_id = $1 AND id = $2 FOR UPDATE`,
        [organizationId, view.id],
      );
      const [{ changed }]: { changed: number }[] = await m.query(
        `WITH latest AS (
           SELECT DISTINCT ON (r.entity_key) r.entity_key, r.event_timestamp, r.created_timestamp, r.values
             FROM learning.feature_rows r
            WHERE r.organization_id = $1 AND r.view_id = $2
              AND ($3::timestamptz IS NULL OR r.created_timestamp > $3) AND r.created_timestamp <= $4
            ORDER BY r.entity_key, r.event_timestamp DESC, r.created_timestamp DESC),
         upserted AS (
           INSERT INTO learning.online_features AS o (organization_id, view_id, entity_key, event_timestamp, created_timestamp, values)
           SELECT $1, $2, entity_key, event_timestamp, created_timestamp, values FROM latest
           ON CONFLICT (organization_id, view_id, entity_key) DO UPDATE
             SET event_timestamp = EXCLUDED.event_timestamp, created_timestamp = EXCLUDED.created_timestamp,
                 values = EXCLUDED.values, materialized_at = now()
             WHERE (EXCLUDED.event_timestamp, EXCLUDED.created_timestamp) > (o.event_timestamp, o.created_timestamp)
           RETURNING 1)
         SELECT count(*)::int AS changed FROM upserted`,
        [organizationId, view.id, locked.materialized_through, locked.watermark],
      );
      await m.query(
        `UPDATE learning.feature_views SET materialized_through = $3, updated_at = now() WHERE organization_id = $1 AND id = $2`,
        [organizationId, view.id, locked.watermark],
      );
      return changed;
    });
  }

  /**
   * The online values of each entity (input order): null when the entity has
   * none, or when its value is older than the view's TTL at the moment of the
   * read: an expired value is missing, not stale-but-present.
   */
  async getOnlineFeatures(organizationId: string, viewName: string, entities: EntityKey[]): Promise<(FeatureLookup | null)[]> {
    if (!Array.isArray(entities) || entities.length > MAX_FEATURE_BATCH) {
      throw ValidationError.forField('entities', `must be an array of at most ${MAX_FEATURE_BATCH} entities`, 'online features');
    }
    return this.scope.run(organizationId, async (m) => {
      const view = await findView(m, organizationId, viewName);
      const errors: FieldError[] = [];
      const keys = entities.map((entity, i) => entityKeyOf(view, entity, `entities.${i}`, errors));
      if (errors.length > 0) throw new ValidationError(errors.slice(0, 100), 'online features');
      const rows: { ord: string; values: FeatureValues | null; event_timestamp: Date | null; created_timestamp: Date | null }[] =
        await m.query(
          `SELECT e.ord, o.values, o.event_timestamp, o.created_timestamp
             FROM unnest($3::text[]) WITH ORDINALITY AS e(entity_key, ord)
             LEFT JOIN learning.online_features o
               ON o.organization_id = $1 AND o.view_id = $2 AND o.entity_key = e.entity_key
              AND ($4::integer IS NULL OR o.event_timestamp >= clock_timestamp() - make_interval(secs => $4))
            ORDER BY e.ord`,
          [organizationId, view.id, keys, view.ttlSeconds],
        );
      return rows.map((row) =>
        row.event_timestamp === null
          ? null
          : { values: row.values!, eventTimestamp: row.event_timestamp, createdTimestamp: row.created_timestamp! },
      );
    });
  }
}

async function findView(m: EntityManager, organizationId: string, name: unknown): Promise<FeatureView> {
  if (typeof name !== 'string' || name.length < 1 || name.length > 255) {
    throw ValidationError.forField('view', 'must be a feature view name of 1 to 255 characters', 'feature view');
  }
  const view = await m.getRepository(FeatureView).findOneBy({ organizationId, name });
  if (!view) throw new NotFoundError('feature view', { name });
  return view;
}

/** The canonical key: the JSON array of the entity's key values (as text) in the view's key order. */
function entityKeyOf(view: FeatureView, entity: unknown, field: string, errors: FieldError[]): string {
  if (entity === null || typeof entity !== 'object' || Array.isArray(entity)) {
    errors.push({ field, messages: [`must be an object with the keys ${view.entityKeys.join(', ')}`] });
    return '';
  }
  const given = Object.keys(entity);
  const missing = view.entityKeys.filter((k) => !given.includes(k));
  const extra = given.filter((k) => !view.entityKeys.includes(k));
  const values = view.entityKeys.map((k) => (entity as Record<string, unknown>)[k]);
  if (missing.length > 0 || extra.length > 0 || values.some((v) => (typeof v !== 'string' && typeof v !== 'number') || v === '')) {
    errors.push({ field, messages: [`must have exactly the keys ${view.entityKeys.join(', ')}, each a non-empty string or a number`] });
    return '';
  }
  return JSON.stringify(values.map(String));
}

const TYPE_CHECKS: Record<FeatureType, (value: unknown) => boolean> = {
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  string: (v) => typeof v === 'string',
  boolean: (v) => typeof v === 'boolean',
  json: () => true,
};

function checkValues(view: FeatureView, values: unknown, field: string, errors: FieldError[]): void {
  if (values === null || typeof values !== 'object' || Array.isArray(values)) {
    errors.push({ field, messages: ['must be an object of feature values'] });
    return;
  }
  const types = new Map(view.features.map((f) => [f.name, f.type]));
  for (const [name, value] of Object.entries(values)) {
    const type = types.get(name);
    if (!type) errors.push({ field: `${field}.${name}`, messages: [`is not a feature of ${view.name}`] });
    else if (value !== null && !TYPE_CHECKS[type](value))
      errors.push({ field: `${field}.${name}`, messages: [`must be a ${type} (or null)`] });
  }
}
