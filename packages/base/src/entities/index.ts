export * from './organization.entity';
export * from './user.entity';
export * from './organization-membership.entity';
export * from './audit-log-entry.entity';
export * from './partition-policy.entity';
export * from './tenant-row';
