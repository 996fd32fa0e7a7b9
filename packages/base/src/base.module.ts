import { AuditLogEntry, Organization, OrganizationMembership, PartitionPolicyRow, User } from './entities';
import { CreateCoreSchema1795443100000 } from './migrations/1795443100000-create-core-schema';
import { Partitioning1795443200000 } from './migrations/1795443200000-partitioning';
import { CreateAuditLog1795443300000 } from './migrations/1795443300000-create-audit-log';
import { CreateHealthCheck1795443400000 } from './migrations/1795443400000-create-health-check';
import { CreateValidateIntegrity1795443500000 } from './migrations/1795443500000-create-validate-integrity';
import { CreateEnterTenant1795451000000 } from './migrations/1795451000000-create-enter-tenant';
import { InlineCurrentOrganizationId1796115300000 } from './migrations/1796115300000-inline-current-organization-id';
import { CreateAutoAnalyze1796119318451 } from './migrations/1796119318451-create-auto-analyze';
import { UsersVisibleToMembers1796200000000 } from './migrations/1796200000000-users-visible-to-members';
import { OperatorOnlyMaintenance1796200100000 } from './migrations/1796200100000-operator-only-maintenance';
import { RequireAppRoleMembership1796200200000 } from './migrations/1796200200000-require-app-role-membership';
import { TenantPrimaryKeys1796203000000 } from './migrations/1796203000000-tenant-primary-keys';
import { EnterTenantSetLocal1796203100000 } from './migrations/1796203100000-enter-tenant-set-local';
import { ValidateTenantKeys1796203200000 } from './migrations/1796203200000-validate-tenant-keys';
import { defineModule } from './module';

/** The core module every other module requires: schema `base`. */
export const baseModule = defineModule({
  name: 'base',
  entities: [Organization, User, OrganizationMembership, AuditLogEntry, PartitionPolicyRow],
  migrations: [
    CreateCoreSchema1795443100000,
    Partitioning1795443200000,
    CreateAuditLog1795443300000,
    CreateHealthCheck1795443400000,
    CreateValidateIntegrity1795443500000,
    CreateEnterTenant1795451000000,
    InlineCurrentOrganizationId1796115300000,
    CreateAutoAnalyze1796119318451,
    UsersVisibleToMembers1796200000000,
    OperatorOnlyMaintenance1796200100000,
    RequireAppRoleMembership1796200200000,
    TenantPrimaryKeys1796203000000,
    EnterTenantSetLocal1796203100000,
    ValidateTenantKeys1796203200000,
  ],
});
