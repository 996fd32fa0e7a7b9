import { createHash, randomUUID } from 'node:crypto';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  Min,
  ValidateNested,
} from 'class-validator';
import { EntityManager } from 'typeorm';
import { NotFoundError, TenantConnection, TenantService, ValidationError, validateId, validateInput } from '@strata/base';
import { PromptRollout } from '../entities';
import { promptsModule } from '../prompts.module';
import { LABEL_NAME, selectEntities, translated, validateName } from './support';
import { liveTemplate } from './versions.service';

export class RolloutArmInput {
  @IsInt() @Min(1) version!: number;
  @IsInt() @Min(0) @Max(1_000_000) weight!: number;
}

export class SetRolloutInput {
  @IsString() @Matches(LABEL_NAME) label!: string;
  @IsArray() @ArrayMinSize(1) @ArrayMaxSize(100) @ValidateNested({ each: true }) @Type(() => RolloutArmInput) arms!: RolloutArmInput[];
  /** Keeps the rollout's seed when left out (a new rollout gets a random one); a new seed reshuffles every unit. */
  @IsOptional() @IsString() @Length(1, 64) seed?: string;
}

export interface RolloutArm {
  version: number;
  weight: number;
}

/**
 * The version a unit gets: its bucket is the first 52 bits of
 * sha256(seed ":" unitId) modulo the total weight, and the arms take
 * consecutive ranges of buckets in their order. The same unit always gets the
 * same version while the seed and the weights stay.
 */
export function assignVersion(seed: string, unitId: string, arms: RolloutArm[]): number {
  const total = arms.reduce((sum, arm) => sum + arm.weight, 0);
  const digest = createHash('sha256').update(`${seed}:${unitId}`, 'utf8').digest('hex');
  let bucket = Number(BigInt(`0x${digest.slice(0, 13)}`) % BigInt(total));
  for (const arm of arms) {
    if (bucket < arm.weight) return arm.version;
    bucket -= arm.weight;
  }
  throw new Error('unreachable: the buckets cover the total weight');
}

export function armsOf(rollout: PromptRollout): RolloutArm[] {
  return rollout.versions.map((version, i) => ({ version, weight: rollout.weights[i] }));
}

/** Sticky weighted rollouts of a template's labels (`render(…, { unitId })` uses them). */
export class PromptRolloutsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, promptsModule);
  }

  /** Creates or changes the label's rollout; every version must exist, and the weights must add up to more than 0. */
  async set(organizationId: string, templateId: string, input: SetRolloutInput): Promise<PromptRollout> {
    validateId(templateId, 'templateId', 'prompt rollout');
    const valid = await validateInput(SetRolloutInput, input, 'prompt rollout');
    const versions = valid.arms.map((arm) => arm.version);
    if (new Set(versions).size !== versions.length) throw ValidationError.forField('arms', 'name each version once', 'prompt rollout');
    if (valid.arms.every((arm) => arm.weight === 0))
      throw ValidationError.forField('arms', 'the weights must add up to more than 0', 'prompt rollout');
    return translated('prompt rollout', () =>
      this.scope.run(organizationId, async (m) => {
        const template = await liveTemplate(m, organizationId, templateId);
        // Versions are never deleted, so checking them here is as good as a reference.
        const missing = versions.filter((v) => v > template.latestVersion);
        if (missing.length > 0) throw ValidationError.forField('arms', `no such version: ${missing.join(', ')}`, 'prompt rollout');
        const [row] = await selectEntities(
          m,
          PromptRollout,
          `INSERT INTO prompts.prompt_rollouts (organization_id, template_id, label, seed, versions, weights) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (organization_id, template_id, label) DO UPDATE
             SET versions = EXCLUDED.versions, weights = EXCLUDED.weights, updated_at = now(),
                 seed = CASE WHEN $7 THEN EXCLUDED.seed ELSE prompt_rollouts.seed END
           RETURNING *`,
          [
            organizationId,
            templateId,
            valid.label,
            valid.seed ?? randomUUID(),
            versions,
            valid.arms.map((arm) => arm.weight),
            valid.seed !== undefined,
          ],
        );
        return row;
      }),
    );
  }

  async get(organizationId: string, templateId: string, label: string): Promise<PromptRollout> {
    validateId(templateId, 'templateId', 'prompt rollout');
    validateName(label, 'label', LABEL_NAME, 'prompt rollout');
    const found = await this.scope.run(organizationId, (m) => findRollout(m, organizationId, templateId, label));
    if (!found) throw new NotFoundError('prompt rollout', { templateId, label });
    return found;
  }

  /** Ends the rollout: the label alone chooses the version again. */
  async remove(organizationId: string, templateId: string, label: string): Promise<void> {
    validateId(templateId, 'templateId', 'prompt rollout');
    validateName(label, 'label', LABEL_NAME, 'prompt rollout');
    const [, removed] = await this.scope.run(organizationId, (m) =>
      m.query('DELETE FROM prompts.prompt_rollouts WHERE organization_id = $1 AND template_id = $2 AND label = $3', [
        organizationId,
        templateId,
        label,
      ]),
    );
    if (removed === 0) throw new NotFoundError('prompt rollout', { templateId, label });
  }
}

export async function findRollout(
  m: EntityManager,
  organizationId: string,
  templateId: string,
  label: string,
): Promise<PromptRollout | undefined> {
  const [found] = await selectEntities(
    m,
    PromptRollout,
    'SELECT * FROM prompts.prompt_rollouts WHERE organization_id = $1 AND template_id = $2 AND label = $3',
    [organizationId, templateId, label],
  );
  return found;
}
