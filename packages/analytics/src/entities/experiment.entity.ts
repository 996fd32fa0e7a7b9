import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn, Unique } from 'typeorm';
import { Organization, OrganizationIdColumn, TenantRow } from '@strata/base';

export const EXPERIMENT_STATUSES = ['draft', 'running', 'stopped'] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];

/** An A/B experiment, bucketed as GrowthBook does (key, seed, hash version, weights, coverage). */
@Entity({ schema: 'analytics', name: 'experiments' })
@Unique(['organizationId', 'key'])
@Check('experiments_status_check', `"status" IN ('draft', 'running', 'stopped')`)
@Check('experiments_hash_version_check', `"hash_version" IN (1, 2)`)
@Check('experiments_coverage_check', `"coverage" >= 0 AND "coverage" <= 1`)
@Check('experiments_weights_check', `cardinality("weights") = jsonb_array_length("variations") AND cardinality("weights") >= 2`)
export class Experiment extends TenantRow {
  @Column({ type: 'varchar', length: 255 })
  key!: string;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'text', nullable: true })
  hypothesis!: string | null;

  /** Variation keys; index 0 is the control. */
  @Column({ type: 'jsonb' })
  variations!: string[];

  @Column({ type: 'double precision', array: true })
  weights!: number[];

  /** The unit attribute hashed (GrowthBook's hashAttribute), e.g. `id`. */
  @Column({ type: 'varchar', length: 64, default: 'id' })
  hashAttribute!: string;

  /** Hashed with the unit; the key unless set. */
  @Column({ type: 'varchar', length: 255 })
  seed!: string;

  @Column({ type: 'smallint', default: 2 })
  hashVersion!: 1 | 2;

  @Column({ type: 'double precision', default: 1 })
  coverage!: number;

  @Column({ type: 'varchar', length: 16, default: 'draft' })
  status!: ExperimentStatus;

  /** The last sample-ratio-mismatch check: its chi-squared p-value, and when. */
  @Column({ type: 'double precision', nullable: true })
  srmPValue!: number | null;

  @Column({ type: 'timestamptz', nullable: true })
  srmCheckedAt!: Date | null;
}

/** A unit's variation, kept (sticky) while the seed is the same, whatever the weights become. */
@Entity({ schema: 'analytics', name: 'experiment_assignments' })
@Check('experiment_assignments_variation_check', `"variation" >= 0`)
export class ExperimentAssignment {
  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @PrimaryColumn({ type: 'uuid' })
  experimentId!: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  unitId!: string;

  @Column({ type: 'integer' })
  variation!: number;

  /** The experiment's seed when the unit was assigned. */
  @Column({ type: 'varchar', length: 255 })
  seed!: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  assignedAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => Experiment, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'experiment_assignments_organization_id_experiment_id_fkey',
    },
    { name: 'experiment_id', referencedColumnName: 'id' },
  ])
  experiment?: Experiment;
}
