import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { JsonbColumn, Organization } from '@strata/base';
import { ModelVersion } from './model-version.entity';

export const VALUE_KINDS = ['probability', 'label', 'number'] as const;
/** `probability` of the positive outcome (0..1, feedback 0 or 1), a class `label`, or a `number` (regression). */
export type ValueKind = (typeof VALUE_KINDS)[number];

export const PREDICTION_STATUSES = ['pending', 'resolved'] as const;
export type PredictionStatus = (typeof PREDICTION_STATUSES)[number];

export const FEEDBACK_SOURCES = ['user', 'system'] as const;
export type FeedbackSource = (typeof FEEDBACK_SOURCES)[number];

/**
 * A prediction a model version made about a target entity, partitioned
 * monthly on `predicted_at` (the seeds expect 10M a month). Its feedback (the
 * actual outcome) is recorded on the same row, once: retention then drops a
 * month of predictions together with their feedback, and accuracy needs no
 * join. `correct` and `error` are computed when the feedback arrives: for a
 * probability, `error` is the squared error (its Brier score); for a number,
 * the absolute error.
 */
@Entity({ schema: 'learning', name: 'predictions' })
@Index('predictions_version_idx', ['organizationId', 'versionId', 'predictedAt'])
@Index('predictions_target_idx', ['organizationId', 'targetType', 'targetId', 'predictedAt'])
@Check('predictions_value_kind_check', `"value_kind" IN ('probability', 'label', 'number')`)
@Check(
  'predictions_predicted_check',
  `CASE "value_kind" WHEN 'label' THEN "predicted_label" IS NOT NULL AND "predicted_value" IS NULL
   WHEN 'probability' THEN "predicted_label" IS NULL AND "predicted_value" BETWEEN 0 AND 1
   ELSE "predicted_label" IS NULL AND "predicted_value" IS NOT NULL END`,
)
@Check('predictions_confidence_check', `"confidence_low" <= "confidence_high"`)
@Check('predictions_status_check', `"status" IN ('pending', 'resolved') AND ("status" = 'resolved') = ("feedback_at" IS NOT NULL)`)
@Check('predictions_feedback_source_check', `"feedback_source" IN ('user', 'system')`)
export class Prediction {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /** The partition key, so part of the primary key. */
  @PrimaryColumn({ type: 'timestamptz', default: () => 'now()' })
  predictedAt!: Date;

  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @Column({ type: 'uuid' })
  versionId!: string;

  /** What is predicted, in the caller's words: `bug_likelihood`, `effort_hours`. */
  @Column({ type: 'varchar', length: 64 })
  predictionType!: string;

  @Column({ type: 'varchar', length: 16 })
  valueKind!: ValueKind;

  /** What it is about: a type (`file`, `task`) and an id in that type's terms. */
  @Column({ type: 'varchar', length: 64 })
  targetType!: string;

  @Column({ type: 'varchar', length: 255 })
  targetId!: string;

  @Column({ type: 'double precision', nullable: true })
  predictedValue!: number | null;

  @Column({ type: 'text', nullable: true })
  predictedLabel!: string | null;

  @Column({ type: 'double precision', nullable: true })
  confidenceLow!: number | null;

  @Column({ type: 'double precision', nullable: true })
  confidenceHigh!: number | null;

  /** How far ahead it predicts. */
  @Column({ type: 'integer', nullable: true })
  horizonSeconds!: number | null;

  @JsonbColumn()
  inputFeatures!: Record<string, unknown>;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status!: PredictionStatus;

  @Column({ type: 'double precision', nullable: true })
  actualValue!: number | null;

  @Column({ type: 'text', nullable: true })
  actualLabel!: string | null;

  @Column({ type: 'boolean', nullable: true })
  correct!: boolean | null;

  @Column({ type: 'double precision', nullable: true })
  error!: number | null;

  @Column({ type: 'varchar', length: 16, nullable: true })
  feedbackSource!: FeedbackSource | null;

  @Column({ type: 'uuid', nullable: true })
  feedbackBy!: string | null;

  @Column({ type: 'text', nullable: true })
  feedbackComment!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  feedbackAt!: Date | null;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => ModelVersion, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'predictions_organization_id_version_id_fkey',
    },
    { name: 'version_id', referencedColumnName: 'id' },
  ])
  version?: ModelVersion;
}
