import { IsDate, IsIn, IsInt, IsNumber, IsOptional, IsString, IsUUID, Length, Max, MaxLength, Min } from 'class-validator';
import {
  FieldError,
  NotFoundError,
  OptionalNotNull,
  StateError,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  isUuid,
  validateId,
  validateInput,
} from '@strata/base';
import { FEEDBACK_SOURCES, ModelVersion, Prediction, VALUE_KINDS } from '../entities';
import type { FeedbackSource, ValueKind } from '../entities';
import { learningModule } from '../learning.module';
import { rethrowDatabaseError } from './database-errors';

const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const NAME_MESSAGE = 'must be a lower-case name (letters, digits, _), at most 64';
/** Predictions per `record` call. */
export const MAX_PREDICTION_BATCH = 10_000;
/** The seeds' alert: accuracy more than 20% below the baseline. */
export const ACCURACY_DROP_ALERT = 0.2;

/**
 * One prediction to record. Checked by {@link checkPrediction}, by hand rather
 * than by class-validator: a batch holds up to 10,000 of them, and decorator
 * validation was three quarters of a batch's time.
 */
export class PredictionInput {
  versionId!: string;
  /** What is predicted, in the caller's words: `bug_likelihood`, `effort_hours`. */
  predictionType!: string;
  valueKind!: ValueKind;
  targetType!: string;
  targetId!: string;
  predictedValue?: number;
  predictedLabel?: string;
  confidenceLow?: number;
  confidenceHigh?: number;
  horizonSeconds?: number;
  inputFeatures?: Record<string, unknown>;
  /** Default: now. */
  predictedAt?: Date;
}

const PREDICTION_FIELDS = new Set([
  'versionId',
  'predictionType',
  'valueKind',
  'targetType',
  'targetId',
  'predictedValue',
  'predictedLabel',
  'confidenceLow',
  'confidenceHigh',
  'horizonSeconds',
  'inputFeatures',
  'predictedAt',
]);

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Every rule a prediction must follow, each broken one a field error `predictions.<i>.<field>`. */
function checkPrediction(p: unknown, i: number, errors: FieldError[]): p is PredictionInput {
  const at = (field: string, message: string) => errors.push({ field: `predictions.${i}.${field}`, messages: [message] });
  if (p === null || typeof p !== 'object' || Array.isArray(p)) {
    errors.push({ field: `predictions.${i}`, messages: ['must be an object'] });
    return false;
  }
  const before = errors.length;
  const r = p as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!PREDICTION_FIELDS.has(key)) at(key, `property ${key} should not exist`);
  if (!isUuid(r.versionId)) at('versionId', 'versionId must be a UUID');
  if (typeof r.predictionType !== 'string' || !NAME.test(r.predictionType)) at('predictionType', `predictionType ${NAME_MESSAGE}`);
  if (typeof r.targetType !== 'string' || !NAME.test(r.targetType)) at('targetType', `targetType ${NAME_MESSAGE}`);
  if (typeof r.targetId !== 'string' || r.targetId.length < 1 || r.targetId.length > 255)
    at('targetId', 'targetId must be 1 to 255 characters');
  if (!VALUE_KINDS.includes(r.valueKind as ValueKind)) at('valueKind', `valueKind must be one of ${VALUE_KINDS.join(', ')}`);
  for (const field of ['predictedValue', 'confidenceLow', 'confidenceHigh'])
    if (r[field] !== undefined && !finite(r[field])) at(field, `${field} must be a finite number`);
  if (
    r.predictedLabel !== undefined &&
    (typeof r.predictedLabel !== 'string' || r.predictedLabel.length < 1 || r.predictedLabel.length > 1000)
  )
    at('predictedLabel', 'predictedLabel must be 1 to 1000 characters');
  if (
    r.horizonSeconds !== undefined &&
    !(Number.isInteger(r.horizonSeconds) && (r.horizonSeconds as number) >= 0 && (r.horizonSeconds as number) <= 2_147_483_647)
  )
    at('horizonSeconds', 'horizonSeconds must be an integer from 0 to 2147483647');
  if (r.inputFeatures !== undefined && (r.inputFeatures === null || typeof r.inputFeatures !== 'object' || Array.isArray(r.inputFeatures)))
    at('inputFeatures', 'inputFeatures must be an object');
  if (r.predictedAt !== undefined && !(r.predictedAt instanceof Date && !Number.isNaN(r.predictedAt.getTime())))
    at('predictedAt', 'predictedAt must be a valid Date');
  if (errors.length > before) return false;
  const label = r.predictedLabel !== undefined;
  const value = r.predictedValue !== undefined;
  if (r.valueKind === 'label' && (!label || value)) at('predictedLabel', 'a label prediction has a predictedLabel and no predictedValue');
  if (r.valueKind !== 'label' && (label || !value))
    at('predictedValue', `a ${String(r.valueKind)} prediction has a predictedValue and no predictedLabel`);
  if (r.valueKind === 'probability' && value && ((r.predictedValue as number) < 0 || (r.predictedValue as number) > 1))
    at('predictedValue', 'a probability is between 0 and 1');
  if (
    (r.confidenceLow === undefined) !== (r.confidenceHigh === undefined) ||
    ((r.confidenceLow as number) ?? 0) > ((r.confidenceHigh as number) ?? 0)
  )
    at('confidenceLow', 'give both bounds, low ≤ high');
  return errors.length === before;
}

export class FeedbackInput {
  /** The outcome of a probability (0 or 1) or a number prediction. */
  @OptionalNotNull() @IsNumber({ allowNaN: false, allowInfinity: false }) actualValue?: number;
  /** The outcome of a label prediction. */
  @OptionalNotNull() @IsString() @Length(1, 1000) actualLabel?: string;
  @IsIn(FEEDBACK_SOURCES) source!: FeedbackSource;
  @IsOptional() @IsUUID() userId?: string | null;
  @IsOptional() @IsString() @MaxLength(10_000) comment?: string | null;
}

export class PerformanceOptions {
  /** Predictions made at or after this moment. */
  @OptionalNotNull() @IsDate() from?: Date;
  /** Predictions made before this moment. */
  @OptionalNotNull() @IsDate() to?: Date;
  /** Calibration bins over 0..1 (default 10). */
  @OptionalNotNull() @IsInt() @Min(2) @Max(100) bins?: number;
}

export class HealthOptions {
  /** The recent window, ending now (default 7 days). */
  @OptionalNotNull() @IsInt() @Min(1) @Max(366) windowDays?: number;
}

export interface RecordedPrediction {
  id: string;
  predictedAt: Date;
}

export interface CalibrationBin {
  lower: number;
  upper: number;
  count: number;
  meanPredicted: number;
  observedRate: number;
}

export interface VersionPerformance {
  predictions: number;
  /** Predictions with feedback. */
  resolved: number;
  /** Share of resolved predictions that were right (null: none resolved where rightness applies). */
  accuracy: number | null;
  /** For probabilities, the positive outcome being 1 and a prediction ≥ 0.5 calling it. */
  precision: number | null;
  recall: number | null;
  /** Mean squared error of the resolved probabilities (lower is better; 0.25 is a coin). */
  brierScore: number | null;
  /** Resolved probabilities by predicted value: how often what was predicted at p happened. */
  calibration: CalibrationBin[];
  /** Σ count/total · |meanPredicted − observedRate| over the bins. */
  expectedCalibrationError: number | null;
  /** Mean absolute error of resolved numbers. */
  meanAbsoluteError: number | null;
}

export interface VersionHealth {
  baselineAccuracy: number | null;
  /** Where the baseline comes from: the version's `metrics.accuracy`, or its predictions before the window. */
  baselineSource: 'metrics' | 'history' | null;
  recentAccuracy: number | null;
  recentResolved: number;
  /** (baseline − recent) / baseline. */
  accuracyDrop: number | null;
  alerts: string[];
}

type Aggregate = Record<string, string | number | null>;
const num = (v: string | number | null | undefined): number | null => (v === null || v === undefined ? null : Number(v));

/** Predictions, their feedback, and per-version accuracy, calibration and drift. */
export class PredictionsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, learningModule);
  }

  /**
   * Records predictions in one multi-row INSERT (at most {@link MAX_PREDICTION_BATCH})
   * and returns their keys in input order (the whole rows would cost a third
   * of a batch's time to send back and map; `get` reads one).
   */
  async record(organizationId: string, predictions: PredictionInput[]): Promise<RecordedPrediction[]> {
    if (!Array.isArray(predictions) || predictions.length === 0 || predictions.length > MAX_PREDICTION_BATCH) {
      throw ValidationError.forField('predictions', `must be an array of 1 to ${MAX_PREDICTION_BATCH} predictions`, 'predictions');
    }
    const errors: FieldError[] = [];
    for (let i = 0; i < predictions.length && errors.length < 100; i++) checkPrediction(predictions[i], i, errors);
    const valid = predictions;
    if (errors.length > 0) throw new ValidationError(errors.slice(0, 100), 'predictions');
    const rows = valid.map((p) => ({
      version_id: p.versionId,
      prediction_type: p.predictionType,
      value_kind: p.valueKind,
      target_type: p.targetType,
      target_id: p.targetId,
      predicted_value: p.predictedValue ?? null,
      predicted_label: p.predictedLabel ?? null,
      confidence_low: p.confidenceLow ?? null,
      confidence_high: p.confidenceHigh ?? null,
      horizon_seconds: p.horizonSeconds ?? null,
      input_features: p.inputFeatures ?? {},
      predicted_at: p.predictedAt ?? null,
    }));
    try {
      return await this.scope.run(organizationId, async (m) => {
        const inserted: Record<string, unknown>[] = await m.query(
          `INSERT INTO learning.predictions (organization_id, version_id, prediction_type, value_kind, target_type, target_id, predicted_value,
                                             predicted_label, confidence_low, confidence_high, horizon_seconds, input_features, predicted_at)
           SELECT $1, r.version_id, r.prediction_type, r.value_kind, r.target_type, r.target_id, r.predicted_value, r.predicted_label,
                  r.confidence_low, r.confidence_high, r.horizon_seconds, r.input_features, coalesce(r.predicted_at, now())
             FROM jsonb_to_recordset($2::jsonb) AS r(version_id uuid, prediction_type text, value_kind text, target_type text, target_id text,
                  predicted_value float8, predicted_label text, confidence_low float8, confidence_high float8, horizon_seconds integer,
                  input_features jsonb, predicted_at timestamptz)
           RETURNING id, predicted_at`,
          [organizationId, JSON.stringify(rows)],
        );
        return inserted.map((row) => ({ id: row.id as string, predictedAt: row.predicted_at as Date }));
      });
    } catch (error) {
      rethrowDatabaseError(error, 'predictions');
    }
  }

  async get(organizationId: string, predictionId: string): Promise<Prediction> {
    validateId(predictionId, 'predictionId', 'prediction');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(Prediction).findOneBy({ organizationId, id: predictionId }));
    if (!found) throw new NotFoundError('prediction', { id: predictionId });
    return found;
  }

  /**
   * Records the actual outcome of a prediction, once (a second feedback is a
   * StateError), and whether it was right: a probability is right when ≥ 0.5
   * called a 1 (its squared error is kept for the Brier score); a label when
   * it matches; a number when it fell inside the confidence interval (its
   * absolute error is kept).
   */
  async recordFeedback(organizationId: string, predictionId: string, input: FeedbackInput): Promise<Prediction> {
    validateId(predictionId, 'predictionId', 'prediction feedback');
    const valid = await validateInput(FeedbackInput, input, 'prediction feedback');
    return this.scope.run(organizationId, async (m) => {
      const [found]: { value_kind: ValueKind; status: string }[] = await m.query(
        `SELECT value_kind, status FROM learning.predictions WHERE organization_id = $1 AND id = $2 FOR UPDATE`,
        [organizationId, predictionId],
      );
      if (!found) throw new NotFoundError('prediction', { id: predictionId });
      if (found.status !== 'pending') throw new StateError(`prediction ${predictionId} already has its feedback`);
      const kind = found.value_kind;
      if (kind === 'label' && (valid.actualLabel === undefined || valid.actualValue !== undefined)) {
        throw ValidationError.forField('actualLabel', 'the outcome of a label prediction is an actualLabel', 'prediction feedback');
      }
      if (kind !== 'label' && (valid.actualValue === undefined || valid.actualLabel !== undefined)) {
        throw ValidationError.forField('actualValue', `the outcome of a ${kind} prediction is an actualValue`, 'prediction feedback');
      }
      if (kind === 'probability' && valid.actualValue !== 0 && valid.actualValue !== 1) {
        throw ValidationError.forField('actualValue', 'the outcome of a probability prediction is 0 or 1', 'prediction feedback');
      }
      const rows: Record<string, unknown>[] = await m.query(
        `WITH fed AS (
           UPDATE learning.predictions p
              SET status = 'resolved', actual_value = $3::float8, actual_label = $4::text,
                  correct = CASE p.value_kind WHEN 'probability' THEN (p.predicted_value >= 0.5) = ($3::float8 = 1)
                                              WHEN 'label' THEN p.predicted_label = $4::text
                                              ELSE CASE WHEN p.confidence_low IS NULL THEN NULL ELSE $3::float8 BETWEEN p.confidence_low AND p.confidence_high END END,
                  error = CASE p.value_kind WHEN 'probability' THEN (p.predicted_value - $3::float8) ^ 2 WHEN 'number' THEN abs(p.predicted_value - $3::float8) END,
                  feedback_source = $5, feedback_by = $6, feedback_comment = $7, feedback_at = now()
            WHERE p.organization_id = $1 AND p.id = $2
           RETURNING p.*)
         SELECT * FROM fed`,
        [
          organizationId,
          predictionId,
          valid.actualValue ?? null,
          valid.actualLabel ?? null,
          valid.source,
          valid.userId ?? null,
          valid.comment ?? null,
        ],
      );
      return hydrate(m, Prediction, rows)[0];
    });
  }

  /** Accuracy, precision / recall, Brier score, calibration and error of a version's predictions (optionally a time range). */
  async performance(organizationId: string, versionId: string, options: PerformanceOptions = {}): Promise<VersionPerformance> {
    validateId(versionId, 'versionId', 'prediction performance');
    const { from, to, bins = 10 } = await validateInput(PerformanceOptions, options, 'prediction performance');
    return this.scope.run(organizationId, async (m) => {
      if (!(await m.getRepository(ModelVersion).existsBy({ organizationId, id: versionId }))) {
        throw new NotFoundError('model version', { id: versionId });
      }
      const scope = `organization_id = $1 AND version_id = $2 AND ($3::timestamptz IS NULL OR predicted_at >= $3) AND ($4::timestamptz IS NULL OR predicted_at < $4)`;
      const parameters = [organizationId, versionId, from ?? null, to ?? null];
      const [totals]: Aggregate[] = await m.query(
        `SELECT count(*)::int AS predictions, count(*) FILTER (WHERE status = 'resolved')::int AS resolved,
                avg(correct::int) FILTER (WHERE correct IS NOT NULL) AS accuracy,
                avg(error) FILTER (WHERE value_kind = 'probability' AND status = 'resolved') AS brier,
                avg(error) FILTER (WHERE value_kind = 'number' AND status = 'resolved') AS mae,
                count(*) FILTER (WHERE value_kind = 'probability' AND predicted_value >= 0.5 AND actual_value = 1)::int AS tp,
                count(*) FILTER (WHERE value_kind = 'probability' AND predicted_value >= 0.5 AND actual_value = 0)::int AS fp,
                count(*) FILTER (WHERE value_kind = 'probability' AND predicted_value < 0.5 AND actual_value = 1)::int AS fn
           FROM learning.predictions WHERE ${scope}`,
        parameters,
      );
      const binRows: Aggregate[] = await m.query(
        `SELECT least(floor(predicted_value * $5::int)::int, $5::int - 1) AS bin, count(*)::int AS count,
                avg(predicted_value) AS mean_predicted, avg(actual_value) AS observed
           FROM learning.predictions WHERE ${scope} AND value_kind = 'probability' AND status = 'resolved'
          GROUP BY 1 ORDER BY 1`,
        [...parameters, bins],
      );
      const calibration: CalibrationBin[] = binRows.map((b) => ({
        lower: Number(b.bin) / bins,
        upper: (Number(b.bin) + 1) / bins,
        count: Number(b.count),
        meanPredicted: Number(b.mean_predicted),
        observedRate: Number(b.observed),
      }));
      const calibrated = calibration.reduce((sum, b) => sum + b.count, 0);
      const tp = Number(totals.tp);
      const fp = Number(totals.fp);
      const fn = Number(totals.fn);
      return {
        predictions: Number(totals.predictions),
        resolved: Number(totals.resolved),
        accuracy: num(totals.accuracy),
        precision: tp + fp > 0 ? tp / (tp + fp) : null,
        recall: tp + fn > 0 ? tp / (tp + fn) : null,
        brierScore: num(totals.brier),
        calibration,
        expectedCalibrationError:
          calibrated > 0
            ? calibration.reduce((sum, b) => sum + (b.count / calibrated) * Math.abs(b.meanPredicted - b.observedRate), 0)
            : null,
        meanAbsoluteError: num(totals.mae),
      };
    });
  }

  /**
   * Drift: the accuracy of the version's predictions made in the recent
   * window against its baseline (its `metrics.accuracy`, else its accuracy
   * before the window), with the seeds' alert when it dropped more than 20%.
   */
  async health(organizationId: string, versionId: string, options: HealthOptions = {}): Promise<VersionHealth> {
    validateId(versionId, 'versionId', 'prediction health');
    const { windowDays = 7 } = await validateInput(HealthOptions, options, 'prediction health');
    return this.scope.run(organizationId, async (m) => {
      const version = await m.getRepository(ModelVersion).findOneBy({ organizationId, id: versionId });
      if (!version) throw new NotFoundError('model version', { id: versionId });
      const [row]: Aggregate[] = await m.query(
        `SELECT avg(correct::int) FILTER (WHERE predicted_at >= now() - make_interval(days => $3)) AS recent,
                count(correct) FILTER (WHERE predicted_at >= now() - make_interval(days => $3))::int AS recent_resolved,
                avg(correct::int) FILTER (WHERE predicted_at < now() - make_interval(days => $3)) AS history
           FROM learning.predictions WHERE organization_id = $1 AND version_id = $2 AND correct IS NOT NULL`,
        [organizationId, versionId, windowDays],
      );
      const declared = version.metrics.accuracy;
      const fromMetrics = typeof declared === 'number' && Number.isFinite(declared) ? declared : null;
      const baseline = fromMetrics ?? num(row.history);
      const recent = num(row.recent);
      const drop = baseline !== null && baseline > 0 && recent !== null ? (baseline - recent) / baseline : null;
      const alerts =
        drop !== null && drop > ACCURACY_DROP_ALERT
          ? [
              `accuracy dropped ${(drop * 100).toFixed(1)}% from its baseline (${baseline!.toFixed(3)} → ${recent!.toFixed(3)} over ${windowDays} days)`,
            ]
          : [];
      return {
        baselineAccuracy: baseline,
        baselineSource: fromMetrics !== null ? 'metrics' : baseline !== null ? 'history' : null,
        recentAccuracy: recent,
        recentResolved: Number(row.recent_resolved),
        accuracyDrop: drop,
        alerts,
      };
    });
  }
}
