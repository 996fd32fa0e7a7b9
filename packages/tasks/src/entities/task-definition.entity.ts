import { Check, Column, Entity, Unique } from 'typeorm';
import { JsonbColumn, TenantRow } from '@strata/base';

/**
 * A kind of work agents know how to do: its input schema, how long one attempt
 * may take, and how failures are retried (exponential backoff with a cap).
 */
@Entity({ schema: 'tasks', name: 'task_definitions' })
@Unique(['organizationId', 'name'])
@Check('task_definitions_timeout_seconds_check', `"timeout_seconds" > 0`)
@Check('task_definitions_max_attempts_check', `"max_attempts" BETWEEN 1 AND 100`)
@Check(
  'task_definitions_backoff_check',
  `"backoff_base_seconds" >= 0 AND "backoff_factor" >= 1 AND "backoff_max_seconds" >= "backoff_base_seconds"`,
)
export class TaskDefinition extends TenantRow {
  @Column({ type: 'varchar', length: 255 })
  name!: string;

  /** What the work is (e.g. `code_review`, `test_run`): agents pick definitions by kind. */
  @Column({ type: 'varchar', length: 64 })
  kind!: string;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  /** JSON Schema of a task's input; kept for agents and tools, not enforced by the database. */
  @JsonbColumn()
  inputSchema!: Record<string, unknown>;

  @Column({ type: 'integer', default: 3600 })
  timeoutSeconds!: number;

  @Column({ type: 'integer', default: 3 })
  maxAttempts!: number;

  @Column({ type: 'integer', default: 10 })
  backoffBaseSeconds!: number;

  @Column({ type: 'double precision', default: 2 })
  backoffFactor!: number;

  @Column({ type: 'integer', default: 3600 })
  backoffMaxSeconds!: number;

  @JsonbColumn()
  metadata!: Record<string, unknown>;
}
