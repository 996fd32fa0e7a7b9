import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsDate,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Length,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import {
  FieldError,
  NotFoundError,
  StateError,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  validateId,
  validateInput,
} from '@strata/base';
import { FEEDBACK_SOURCES, ModelVersion, Prediction, VALUE_KINDS } from '../entities';
import type { FeedbackSource, ValueKind } from '../entities';
import { learningModule } from '../learning.module';
import { OptionalNotNull } from '../validation';
import { rethrowDatabaseError } from './database-errors';

const NAME = /^[a-z][a-z0-9_]{0,63}$/;
const NAME_MESSAGE = 'must be a lower-case name (letters, digits, _), at most 64';
/** Predictions per `record` call. */
export const MAX_PREDICTION_BATCH = 10_000;
/** The seeds' alert: accuracy more than 20% below the baseline. */
export const ACCURACY_DROP_ALERT = 0.2;

export class PredictionInput {
  @IsUUID() versionId!: string;
  @Matches(NAME, { message: `predictionType ${NAME_MESSAGE}` }) predictionType!: string;
  @IsIn(VALUE_KINDS) valueKind!: ValueKind;
  @Matches(NAME, { message: `targetType ${NAME_MESSAGE}` }) targetType!: string;
  @IsString() @Length(1, 255) targetId!: string;
  @OptionalNotNull() @IsNumber({ allowNaN: false, allowInfinity: false }) predictedValue?: number;
  @OptionalNotNull() @IsString() @Length(1, 1000) predictedLabel?: string;
  @OptionalNotNull() @IsNumber({ allowNaN: false, allowInfinity: false }) confidenceLow?: number;
  @OptionalNotNull() @IsNumber({ allowNaN: false, allowInfinity: false }) confidenceHigh?: number;
  @OptionalNotNull() @IsInt() @Min(0) @Max(2_147_483_647) horizonSeconds?: number;
  @OptionalNotNull() @IsObject() inputFeatures?: Record<string, unknown>;
  /** Default: now. */
  @OptionalNotNull() @IsDate() predictedAt?: Date;
}

class PredictionBatch {
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_PREDICTION_BATCH)
  @ValidateNested({ each: true })
  @Type(() => PredictionInput)
  predictions!: PredictionInput[];
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

  /** Records predictions in one multi-row INSERT (at most {@link MAX_PREDICTION_BATCH}). */
  async record(organizationId: string, predictions: PredictionInput[]): Promise<Prediction[]> {
    const { predictions: valid } = await validateInput(PredictionBatch, { predictions }, 'predictions');
    const errors: FieldError[] = [];
    valid.forEach((p, i) => {
      const label = p.predictedLabel !== undefined;
      const value = p.predictedValue !== undefined;
      if (p.valueKind === 'label' && (!label || value))
        errors.push({
          field: `predictions.${i}.predictedLabel`,
          messages: ['a label prediction has a predictedLabel and no predictedValue'],
        });
      if (p.valueKind !== 'label' && (label || !value))
        errors.push({
          field: `predictions.${i}.predictedValue`,
          messages: [`a ${p.valueKind} prediction has a predictedValue and no predictedLabel`],
        });
      if (p.valueKind === 'probability' && value && (p.predictedValue! < 0 || p.predictedValue! > 1)) {
        errors.push({ field: `predictions.${i}.predictedValue`, messages: ['a probability is between 0 and 1'] });
      }
      if ((p.confidenceLow === undefined) !== (p.confidenceHigh === undefined) || (p.confidenceLow ?? 0) > (p.confidenceHigh ?? 0)) {
        errors.push({ field: `predictions.${i}.confidenceLow`, messages: ['give both bounds, low ≤ high'] });
      }
    });
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
           RETURNING *`,
          [organizationId, JSON.stringify(rows)],
        );
        return hydrate(m, Prediction, inserted);
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
