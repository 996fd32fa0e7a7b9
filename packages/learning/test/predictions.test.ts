import { NotFoundError, StateError, ValidationError, baseModule } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { ModelVersionsService, ModelsService, PredictionsService, learningModule } from '../src';
import type { PredictionInput } from '../src';
import { UNKNOWN_ID, createOrganization, expectNothingWritten, expectRefused } from './support';

const DAY = 24 * 60 * 60 * 1000;

describe('predictions and feedback', () => {
  const db = useTestDatabase({ modules: [baseModule, learningModule] });
  let predictions: PredictionsService;
  let versions: ModelVersionsService;
  let modelId: string;
  let a: string;
  let b: string;

  beforeAll(async () => {
    predictions = new PredictionsService(db.dataSource);
    versions = new ModelVersionsService(db.dataSource);
    a = await createOrganization(db, 'a');
    b = await createOrganization(db, 'b');
    modelId = (await new ModelsService(db.dataSource).create(a, { name: 'bug-risk', type: 'prediction' })).id;
  });

  const probability = (versionId: string, p: number, extra: Partial<PredictionInput> = {}): PredictionInput => ({
    versionId,
    predictionType: 'bug_likelihood',
    valueKind: 'probability',
    targetType: 'file',
    targetId: 'src/a.ts',
    predictedValue: p,
    ...extra,
  });

  it('records predictions in a batch and feedback once, with rightness and error', async () => {
    const version = await versions.create(a, modelId);
    const [p, label, number] = await predictions.record(a, [
      probability(version.id, 0.8, { inputFeatures: { churn: 12 }, horizonSeconds: 86_400 }),
      {
        versionId: version.id,
        predictionType: 'component',
        valueKind: 'label',
        targetType: 'task',
        targetId: 't-1',
        predictedLabel: 'backend',
      },
      {
        versionId: version.id,
        predictionType: 'effort_hours',
        valueKind: 'number',
        targetType: 'task',
        targetId: 't-2',
        predictedValue: 5,
        confidenceLow: 3,
        confidenceHigh: 8,
      },
    ]);
    expect(await predictions.get(a, p.id)).toMatchObject({
      id: p.id,
      predictedAt: p.predictedAt,
      status: 'pending',
      valueKind: 'probability',
      predictedValue: 0.8,
      inputFeatures: { churn: 12 },
      horizonSeconds: 86_400,
      correct: null,
    });
    expect(await predictions.get(a, number.id)).toMatchObject({
      predictedValue: 5,
      confidenceLow: 3,
      confidenceHigh: 8,
      predictedLabel: null,
    });
    const fedP = await predictions.recordFeedback(a, p.id, { actualValue: 0, source: 'system' });
    expect(fedP).toMatchObject({ status: 'resolved', actualValue: 0, correct: false, feedbackSource: 'system' });
    expect(fedP.error).toBeCloseTo(0.64, 12);
    expect(fedP.feedbackAt).toBeInstanceOf(Date);
    const fedLabel = await predictions.recordFeedback(a, label.id, {
      actualLabel: 'backend',
      source: 'user',
      userId: UNKNOWN_ID,
      comment: 'right',
    });
    expect(fedLabel).toMatchObject({ correct: true, feedbackBy: UNKNOWN_ID, feedbackComment: 'right', error: null });
    const fedNumber = await predictions.recordFeedback(a, number.id, { actualValue: 9, source: 'system' });
    expect(fedNumber).toMatchObject({ correct: false, error: 4 });

    await expectNothingWritten(db, async () => {
      await expectRefused(predictions.recordFeedback(a, p.id, { actualValue: 1, source: 'user' }), StateError);
      await expectRefused(predictions.recordFeedback(b, p.id, { actualValue: 1, source: 'user' }), NotFoundError, 'prediction');
    });
  });

  it('refuses bad predictions and feedback naming the field; writes nothing', async () => {
    const version = await versions.create(a, modelId);
    const [pending] = await predictions.record(a, [probability(version.id, 0.4)]);
    const [label] = await predictions.record(a, [
      { versionId: version.id, predictionType: 'component', valueKind: 'label', targetType: 'task', targetId: 't', predictedLabel: 'ui' },
    ]);
    await expectNothingWritten(db, async () => {
      await expectRefused(predictions.record(a, []), ValidationError, ['predictions']);
      await expectRefused(predictions.record(a, [probability(version.id, 1.5)]), ValidationError, ['predictions.0.predictedValue']);
      await expectRefused(predictions.record(a, [probability(version.id, 0.5, { predictedLabel: 'x' })]), ValidationError, [
        'predictions.0.predictedValue',
      ]);
      await expectRefused(
        predictions.record(a, [probability(version.id, 0.5, { confidenceLow: 0.6, confidenceHigh: 0.4 })]),
        ValidationError,
        ['predictions.0.confidenceLow'],
      );
      await expectRefused(
        predictions.record(a, [probability(version.id, 0.5), probability('v', 0.5, { targetType: 'A File' })]),
        ValidationError,
        ['predictions.1.versionId', 'predictions.1.targetType'],
      );
      await expectRefused(predictions.record(a, [probability(UNKNOWN_ID, 0.5)]), ValidationError, ['versionId']);
      await expectRefused(predictions.record(b, [probability(version.id, 0.5)]), ValidationError, ['versionId']);
      await expectRefused(predictions.recordFeedback(a, pending.id, { actualValue: 0.5, source: 'user' }), ValidationError, [
        'actualValue',
      ]);
      await expectRefused(predictions.recordFeedback(a, pending.id, { actualLabel: 'yes', source: 'user' }), ValidationError, [
        'actualValue',
      ]);
      await expectRefused(predictions.recordFeedback(a, label.id, { actualValue: 1, source: 'user' }), ValidationError, ['actualLabel']);
      await expectRefused(predictions.recordFeedback(a, pending.id, { actualValue: 1, source: 'oracle' } as never), ValidationError, [
        'source',
      ]);
      await expectRefused(predictions.recordFeedback(a, UNKNOWN_ID, { actualValue: 1, source: 'user' }), NotFoundError, 'prediction');
    });
  });

  it('Brier score, precision / recall and calibration bins on a known set', async () => {
    const version = await versions.create(a, modelId);
    const known: [p: number, outcome: 0 | 1][] = [
      [0.95, 1],
      [0.9, 1],
      [0.82, 1],
      [0.8, 0],
      [0.7, 0],
      [0.55, 0],
      [0.35, 1],
      [0.3, 0],
      [0.12, 0],
      [0.1, 1],
      [0.05, 0],
      [0.62, 1],
    ];
    const recorded = await predictions.record(
      a,
      known.map(([p]) => probability(version.id, p)),
    );
    for (const [i, prediction] of recorded.entries())
      await predictions.recordFeedback(a, prediction.id, { actualValue: known[i][1], source: 'system' });
    // One left without feedback counts as a prediction, not in the scores.
    await predictions.record(a, [probability(version.id, 0.99)]);

    const perf = await predictions.performance(a, version.id);
    const brier = known.reduce((s, [p, o]) => s + (p - o) ** 2, 0) / known.length;
    const tp = known.filter(([p, o]) => p >= 0.5 && o === 1).length;
    const fp = known.filter(([p, o]) => p >= 0.5 && o === 0).length;
    const fn = known.filter(([p, o]) => p < 0.5 && o === 1).length;
    const right = known.filter(([p, o]) => p >= 0.5 === (o === 1)).length;
    expect(perf).toMatchObject({ predictions: 13, resolved: 12, meanAbsoluteError: null });
    expect(perf.brierScore).toBeCloseTo(brier, 12);
    expect(perf.accuracy).toBeCloseTo(right / known.length, 12);
    expect(perf.precision).toBeCloseTo(tp / (tp + fp), 12);
    expect(perf.recall).toBeCloseTo(tp / (tp + fn), 12);

    const bins = new Map<number, [number, number][]>();
    for (const row of known) bins.set(Math.min(Math.floor(row[0] * 5), 4), [...(bins.get(Math.min(Math.floor(row[0] * 5), 4)) ?? []), row]);
    const expected = [...bins.entries()]
      .sort(([x], [y]) => x - y)
      .map(([bin, rows]) => ({
        lower: bin / 5,
        upper: (bin + 1) / 5,
        count: rows.length,
        meanPredicted: rows.reduce((s, [p]) => s + p, 0) / rows.length,
        observedRate: rows.reduce((s, [, o]) => s + o, 0) / rows.length,
      }));
    const { calibration, expectedCalibrationError } = await predictions.performance(a, version.id, { bins: 5 });
    expect(calibration.map((c) => [c.lower, c.upper, c.count])).toEqual(expected.map((c) => [c.lower, c.upper, c.count]));
    calibration.forEach((c, i) => {
      expect(c.meanPredicted).toBeCloseTo(expected[i].meanPredicted, 12);
      expect(c.observedRate).toBeCloseTo(expected[i].observedRate, 12);
    });
    const ece = expected.reduce((s, c) => s + (c.count / known.length) * Math.abs(c.meanPredicted - c.observedRate), 0);
    expect(expectedCalibrationError).toBeCloseTo(ece, 12);

    // A time range that holds none of them.
    const empty = await predictions.performance(a, version.id, { to: new Date(Date.now() - DAY) });
    expect(empty).toMatchObject({ predictions: 0, accuracy: null, brierScore: null, calibration: [], expectedCalibrationError: null });
    await expectRefused(predictions.performance(a, version.id, { bins: 1 }), ValidationError, ['bins']);
    await expectRefused(predictions.performance(b, version.id), NotFoundError, 'model version');
  });

  it('the health report alerts when recent accuracy drops more than 20% from the baseline', async () => {
    // outcomes: how many of `total` predictions made `daysAgo` were right.
    const seed = async (versionId: string, daysAgo: number, total: number, right: number) => {
      const made = await predictions.record(
        a,
        Array.from({ length: total }, () => probability(versionId, 0.9, { predictedAt: new Date(Date.now() - daysAgo * DAY) })),
      );
      for (const [i, p] of made.entries()) await predictions.recordFeedback(a, p.id, { actualValue: i < right ? 1 : 0, source: 'system' });
    };
    const drifting = await versions.create(a, modelId);
    await seed(drifting.id, 30, 10, 9); // baseline 0.9 from its history
    await seed(drifting.id, 2, 10, 6); // recent 0.6: a third lower
    const report = await predictions.health(a, drifting.id);
    expect(report).toMatchObject({ baselineSource: 'history', recentResolved: 10 });
    expect(report.baselineAccuracy).toBeCloseTo(0.9, 12);
    expect(report.recentAccuracy).toBeCloseTo(0.6, 12);
    expect(report.accuracyDrop).toBeCloseTo(1 / 3, 12);
    expect(report.alerts).toHaveLength(1);
    expect(report.alerts[0]).toMatch(/accuracy dropped 33\.3% from its baseline/);

    // Within 20% of the baseline its version declared: no alert. A longer window takes the old ones in.
    const steady = await versions.create(a, modelId, { metrics: { accuracy: 0.9 } });
    await seed(steady.id, 3, 10, 8);
    const fine = await predictions.health(a, steady.id);
    expect(fine).toMatchObject({ baselineSource: 'metrics', baselineAccuracy: 0.9, alerts: [] });
    expect(fine.accuracyDrop).toBeCloseTo(1 / 9, 12);
    expect((await predictions.health(a, drifting.id, { windowDays: 60 })).baselineSource).toBeNull();
    await expectRefused(predictions.health(a, drifting.id, { windowDays: 0 }), ValidationError, ['windowDays']);
  });
});
