import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsNumber,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  Min,
  MaxLength,
} from 'class-validator';
import {
  NotFoundError,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  translateDatabaseError,
  validateInput,
} from '@strata/base';
import { EntityManager } from 'typeorm';
import { EXPERIMENT_STATUSES, Experiment } from '../entities';
import type { ExperimentStatus } from '../entities';
import { analyticsModule } from '../analytics.module';
import { bucketHash, bucketRanges, chooseVariation } from '../experiments/bucketing';
import type { HashVersion } from '../experiments/bucketing';
import { SampleRatioCheck, sampleRatioMismatch } from '../experiments/statistics';

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

export class CreateExperimentInput {
  @Matches(KEY) key!: string;
  @IsString() @Length(1, 255) name!: string;
  @IsOptional() @IsString() @MaxLength(10_000) hypothesis?: string | null;
  /** Variation keys, control first. */
  @IsArray() @ArrayMinSize(2) @ArrayMaxSize(20) @Matches(KEY, { each: true }) variations!: string[];
  /** One per variation, adding up to 1 (default equal). */
  @IsOptional() @IsArray() @IsNumber({ allowNaN: false, allowInfinity: false }, { each: true }) @Min(0, { each: true }) weights?: number[];
  @IsOptional() @Matches(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/) hashAttribute?: string;
  /** Default: the key (as GrowthBook does). */
  @IsOptional() @IsString() @Length(1, 255) seed?: string;
  @IsOptional() @IsIn([1, 2]) hashVersion?: HashVersion;
  @IsOptional() @IsNumber() @Min(0) @Max(1) coverage?: number;
  @IsOptional() @IsIn(EXPERIMENT_STATUSES) status?: ExperimentStatus;
}

export class ExperimentWeightsInput {
  @IsArray() @IsNumber({ allowNaN: false, allowInfinity: false }, { each: true }) @Min(0, { each: true }) weights!: number[];
}

export class ExperimentSeedInput {
  @IsString() @Length(1, 255) seed!: string;
}

export interface Assignment {
  /** false: outside the coverage, or the experiment is not running; `variation` is then null. */
  inExperiment: boolean;
  variation: number | null;
  variationKey: string | null;
  /** true: the unit's earlier assignment, kept. */
  sticky: boolean;
}

/** GrowthBook accepts weights adding up to 1 ± 0.01 (and falls back to equal ones otherwise): refused here instead. */
function checkWeights(weights: number[], variations: number): void {
  const sum = weights.reduce((s, w) => s + w, 0);
  if (weights.length !== variations || sum < 0.99 || sum > 1.01)
    throw ValidationError.forField('weights', `must be ${variations} weights adding up to 1, got ${JSON.stringify(weights)}`, 'experiment');
}

/** A/B experiments: GrowthBook-compatible bucketing, sticky assignments, the sample-ratio-mismatch check. */
export class ExperimentsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, analyticsModule);
  }

  async create(organizationId: string, input: CreateExperimentInput): Promise<Experiment> {
    const v = await validateInput(CreateExperimentInput, input, 'experiment');
    const weights = v.weights ?? v.variations.map(() => 1 / v.variations.length);
    checkWeights(weights, v.variations.length);
    try {
      return await this.scope.run(organizationId, async (m) => {
        const rows = await m.query(
          `INSERT INTO analytics.experiments (organization_id, key, name, hypothesis, variations, weights, hash_attribute, seed, hash_version, coverage, status)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11) RETURNING *`,
          [
            organizationId,
            v.key,
            v.name,
            v.hypothesis ?? null,
            JSON.stringify(v.variations),
            weights,
            v.hashAttribute ?? 'id',
            v.seed ?? v.key,
            v.hashVersion ?? 2,
            v.coverage ?? 1,
            v.status ?? 'draft',
          ],
        );
        return hydrate(m, Experiment, rows)[0];
      });
    } catch (error) {
      translateDatabaseError(error, 'experiment', { experiments_organization_id_key_key: ['key'] });
    }
  }

  async get(organizationId: string, key: string): Promise<Experiment> {
    if (typeof key !== 'string' || !KEY.test(key)) throw ValidationError.forField('key', 'must be an experiment key', 'experiment');
    return this.scope.run(organizationId, (m) => this.find(m, organizationId, key));
  }

  async setStatus(organizationId: string, key: string, status: ExperimentStatus): Promise<Experiment> {
    if (!(EXPERIMENT_STATUSES as readonly string[]).includes(status))
      throw ValidationError.forField('status', 'unknown status', 'experiment');
    return this.change(organizationId, key, 'status = $3', [status]);
  }

  /** New weights; units already assigned keep their variation (sticky), new units follow the new weights. */
  async setWeights(organizationId: string, key: string, input: ExperimentWeightsInput): Promise<Experiment> {
    const { weights } = await validateInput(ExperimentWeightsInput, input, 'experiment');
    const current = await this.get(organizationId, key);
    checkWeights(weights, current.variations.length);
    return this.change(organizationId, key, 'weights = $3', [weights]);
  }

  /** A new seed re-buckets every unit: the assignments made with the old one no longer hold and are deleted. */
  async reseed(organizationId: string, key: string, input: ExperimentSeedInput): Promise<Experiment> {
    const { seed } = await validateInput(ExperimentSeedInput, input, 'experiment');
    const experiment = await this.change(organizationId, key, 'seed = $3', [seed]);
    await this.scope.run(organizationId, (m) =>
      m.query(`DELETE FROM analytics.experiment_assignments WHERE organization_id = $1 AND experiment_id = $2 AND seed <> $3`, [
        organizationId,
        experiment.id,
        seed,
      ]),
    );
    return experiment;
  }

  /** The unit's variation: its stored one while the seed holds, else bucketed as GrowthBook does and stored. */
  async assign(organizationId: string, key: string, unitId: string): Promise<Assignment> {
    if (typeof unitId !== 'string' || unitId.length === 0 || unitId.length > 255)
      throw ValidationError.forField('unitId', 'must be a string of 1 to 255 characters', 'experiment assignment');
    const experiment = await this.get(organizationId, key);
    const out: Assignment = { inExperiment: false, variation: null, variationKey: null, sticky: false };
    if (experiment.status !== 'running') return out;
    return this.scope.run(organizationId, async (m) => {
      const kept: { variation: number }[] = await m.query(
        `SELECT variation FROM analytics.experiment_assignments WHERE organization_id = $1 AND experiment_id = $2 AND unit_id = $3 AND seed = $4`,
        [organizationId, experiment.id, unitId, experiment.seed],
      );
      if (kept.length > 0) return { ...this.named(experiment, kept[0].variation), sticky: true };
      const position = bucketHash(experiment.seed, unitId, experiment.hashVersion);
      const variation = chooseVariation(position, bucketRanges(experiment.weights, experiment.coverage));
      if (variation < 0) return out;
      // A concurrent first assignment of the same unit computed the same variation; either row will do.
      await m.query(
        `INSERT INTO analytics.experiment_assignments (organization_id, experiment_id, unit_id, variation, seed) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (organization_id, experiment_id, unit_id) DO UPDATE SET variation = EXCLUDED.variation, seed = EXCLUDED.seed, assigned_at = now()`,
        [organizationId, experiment.id, unitId, variation, experiment.seed],
      );
      return { ...this.named(experiment, variation), sticky: false };
    });
  }

  /** Chi-squared of the assigned units per variation against the weights; the p-value is stored on the experiment. */
  async checkSampleRatio(organizationId: string, key: string): Promise<SampleRatioCheck> {
    const experiment = await this.get(organizationId, key);
    return this.scope.run(organizationId, async (m) => {
      const rows: { variation: number; n: number }[] = await m.query(
        `SELECT variation, count(*)::int AS n FROM analytics.experiment_assignments WHERE organization_id = $1 AND experiment_id = $2 GROUP BY 1`,
        [organizationId, experiment.id],
      );
      const observed = experiment.weights.map((_, i) => rows.find((r) => r.variation === i)?.n ?? 0);
      const check = sampleRatioMismatch(observed, experiment.weights);
      await m.query(`UPDATE analytics.experiments SET srm_p_value = $3, srm_checked_at = now() WHERE organization_id = $1 AND id = $2`, [
        organizationId,
        experiment.id,
        check.pValue,
      ]);
      return check;
    });
  }

  private named(experiment: Experiment, variation: number): Assignment {
    return { inExperiment: true, variation, variationKey: experiment.variations[variation], sticky: false };
  }

  private async find(m: EntityManager, organizationId: string, key: string): Promise<Experiment> {
    const rows = await m.query(`SELECT * FROM analytics.experiments WHERE organization_id = $1 AND key = $2`, [organizationId, key]);
    if (rows.length === 0) throw new NotFoundError('experiment', { key });
    return hydrate(m, Experiment, rows)[0];
  }

  private async change(organizationId: string, key: string, set: string, values: unknown[]): Promise<Experiment> {
    if (typeof key !== 'string' || !KEY.test(key)) throw ValidationError.forField('key', 'must be an experiment key', 'experiment');
    try {
      return await this.scope.run(organizationId, async (m) => {
        const rows = await m.query(
          `UPDATE analytics.experiments SET ${set}, updated_at = now() WHERE organization_id = $1 AND key = $2 RETURNING *`,
          [organizationId, key, ...values],
        );
        if (rows[0].length === 0) throw new NotFoundError('experiment', { key });
        return hydrate(m, Experiment, rows[0])[0];
      });
    } catch (error) {
      translateDatabaseError(error, 'experiment');
    }
  }
}
