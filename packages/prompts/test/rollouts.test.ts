import { NotFoundError, ValidationError, baseModule } from '@strata/base';
import { UNKNOWN_ID, expectRefused, useTestDatabase } from '@strata/testing';
import {
  PromptLabelsService,
  PromptLedgerService,
  PromptRenderer,
  PromptRolloutsService,
  PromptTemplatesService,
  PromptVersionsService,
  assignVersion,
  promptsModule,
} from '../src';
import { createOrganization, expectRefusals } from './support';

describe('sticky assignment', () => {
  const units = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

  it('10,000 unit ids split 90/10 land within a binomial tolerance of the weights, and each unit always gets the same version', () => {
    const arms = [
      { version: 1, weight: 90 },
      { version: 2, weight: 10 },
    ];
    const first = units.map((unit) => assignVersion('seed-a', unit, arms));
    const second = units.map((unit) => assignVersion('seed-a', unit, arms));
    expect(second).toEqual(first);
    const onTwo = first.filter((v) => v === 2).length;
    // n = 10,000, p = 0.1: standard deviation 30; four of them either side.
    expect(Math.abs(onTwo - 1000)).toBeLessThanOrEqual(120);
  });

  it('another seed reshuffles the units; a zero weight gets none', () => {
    const arms = [
      { version: 1, weight: 50 },
      { version: 2, weight: 50 },
    ];
    const a = units.map((unit) => assignVersion('seed-a', unit, arms));
    const b = units.map((unit) => assignVersion('seed-b', unit, arms));
    const moved = a.filter((v, i) => v !== b[i]).length;
    // Independent halves: about half the units change version (5,000 ± 4 × 50).
    expect(Math.abs(moved - 5000)).toBeLessThanOrEqual(200);
    const zero = units.map((unit) =>
      assignVersion('s', unit, [
        { version: 1, weight: 0 },
        { version: 2, weight: 3 },
      ]),
    );
    expect(new Set(zero)).toEqual(new Set([2]));
  });
});

describe('rollouts', () => {
  const db = useTestDatabase({ modules: [baseModule, promptsModule] });
  let org: string;
  let rollouts: PromptRolloutsService;
  let renderer: PromptRenderer;
  let templateId: string;

  beforeAll(async () => {
    org = await createOrganization(db, 'rollouts');
    rollouts = new PromptRolloutsService(db.dataSource);
    renderer = new PromptRenderer(db.dataSource);
    templateId = (await new PromptTemplatesService(db.dataSource).create(org, { name: 'greeting' })).id;
    const versions = new PromptVersionsService(db.dataSource);
    await versions.create(org, templateId, { content: 'Hello' });
    await versions.create(org, templateId, { content: 'Hi there' });
    await new PromptLabelsService(db.dataSource).move(org, templateId, { label: 'production', version: 1 });
  });

  it('render picks the version the rollout assigns the unit, sticky, and the execution records the rollout and the unit', async () => {
    const rollout = await rollouts.set(org, templateId, {
      label: 'production',
      arms: [
        { version: 1, weight: 1 },
        { version: 2, weight: 1 },
      ],
      seed: 'fixed-seed',
    });
    const seen = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const unitId = `unit-${i}`;
      const rendered = await renderer.render(org, { name: 'greeting', label: 'production', unitId });
      expect(rendered.version).toBe(
        assignVersion('fixed-seed', unitId, [
          { version: 1, weight: 1 },
          { version: 2, weight: 1 },
        ]),
      );
      expect(rendered.text).toBe(rendered.version === 1 ? 'Hello' : 'Hi there');
      expect(rendered.rolloutId).toBe(rollout.id);
      seen.set(unitId, rendered.version);
    }
    expect(new Set(seen.values())).toEqual(new Set([1, 2]));
    for (const [unitId, version] of seen)
      expect((await renderer.render(org, { name: 'greeting', label: 'production', unitId })).version).toBe(version);

    // Without a unit, the label alone chooses.
    expect(await renderer.render(org, { name: 'greeting', label: 'production' })).toMatchObject({ version: 1, rolloutId: null });

    const rendered = await renderer.render(org, { name: 'greeting', label: 'production', unitId: 'unit-7' });
    const execution = await new PromptLedgerService(db.dataSource).recordExecution(org, {
      templateId,
      version: rendered.version,
      label: 'production',
      rolloutId: rendered.rolloutId,
      unitId: 'unit-7',
      status: 'succeeded',
    });
    expect(execution).toMatchObject({ rolloutId: rollout.id, unitId: 'unit-7', version: seen.get('unit-7') });
  });

  it('changing the weights keeps the seed; everyone goes to a version weighted 100; removing the rollout hands back to the label', async () => {
    const before = await rollouts.get(org, templateId, 'production');
    const after = await rollouts.set(org, templateId, { label: 'production', arms: [{ version: 2, weight: 100 }] });
    expect(after.seed).toBe(before.seed);
    for (let i = 0; i < 10; i++)
      expect((await renderer.render(org, { name: 'greeting', label: 'production', unitId: `u${i}` })).version).toBe(2);
    await rollouts.remove(org, templateId, 'production');
    expect((await renderer.render(org, { name: 'greeting', label: 'production', unitId: 'u1' })).version).toBe(1);
    await expectRefused(rollouts.get(org, templateId, 'production'), NotFoundError, 'prompt rollout');
  });

  it('refuses bad rollouts with typed errors naming the field, writing nothing', async () => {
    const set = (arms: { version: number; weight: number }[], label = 'staging') => rollouts.set(org, templateId, { label, arms });
    await expectRefusals(db, [
      ['no arms', () => set([]), ValidationError, ['arms']],
      ['a version that does not exist', () => set([{ version: 3, weight: 1 }]), ValidationError, ['arms']],
      [
        'a version twice',
        () =>
          set([
            { version: 1, weight: 1 },
            { version: 1, weight: 2 },
          ]),
        ValidationError,
        ['arms'],
      ],
      ['all weights zero', () => set([{ version: 1, weight: 0 }]), ValidationError, ['arms']],
      ['negative weight', () => set([{ version: 1, weight: -1 }]), ValidationError, ['arms.0.weight']],
      ['bad label', () => set([{ version: 1, weight: 1 }], 'Bad Label'), ValidationError, ['label']],
      [
        'unknown template',
        () => rollouts.set(org, UNKNOWN_ID, { label: 'x', arms: [{ version: 1, weight: 1 }] }),
        NotFoundError,
        'prompt template',
      ],
      ['remove what is not there', () => rollouts.remove(org, templateId, 'staging'), NotFoundError, 'prompt rollout'],
      [
        'render with an empty unit id',
        () => renderer.render(org, { name: 'greeting', label: 'production', unitId: '' }),
        ValidationError,
        ['unitId'],
      ],
    ]);
  });
});
