import { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { NotMigratedError, TenantError, sqlStateOf } from '../errors';
import { isUuid } from '../validation';

export const APP_ROLE = 'strata_app';

export interface TenantContext {
  /** The user on whose behalf the work runs; recorded in the audit log. */
  userId?: string;
  /** A free-form actor (agent id, service name) recorded in the audit log. */
  actor?: string;
}

/**
 * Runs `work` in one transaction scoped to an organization: the transaction
 * works as the application role (no BYPASSRLS) with `strata.organization_id`
 * set, so row-level security lets it see and write only that organization's
 * rows, whatever role the DataSource connected as. Commits when `work`
 * resolves, rolls back when it throws.
 */
export async function withTenant<T>(
  dataSource: DataSource,
  organizationId: string,
  work: (manager: EntityManager) => Promise<T>,
  context: TenantContext = {},
): Promise<T> {
  assertUuid(organizationId, 'organizationId');
  if (context.userId !== undefined) assertUuid(context.userId, 'userId');
  return dataSource.transaction(async (manager) => {
    await enterTenant(manager.queryRunner!, organizationId, context);
    return work(manager);
  });
}

/** Sets the tenant context on a transaction that is already open (for callers that manage their own). */
export async function enterTenant(queryRunner: QueryRunner, organizationId: string, context: TenantContext = {}): Promise<void> {
  assertUuid(organizationId, 'organizationId');
  if (!queryRunner.isTransactionActive) {
    throw new TenantError('enterTenant needs an open transaction: the tenant setting is transaction-local');
  }
  // base.enter_tenant(): the settings and SET LOCAL ROLE strata_app, in one round trip.
  try {
    await queryRunner.query('SELECT base.enter_tenant($1, $2, $3)', [organizationId, context.userId ?? null, context.actor ?? null]);
  } catch (error) {
    // No schema base (3F000), or no base.enter_tenant in it (42883): base has not been migrated here.
    if (['3F000', '42883'].includes(sqlStateOf(error) ?? '')) throw new NotMigratedError('base', { cause: error });
    throw error;
  }
}

/** For work that enters the tenant in SQL (`base.enter_tenant`): the same check withTenant makes. */
export function assertOrganizationId(organizationId: string): void {
  assertUuid(organizationId, 'organizationId');
}

function assertUuid(value: string, field: string): void {
  if (!isUuid(value)) {
    throw new TenantError(`${field} must be a uuid, got ${JSON.stringify(value)}`);
  }
}

/** Migration helpers: the SQL functions live in schema base so psql users get the same behaviour. */
export async function enableTenantRls(queryRunner: QueryRunner, table: string, tenantColumn = 'organization_id'): Promise<void> {
  await queryRunner.query('SELECT base.enable_tenant_rls($1::regclass, $2)', [table, tenantColumn]);
}

export async function disableTenantRls(queryRunner: QueryRunner, table: string): Promise<void> {
  await queryRunner.query('SELECT base.disable_tenant_rls($1::regclass)', [table]);
}

export async function enableAudit(queryRunner: QueryRunner, table: string): Promise<void> {
  await queryRunner.query('SELECT base.enable_audit($1::regclass)', [table]);
}

export async function disableAudit(queryRunner: QueryRunner, table: string): Promise<void> {
  await queryRunner.query('SELECT base.disable_audit($1::regclass)', [table]);
}
