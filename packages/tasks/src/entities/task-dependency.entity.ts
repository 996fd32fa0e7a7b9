import { Check, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { CreatedAtColumn } from '@strata/base';
import { Task } from './task.entity';

/**
 * `task_id` runs only after `depends_on_task_id` has succeeded. The edges form a
 * DAG: a trigger refuses an edge that would close a cycle, serialized per
 * organization so two sessions adding the two halves of a cycle cannot both win.
 */
@Entity({ schema: 'tasks', name: 'task_dependencies' })
@Index(['organizationId', 'dependsOnTaskId'])
@Check('task_dependencies_depends_on_task_id_check', `"task_id" <> "depends_on_task_id"`)
export class TaskDependency {
  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @PrimaryColumn({ type: 'uuid' })
  taskId!: string;

  @PrimaryColumn({ type: 'uuid' })
  dependsOnTaskId!: string;

  @CreatedAtColumn()
  createdAt!: Date;

  @ManyToOne(() => Task, { onDelete: 'CASCADE' })
  @JoinColumn([
    { name: 'organization_id', referencedColumnName: 'organizationId' },
    { name: 'task_id', referencedColumnName: 'id' },
  ])
  task?: Task;

  @ManyToOne(() => Task, { onDelete: 'CASCADE' })
  @JoinColumn([
    { name: 'organization_id', referencedColumnName: 'organizationId' },
    { name: 'depends_on_task_id', referencedColumnName: 'id' },
  ])
  dependsOn?: Task;
}
