import { defineModule } from '@strata/base';
import { CodeRepository, Project, ProjectRepository, Team, TeamMember } from './entities';
import { CreateProjectsSchema1795447630546 } from './migrations/1795447630546-create-projects-schema';
import { TenantPrimaryKeys1796203400000 } from './migrations/1796203400000-tenant-primary-keys';

/** Schema `projects`: projects, repositories, the links between them, teams and team members. */
export const projectsModule = defineModule({
  name: 'projects',
  entities: [Project, CodeRepository, ProjectRepository, Team, TeamMember],
  migrations: [CreateProjectsSchema1795447630546, TenantPrimaryKeys1796203400000],
});
