export * from './project.entity';
export * from './code-repository.entity';
export * from './project-repository.entity';
export * from './team.entity';
export * from './team-member.entity';
