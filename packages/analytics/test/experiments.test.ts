import { GrowthBook } from '@growthbook/growthbook';
import { jStat } from 'jstat';
import { ConflictError, NotFoundError, ValidationError, baseModule, withTenant } from '@strata/base';
import { expectRefused, useTestDatabase } from '@strata/testing';
import {
  ExperimentsService,
  analyticsModule,
  bucketHash,
  bucketRanges,
  chooseVariation,
  sampleRatioMismatch,
  upperRegularizedGamma,
} from '../src';
import type { Assignment } from '../src';
import { createOrganization, seededRandom } from './support';

const units = (n: number, prefix = 'user-') => Array.from({ length: n }, (_, i) => `${prefix}${i}-${(i * 2654435761) % 1e6}`);

/** What GrowthBook's own JavaScript SDK decides for the unit. */
function growthBook(
  unit: string,
  experiment: { key: string; variations: string[]; weights: number[]; coverage: number; seed: string; hashVersion: 1 | 2 },
) {
  const gb = new GrowthBook({ attributes: { id: unit } });
  const result = gb.run({ ...experiment } as Parameters<typeof gb.run>[0]);
  gb.destroy();
  return result.inExperiment ? result.variationId : -1;
}

describe('A/B experiments', () => {
  const db = useTestDatabase({ modules: [baseModule, analyticsModule] });
  let org: string;
  let experiments: ExperimentsService;

  beforeAll(async () => {
    org = await createOrganization(db, 'experiments');
    experiments = new ExperimentsService(db.dataSource);
  });

  it.each([
    { hashVersion: 1 as const, weights: [0.5, 0.5], coverage: 1 },
    { hashVersion: 2 as const, weights: [0.5, 0.5], coverage: 1 },
    { hashVersion: 2 as const, weights: [0.2, 0.3, 0.5], coverage: 0.8 },
    { hashVersion: 1 as const, weights: [0.1, 0.6, 0.3], coverage: 0.35 },
  ])(
    'buckets every unit as GrowthBook’s SDK does (hash v$hashVersion, weights $weights, coverage $coverage)',
    ({ hashVersion, weights, coverage }) => {
      const experiment = {
        key: `exp-${hashVersion}-${weights.length}`,
        variations: weights.map((_, i) => `v${i}`),
        weights,
        coverage,
        seed: 'checkout-seed',
        hashVersion,
      };
      const ours = units(3000).map((u) => chooseVariation(bucketHash(experiment.seed, u, hashVersion), bucketRanges(weights, coverage)));
      expect(ours).toEqual(units(3000).map((u) => growthBook(u, experiment)));
      expect(new Set(ours)).toEqual(new Set(coverage < 1 ? [-1, ...weights.map((_, i) => i)] : weights.map((_, i) => i)));
    },
  );

  it('assigns through the database as GrowthBook does, keeps a unit’s variation when the weights change, and re-buckets on a new seed', async () => {
    await experiments.create(org, {
      key: 'checkout',
      name: 'Checkout button',
      variations: ['control', 'green'],
      hashVersion: 2,
      status: 'running',
    });
    const first = units(400);
    const assigned: Assignment[] = [];
    for (const u of first) assigned.push(await experiments.assign(org, 'checkout', u));
    expect(assigned.map((a) => a.variation)).toEqual(
      first.map((u) =>
        growthBook(u, {
          key: 'checkout',
          variations: ['control', 'green'],
          weights: [0.5, 0.5],
          coverage: 1,
          seed: 'checkout',
          hashVersion: 2,
        }),
      ),
    );
    expect(assigned.every((a) => a.inExperiment && !a.sticky && a.variationKey === ['control', 'green'][a.variation ?? -1])).toBe(true);

    await experiments.setWeights(org, 'checkout', { weights: [0.1, 0.9] });
    const again: Assignment[] = [];
    for (const u of first) again.push(await experiments.assign(org, 'checkout', u));
    expect(again.map((a) => a.variation)).toEqual(assigned.map((a) => a.variation));
    expect(again.every((a) => a.sticky)).toBe(true);
    // Units new to the experiment follow the new weights, as GrowthBook would place them.
    const newcomers = units(200, 'new-');
    for (const u of newcomers) {
      const a = await experiments.assign(org, 'checkout', u);
      expect({ u, v: a.variation }).toEqual({
        u,
        v: growthBook(u, {
          key: 'checkout',
          variations: ['control', 'green'],
          weights: [0.1, 0.9],
          coverage: 1,
          seed: 'checkout',
          hashVersion: 2,
        }),
      });
    }
    // Some of the first units would be elsewhere under the new weights, and still are where they were.
    expect(first.some((u, i) => chooseVariation(bucketHash('checkout', u, 2), bucketRanges([0.1, 0.9], 1)) !== assigned[i].variation)).toBe(
      true,
    );

    await experiments.reseed(org, 'checkout', { seed: 'checkout-2' });
    for (const u of first.slice(0, 100)) {
      const a = await experiments.assign(org, 'checkout', u);
      expect({ u, sticky: a.sticky, v: a.variation }).toEqual({
        u,
        sticky: false,
        v: chooseVariation(bucketHash('checkout-2', u, 2), bucketRanges([0.1, 0.9], 1)),
      });
    }
    const [{ n }] = await withTenant(db.dataSource, org, (tx) =>
      tx.query(`SELECT count(*)::int AS n FROM analytics.experiment_assignments`),
    );
    expect(n).toBe(100);
  });

  it('flags a sample-ratio mismatch on a 50/50 test that got 52/48 of 20,000, and stores the p-value', async () => {
    const experiment = await experiments.create(org, { key: 'srm', name: 'SRM', variations: ['a', 'b'], status: 'running' });
    await withTenant(db.dataSource, org, (tx) =>
      tx.query(
        `INSERT INTO analytics.experiment_assignments (organization_id, experiment_id, unit_id, variation, seed)
         SELECT $1, $2, 'u' || i, CASE WHEN i <= 10400 THEN 0 ELSE 1 END, 'srm' FROM generate_series(1, 20000) AS i`,
        [org, experiment.id],
      ),
    );
    const check = await experiments.checkSampleRatio(org, 'srm');
    expect(check).toMatchObject({ observed: [10400, 9600], expected: [10000, 10000], chiSquare: 32, degreesOfFreedom: 1, mismatch: true });
    expect(check.pValue).toBeCloseTo(1 - jStat.chisquare.cdf(32, 1), 12);
    expect((await experiments.get(org, 'srm')).srmPValue).toBe(check.pValue);
    // A split that matches its weights is not flagged.
    expect(sampleRatioMismatch([10050, 9950], [0.5, 0.5]).mismatch).toBe(false);
  });

  it('computes chi-squared p-values like jstat', () => {
    const random = seededRandom(3);
    for (let i = 0; i < 200; i++) {
      const df = 1 + Math.floor(random() * 9);
      const x = random() * 40;
      const reference = 1 - jStat.chisquare.cdf(x, df);
      expect(Math.abs(upperRegularizedGamma(df / 2, x / 2) - reference)).toBeLessThanOrEqual(1e-9);
    }
  });

  it('refuses bad input with typed errors naming the field', async () => {
    await expectRefused(experiments.create(org, { key: 'checkout', name: 'again', variations: ['a', 'b'] }), ConflictError, ['key']);
    await expectRefused(experiments.create(org, { key: 'bad key', name: '', variations: ['a'], coverage: 2 }), ValidationError, [
      'key',
      'name',
      'variations',
      'coverage',
    ]);
    await expectRefused(experiments.create(org, { key: 'w', name: 'w', variations: ['a', 'b'], weights: [0.5, 0.6] }), ValidationError, [
      'weights',
    ]);
    await expectRefused(experiments.setWeights(org, 'checkout', { weights: [1] }), ValidationError, ['weights']);
    await expectRefused(experiments.assign(org, 'nothing', 'u1'), NotFoundError, 'experiment');
    await expectRefused(experiments.assign(org, 'checkout', ''), ValidationError, ['unitId']);
  });
});
