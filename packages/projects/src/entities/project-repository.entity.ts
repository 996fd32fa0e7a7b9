import { Column, Entity, Index, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';
import { CodeRepository } from './code-repository.entity';
import { Project } from './project.entity';

/**
 * Links a project to a repository. Both references are composite on
 * `organization_id`, so a link can never join two organizations' rows.
 */
@Entity({ schema: 'projects', name: 'project_repositories' })
// Named by hand: the generated name would pass PostgreSQL's 63-byte limit.
@Unique('project_repositories_project_id_repository_id_key', ['organizationId', 'projectId', 'repositoryId'])
@Index(['organizationId', 'repositoryId'])
export class ProjectRepository extends TenantRow {
  @Column({ type: 'uuid' })
  projectId!: string;

  @Column({ type: 'uuid' })
  repositoryId!: string;

  // TypeORM would name a composite key after its own column order (id first); the
  // explicit name keeps `<table>_organization_id_<column>_fkey`, which error messages rely on.
  @ManyToOne(() => Project, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'project_repositories_organization_id_project_id_fkey',
    },
    { name: 'project_id', referencedColumnName: 'id' },
  ])
  project?: Project;

  @ManyToOne(() => CodeRepository, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'project_repositories_organization_id_repository_id_fkey',
    },
    { name: 'repository_id', referencedColumnName: 'id' },
  ])
  repository?: CodeRepository;
}
