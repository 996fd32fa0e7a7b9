import { defineModule } from '@strata/base';
import { CodeRepository, Project, ProjectRepository, Team, TeamMember } from './entities';
import { CreateProjectsSchema1795447630546 } from './migrations/1795447630546-create-projects-schema';

/** Schema `projects`: projects, repositories, the links between them, teams and team members. */
export const projectsModule = defineModule({
  name: 'projects',
  entities: [Project, CodeRepository, ProjectRepository, Team, TeamMember],
  migrations: [CreateProjectsSchema1795447630546],
});
