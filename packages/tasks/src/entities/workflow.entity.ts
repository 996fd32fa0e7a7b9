import { Check, Column, Entity, Index, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';

export const WORKFLOW_STATUSES = ['draft', 'active', 'retired'] as const;
export type WorkflowStatus = (typeof WORKFLOW_STATUSES)[number];

/** One step of a workflow: becomes one task when the workflow is instantiated. */
export interface WorkflowStep {
  /** Unique within the workflow; edges name steps by key. */
  key: string;
  title: string;
  /** Name of a task definition of the organization (timeouts, retries). */
  definition?: string;
  priority?: number;
  input?: Record<string, unknown>;
}

/** `to` runs only after `from` has succeeded. */
export interface WorkflowEdge {
  from: string;
  to: string;
}

export interface WorkflowDefinition {
  steps: WorkflowStep[];
  edges: WorkflowEdge[];
}

/** A versioned DAG of steps; `instantiateWorkflow` turns one into tasks and dependencies. */
@Entity({ schema: 'tasks', name: 'workflows' })
@Unique(['organizationId', 'name', 'version'])
@Index(['organizationId', 'projectId'])
@Check('workflows_status_check', `"status" IN ('draft', 'active', 'retired')`)
@Check('workflows_version_check', `"version" >= 1`)
export class Workflow extends TenantRow {
  /** projects.projects when the composer is installed (it adds the constraint); a plain id otherwise. */
  @Column({ type: 'uuid', nullable: true })
  projectId!: string | null;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'integer', default: 1 })
  version!: number;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ type: 'jsonb' })
  definition!: WorkflowDefinition;

  @Column({ type: 'varchar', length: 16, default: 'draft' })
  status!: WorkflowStatus;
}
