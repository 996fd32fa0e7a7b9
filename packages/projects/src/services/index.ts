export * from './projects.service';
export * from './repositories.service';
export * from './teams.service';
