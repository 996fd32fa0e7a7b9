import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { JsonbColumn, Organization } from '@strata/base';
import { PromptVersion } from './prompt-version.entity';

export const EXECUTION_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type PromptExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/**
 * One use of a prompt version (partitioned monthly on `started_at`): what was
 * rendered with which variables, for which task, and how it ended. One
 * execution may make several LLM calls (`llm_interactions`).
 */
@Entity({ schema: 'prompts', name: 'prompt_executions' })
// Named by hand: the generated name would pass PostgreSQL's 63-byte limit.
@Index('prompt_executions_organization_id_template_id_version_idx', ['organizationId', 'templateId', 'version', 'startedAt'])
@Index(['organizationId', 'taskId'])
@Check('prompt_executions_status_check', `"status" IN ('running', 'succeeded', 'failed', 'cancelled')`)
@Check('prompt_executions_latency_check', `"latency_ms" >= 0 AND "time_to_first_token_ms" >= 0`)
export class PromptExecution {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @PrimaryColumn({ type: 'timestamptz', default: () => 'now()' })
  startedAt!: Date;

  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @Column({ type: 'uuid' })
  templateId!: string;

  @Column({ type: 'integer' })
  version!: number;

  /** The label the version was chosen by, if any. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  label!: string | null;

  /** The rollout that chose the version, if one did. */
  @Column({ type: 'uuid', nullable: true })
  rolloutId!: string | null;

  /** The unit (user, session, repository…) a sticky rollout assigned. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  unitId!: string | null;

  /** The task it ran for (plain column: the composer adds the reference). */
  @Column({ type: 'uuid', nullable: true })
  taskId!: string | null;

  @JsonbColumn()
  variables!: Record<string, unknown>;

  @Column({ type: 'varchar', length: 64, nullable: true })
  renderedInputHash!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  output!: unknown;

  @Column({ type: 'varchar', length: 16, default: 'running' })
  status!: PromptExecutionStatus;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @Column({ type: 'integer', nullable: true })
  latencyMs!: number | null;

  @Column({ type: 'integer', nullable: true })
  timeToFirstTokenMs!: number | null;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => PromptVersion, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'prompt_executions_organization_id_template_id_version_fkey',
    },
    { name: 'template_id', referencedColumnName: 'templateId' },
    { name: 'version', referencedColumnName: 'version' },
  ])
  promptVersion?: PromptVersion;
}
