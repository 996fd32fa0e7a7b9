import { Check, Column, Entity, Index, JoinColumn, ManyToOne } from 'typeorm';
import { CreatedAtColumn, Organization, OrganizationIdColumn, UuidPrimaryColumn } from '@strata/base';
import { PromptExecution } from './prompt-execution.entity';

export const SCORE_SOURCES = ['human', 'evaluator', 'agent'] as const;
export type ScoreSource = (typeof SCORE_SOURCES)[number];

/** A score of one execution: a number (`value`) or a category, never both. */
@Entity({ schema: 'prompts', name: 'execution_scores' })
@Index(['organizationId', 'executionId'])
@Check('execution_scores_name_check', `"name" ~ '^[a-z][a-z0-9_.-]{0,63}$'`)
@Check('execution_scores_source_check', `"source" IN ('human', 'evaluator', 'agent')`)
@Check('execution_scores_value_check', `("value" IS NULL) <> ("category" IS NULL)`)
export class ExecutionScore {
  @UuidPrimaryColumn()
  id!: string;

  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @Column({ type: 'uuid' })
  executionId!: string;

  @Column({ type: 'timestamptz' })
  executionStartedAt!: Date;

  @Column({ type: 'varchar', length: 64 })
  name!: string;

  @Column({ type: 'double precision', nullable: true })
  value!: number | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  category!: string | null;

  @Column({ type: 'varchar', length: 16 })
  source!: ScoreSource;

  @Column({ type: 'text', nullable: true })
  comment!: string | null;

  @Column({ type: 'uuid', nullable: true })
  createdBy!: string | null;

  @CreatedAtColumn()
  createdAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => PromptExecution, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'execution_scores_organization_id_execution_id_fkey',
    },
    { name: 'execution_id', referencedColumnName: 'id' },
    { name: 'execution_started_at', referencedColumnName: 'startedAt' },
  ])
  execution?: PromptExecution;
}
