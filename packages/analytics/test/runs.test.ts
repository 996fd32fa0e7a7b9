import { NotFoundError, ValidationError, baseModule } from '@strata/base';
import { UNKNOWN_ID, expectRefused, useTestDatabase } from '@strata/testing';
import { AnalysisRunsService, analyticsModule } from '../src';
import { createOrganization, expectNothingWritten } from './support';

describe('analysis runs and the trend of a run metric', () => {
  const db = useTestDatabase({ modules: [baseModule, analyticsModule] });
  let org: string;
  let other: string;
  let runs: AnalysisRunsService;
  const repositoryId = '11111111-1111-4111-8111-111111111111';

  beforeAll(async () => {
    org = await createOrganization(db, 'runs');
    other = await createOrganization(db, 'runs-other');
    runs = new AnalysisRunsService(db.dataSource);
  });

  it('records runs with their figures; the trend is one figure over the newest runs of a repository, oldest first', async () => {
    const start = Date.UTC(2026, 0, 1);
    const created = [];
    for (let i = 0; i < 5; i++) {
      const run = await runs.create(org, {
        kind: 'quality',
        tool: 'eslint',
        toolVersion: `9.${i}`,
        repositoryId,
        status: 'succeeded',
        startedAt: new Date(start + i * 86_400_000),
        finishedAt: new Date(start + i * 86_400_000 + 60_000),
        summary: { files: 10 + i },
      });
      expect(run).toMatchObject({ organizationId: org, kind: 'quality', status: 'succeeded', repositoryId, summary: { files: 10 + i } });
      created.push(run);
      // Run 2 recorded no coverage.
      const metrics =
        i === 2
          ? [{ name: 'warnings', value: 1 }]
          : [
              { name: 'coverage', value: 70 + i, unit: '%' },
              { name: 'warnings', value: 5 - i },
            ];
      expect(await runs.recordMetrics(org, run.id, { metrics })).toBe(metrics.length);
    }
    // Another repository, and a re-recorded figure replacing the first.
    const elsewhere = await runs.create(org, { kind: 'quality', tool: 'eslint', repositoryId: UNKNOWN_ID });
    await runs.recordMetrics(org, elsewhere.id, { metrics: [{ name: 'coverage', value: 1 }] });
    await runs.recordMetrics(org, created[4].id, { metrics: [{ name: 'coverage', value: 99, unit: '%' }] });

    const trend = await runs.trend(org, { repositoryId, name: 'coverage' });
    expect(trend.map((p) => [p.runId, p.value, p.toolVersion, p.unit])).toEqual([
      [created[0].id, 70, '9.0', '%'],
      [created[1].id, 71, '9.1', '%'],
      [created[3].id, 73, '9.3', '%'],
      [created[4].id, 99, '9.4', '%'],
    ]);
    expect((await runs.trend(org, { repositoryId, name: 'coverage', limit: 2 })).map((p) => p.value)).toEqual([73, 99]);
    expect(await runs.trend(other, { repositoryId, name: 'coverage' })).toEqual([]);
  });

  it('refuses bad input with typed errors naming the field, and writes nothing', async () => {
    const run = await runs.create(org, { kind: 'security', tool: 'semgrep' });
    await expectNothingWritten(db, async () => {
      await expectRefused(runs.create(org, { kind: '', tool: 'x', status: 'done' as never, projectId: 'p' }), ValidationError, [
        'kind',
        'status',
        'projectId',
      ]);
      await expectRefused(
        runs.create(org, { kind: 'k', tool: 'x', startedAt: new Date(2026, 1, 2), finishedAt: new Date(2026, 1, 1) }),
        ValidationError,
        ['finishedAt'],
      );
      await expectRefused(runs.recordMetrics(org, run.id, { metrics: [{ name: 'a b', value: Number.NaN }] }), ValidationError, [
        'metrics.0.name',
        'metrics.0.value',
      ]);
      await expectRefused(
        runs.recordMetrics(org, run.id, {
          metrics: [
            { name: 'a', value: 1 },
            { name: 'a', value: 2 },
          ],
        }),
        ValidationError,
        ['metrics'],
      );
      await expectRefused(runs.recordMetrics(org, UNKNOWN_ID, { metrics: [{ name: 'a', value: 1 }] }), NotFoundError, 'analysis run');
      await expectRefused(runs.recordMetrics(other, run.id, { metrics: [{ name: 'a', value: 1 }] }), NotFoundError, 'analysis run');
      await expectRefused(runs.recordMetrics(org, 'nope', { metrics: [{ name: 'a', value: 1 }] }), ValidationError, ['runId']);
      await expectRefused(runs.trend(org, { repositoryId: 'x', name: 'coverage', limit: 0 }), ValidationError, ['repositoryId', 'limit']);
    });
  });
});
