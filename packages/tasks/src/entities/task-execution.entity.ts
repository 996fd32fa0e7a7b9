import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { JsonbColumn } from '@strata/base';
import { Task } from './task.entity';

export const EXECUTION_STATUSES = ['running', 'succeeded', 'failed', 'lost', 'cancelled'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

/**
 * One attempt at a task (the seeds' agent_task_executions): who ran it, when,
 * how it ended and what it used. Partitioned monthly on `started_at` and
 * maintained by base (`base.run_maintenance()`); the primary key is
 * `(organization_id, id, started_at)`: the tenant first, and the partition
 * key. `lost` = the worker's lease expired before it reported.
 */
@Entity({ schema: 'tasks', name: 'task_executions' })
@Index(['organizationId', 'taskId', 'attempt'])
@Index(['organizationId', 'workerId', 'startedAt'])
@Check('task_executions_status_check', `"status" IN ('running', 'succeeded', 'failed', 'lost', 'cancelled')`)
@Check('task_executions_finished_at_check', `("status" = 'running') = ("finished_at" IS NULL)`)
export class TaskExecution {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /** The partition key, so part of the primary key. */
  @PrimaryColumn({ type: 'timestamptz', default: () => 'now()' })
  startedAt!: Date;

  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @Column({ type: 'uuid' })
  taskId!: string;

  /** 1 for the first attempt. */
  @Column({ type: 'integer' })
  attempt!: number;

  /** The worker or agent that ran the attempt. */
  @Column({ type: 'varchar', length: 255 })
  workerId!: string;

  @Column({ type: 'varchar', length: 16, default: 'running' })
  status!: ExecutionStatus;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @Column({ type: 'integer', nullable: true })
  durationMs!: number | null;

  @Column({ type: 'bigint', nullable: true })
  cpuMs!: string | null;

  @Column({ type: 'bigint', nullable: true })
  peakMemoryBytes!: string | null;

  @Column({ type: 'integer', nullable: true })
  inputTokens!: number | null;

  @Column({ type: 'integer', nullable: true })
  outputTokens!: number | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @JsonbColumn()
  metadata!: Record<string, unknown>;

  @ManyToOne(() => Task, { onDelete: 'CASCADE' })
  @JoinColumn([
    { name: 'organization_id', referencedColumnName: 'organizationId' },
    { name: 'task_id', referencedColumnName: 'id' },
  ])
  task?: Task;
}
