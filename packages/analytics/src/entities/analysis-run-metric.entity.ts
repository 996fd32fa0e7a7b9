import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { CreatedAtColumn, Organization, OrganizationIdColumn } from '@strata/base';
import { AnalysisRun } from './analysis-run.entity';

/** One figure a run produced (`coverage` = 81.5 `%`), unique per run and name: a repository's trend is this over its runs. */
@Entity({ schema: 'analytics', name: 'analysis_run_metrics' })
export class AnalysisRunMetric {
  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @PrimaryColumn({ type: 'uuid' })
  runId!: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'double precision' })
  value!: number;

  @Column({ type: 'varchar', length: 32, nullable: true })
  unit!: string | null;

  @CreatedAtColumn()
  createdAt!: Date;

  /** Erased with its organization. */
  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => AnalysisRun, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'analysis_run_metrics_organization_id_run_id_fkey',
    },
    { name: 'run_id', referencedColumnName: 'id' },
  ])
  run?: AnalysisRun;
}
