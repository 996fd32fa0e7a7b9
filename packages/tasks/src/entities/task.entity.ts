import { Check, Column, Entity, Index, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { DeletedAtColumn, JsonbColumn, TenantRow } from '@strata/base';
import { TaskDefinition } from './task-definition.entity';
import { Workflow } from './workflow.entity';

export const TASK_STATUSES = ['pending', 'ready', 'running', 'succeeded', 'failed', 'cancelled', 'blocked'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];
/** States a task never leaves. */
export const FINISHED_TASK_STATUSES: readonly TaskStatus[] = ['succeeded', 'failed', 'cancelled'];

/**
 * A unit of work. Status machine:
 * pending (waiting for dependencies) → ready (claimable once `run_after` is reached)
 * → running (held by `locked_by` until `lease_expires_at`) → succeeded | failed, or
 * back to ready for a retry; cancelled at any point before it finishes; blocked
 * when a dependency failed or was cancelled.
 */
@Entity({ schema: 'tasks', name: 'tasks' })
@Unique(['organizationId', 'idempotencyKey'])
@Unique(['organizationId', 'workflowRunId', 'workflowStep'])
@Index(['organizationId', 'status', 'priority'])
@Index(['organizationId', 'projectId'])
@Index(['organizationId', 'parentTaskId'])
@Check('tasks_status_check', `"status" IN ('pending', 'ready', 'running', 'succeeded', 'failed', 'cancelled', 'blocked')`)
@Check('tasks_attempts_check', `"attempts" >= 0 AND "attempts" <= "max_attempts" AND "max_attempts" BETWEEN 1 AND 100`)
@Check('tasks_lease_check', `("status" = 'running') = ("locked_by" IS NOT NULL AND "lease_expires_at" IS NOT NULL)`)
@Check('tasks_finished_at_check', `("status" IN ('succeeded', 'failed', 'cancelled')) = ("finished_at" IS NOT NULL)`)
@Check('tasks_workflow_step_check', `("workflow_run_id" IS NULL) = ("workflow_step" IS NULL)`)
export class Task extends TenantRow {
  /** projects.projects when the composer is installed (it adds the constraint); a plain id otherwise. */
  @Column({ type: 'uuid', nullable: true })
  projectId!: string | null;

  @Column({ type: 'uuid', nullable: true })
  workflowId!: string | null;

  /** Groups the tasks one `instantiateWorkflow` call created. */
  @Column({ type: 'uuid', nullable: true })
  workflowRunId!: string | null;

  /** The workflow step this task was made from. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  workflowStep!: string | null;

  @Column({ type: 'uuid', nullable: true })
  definitionId!: string | null;

  @Column({ type: 'uuid', nullable: true })
  parentTaskId!: string | null;

  /**
   * A topological label kept by the database: greater than the rank of every
   * task this one depends on. A new dependency that already points down the
   * order cannot close a cycle, so the cycle check is O(1) for it.
   */
  @Column({ type: 'integer', default: 0 })
  dagRank!: number;

  @Column({ type: 'varchar', length: 500 })
  title!: string;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status!: TaskStatus;

  /** Higher runs first; equal priorities run oldest first. */
  @Column({ type: 'integer', default: 0 })
  priority!: number;

  @JsonbColumn()
  input!: Record<string, unknown>;

  @Column({ type: 'jsonb', nullable: true })
  output!: Record<string, unknown> | null;

  /** Not claimable before this instant (scheduling and retry backoff). */
  @Column({ type: 'timestamptz', default: () => 'now()' })
  runAfter!: Date;

  /** Attempts started so far (a claim starts one). */
  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ type: 'integer', default: 3 })
  maxAttempts!: number;

  /** The worker holding the task while it runs. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  lockedBy!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  lockedAt!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  leaseExpiresAt!: Date | null;

  @Column({ type: 'text', nullable: true })
  lastError!: string | null;

  /** Enqueueing twice with the same key returns the first task. Unique per organization. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  idempotencyKey!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @DeletedAtColumn()
  deletedAt!: Date | null;

  @ManyToOne(() => Workflow)
  @JoinColumn([
    { name: 'organization_id', referencedColumnName: 'organizationId' },
    { name: 'workflow_id', referencedColumnName: 'id' },
  ])
  workflow?: Workflow;

  @ManyToOne(() => TaskDefinition)
  @JoinColumn([
    { name: 'organization_id', referencedColumnName: 'organizationId' },
    { name: 'definition_id', referencedColumnName: 'id' },
  ])
  definition?: TaskDefinition;

  @ManyToOne(() => Task, { onDelete: 'CASCADE' })
  @JoinColumn([
    { name: 'organization_id', referencedColumnName: 'organizationId' },
    { name: 'parent_task_id', referencedColumnName: 'id' },
  ])
  parent?: Task;
}
