import { DataSource, EntityManager, InstanceChecker } from 'typeorm';
import { queryPrepared } from '../database/prepared';
import { NotMigratedError, TenantError, retryOnConflict, sqlStateOf, translateDatabaseError } from '../errors';
import type { StrataModule } from '../module';
import { TenantContext, assertOrganizationId, withTenant } from './tenancy';

/**
 * Where a service's work runs: a DataSource (standalone: every call is a tenant
 * transaction of its own) or the EntityManager of a tenant transaction the
 * caller opened with `withTenant`, so that work in several services and modules
 * commits or rolls back as one.
 */
export type TenantConnection = DataSource | EntityManager;

/** serialization failure, deadlock, lock not available, query canceled. */
const OPERATIONAL = new Set(['40001', '40P01', '55P03', '57014']);

/**
 * The modules of `$1` (in its order) that are not migrated: their schema holds no
 * table besides the runner's history table (none at all, or all reverted). Read
 * from the catalog, which every role can read, so it works as strata_app too.
 */
const UNMIGRATED = `
  SELECT u.m FROM unnest($1::text[]) WITH ORDINALITY AS u(m, n)
   WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace
                      WHERE s.nspname = u.m AND c.relkind IN ('r', 'p') AND c.relname <> 'migrations')
   ORDER BY u.n`;

/** The modules each DataSource was seen to be migrated for; a failed check is not kept, so it is made again. */
const migratedOn = new WeakMap<DataSource, Set<string>>();

/**
 * The one way a service reaches the database. Standalone, `run` opens a tenant
 * transaction (`withTenant`) and runs it again on a serialization failure or a
 * deadlock (`retryOnConflict`). Bound to a caller's transaction, `run` checks that
 * the transaction is in the same organization (another one is a TenantError) and
 * works in it; only the caller can retry its whole transaction then.
 * The first use on a database also checks that the service's module (and the
 * modules it requires) is migrated there: a NotMigratedError naming the module
 * and the command to run, instead of `relation … does not exist`.
 */
export class TenantScope {
  /** The organization a bound transaction was checked to be in. */
  private verifiedOrganization?: string;
  /** Who acts in the bound transaction (audit log), as the caller entered it. */
  private callerContext: { userId: string | null; actor: string | null } = { userId: null, actor: null };

  constructor(
    readonly connection: TenantConnection,
    readonly module: StrataModule,
  ) {}

  get dataSource(): DataSource {
    return InstanceChecker.isDataSource(this.connection) ? this.connection : this.connection.connection;
  }

  /** The caller's transaction this scope works in; undefined when standalone. */
  get transaction(): EntityManager | undefined {
    return InstanceChecker.isDataSource(this.connection) ? undefined : this.connection;
  }

  /**
   * Runs `work` in a tenant transaction of `organizationId`: its own, or the
   * caller's. `context` (who acts, for the audit log) applies to a transaction of
   * its own; a caller's transaction keeps the context it was opened with.
   */
  async run<T>(organizationId: string, work: (manager: EntityManager) => Promise<T>, context: TenantContext = {}): Promise<T> {
    const transaction = this.transaction;
    if (transaction) {
      await this.enter(transaction, organizationId);
      return work(transaction).catch((error: unknown) => this.rethrow(error));
    }
    assertOrganizationId(organizationId);
    await this.assertMigrated();
    return retryOnConflict(() => withTenant(this.dataSource, organizationId, work, context)).catch((error: unknown) => this.rethrow(error));
  }

  /**
   * One prepared statement (`queryPrepared`) for SQL functions that enter the
   * tenant themselves (`tasks.claim(organization_id, …)`): standalone it is a
   * transaction of its own, retried on conflict; bound, it runs inside the
   * caller's transaction, whose context (user, actor) is restored after it.
   */
  async queryPrepared<T = Record<string, unknown>>(organizationId: string, text: string, parameters: unknown[]): Promise<T[]> {
    const transaction = this.transaction;
    if (transaction) {
      await this.enter(transaction, organizationId);
      const rows = await queryPrepared<T>(transaction, text, parameters).catch((error: unknown) => this.rethrow(error));
      // The function entered the tenant again, as its own actor: the rest of the caller's transaction is the caller's again.
      const { userId, actor } = this.callerContext;
      await transaction.query('SELECT base.enter_tenant($1, $2, $3)', [organizationId, userId, actor]);
      return rows;
    }
    assertOrganizationId(organizationId);
    await this.assertMigrated();
    return retryOnConflict(() => queryPrepared<T>(this.dataSource, text, parameters)).catch((error: unknown) => this.rethrow(error));
  }

  /**
   * Failures about the moment rather than the input are typed here, once for
   * every service: a conflict left after the retries (or in a caller's
   * transaction, which only the caller can re-run), a lock not available, a
   * statement timeout. The rest is the service's to translate: it knows the fields.
   */
  private rethrow(error: unknown): never {
    if (OPERATIONAL.has(sqlStateOf(error) ?? '')) translateDatabaseError(error, this.module.name);
    throw error;
  }

  /** Checks, once per scope and organization, that the caller's transaction is a tenant transaction of that organization. */
  private async enter(transaction: EntityManager, organizationId: string): Promise<void> {
    assertOrganizationId(organizationId);
    const wanted = organizationId.toLowerCase();
    if (!transaction.queryRunner?.isTransactionActive) {
      throw new TenantError('the EntityManager given to .with() has no open transaction: pass the one withTenant() hands its work');
    }
    if (this.verifiedOrganization === wanted) return;
    // The organization comes from the transaction itself, not from what the caller says.
    const [row]: { organization_id: string | null; user_id: string | null; actor: string | null; missing: string[] }[] =
      await transaction.query(
        `SELECT nullif(current_setting('strata.organization_id', true), '') AS organization_id,
                nullif(current_setting('strata.user_id', true), '') AS user_id,
                nullif(current_setting('strata.actor', true), '') AS actor,
                ARRAY(${UNMIGRATED}) AS missing`,
        [this.modulesToCheck()],
      );
    if (row.missing.length > 0) throw new NotMigratedError(row.missing[0]);
    if (row.organization_id === null) {
      throw new TenantError('the transaction given to .with() is not a tenant transaction: open it with withTenant() or enterTenant()');
    }
    if (row.organization_id !== wanted) {
      throw new TenantError(`the transaction given to .with() works in organization ${row.organization_id}, not ${organizationId}`);
    }
    this.verifiedOrganization = wanted;
    this.callerContext = { userId: row.user_id, actor: row.actor };
  }

  /** Standalone: one catalog query the first time this DataSource serves the module. */
  private async assertMigrated(): Promise<void> {
    const dataSource = this.dataSource;
    const seen = migratedOn.get(dataSource) ?? new Set<string>();
    if (seen.has(this.module.name)) return;
    const rows: { m: string }[] = await dataSource.query(UNMIGRATED, [this.modulesToCheck()]);
    if (rows.length > 0) throw new NotMigratedError(rows[0].m);
    seen.add(this.module.name);
    migratedOn.set(dataSource, seen);
  }

  /** The module and the modules it requires, those first. */
  private modulesToCheck(): string[] {
    return [...this.module.requires, this.module.name];
  }
}

/**
 * What every module's service extends: built on a DataSource it works
 * standalone; `service.with(tx)` is the same service inside a caller's tenant
 * transaction:
 *
 *     await withTenant(dataSource, org, async (tx) => {
 *       const task = await tasks.with(tx).enqueue(org, { title: 'Review' });
 *       await events.with(tx).record(org, { taskId: task.id, … });
 *     }); // both or neither
 *
 * Services reach the database only through `this.scope`.
 */
export abstract class TenantService {
  protected readonly scope: TenantScope;

  constructor(connection: TenantConnection, module: StrataModule) {
    this.scope = new TenantScope(connection, module);
  }

  /** This service, working inside `transaction` (the EntityManager `withTenant` hands its work). */
  with(transaction: EntityManager): this {
    if (InstanceChecker.isDataSource(transaction))
      throw new TenantError('.with() takes the transaction withTenant() hands its work, not a DataSource');
    // A copy with its own scope: whatever else the service holds is shared.
    return Object.assign(Object.create(Object.getPrototypeOf(this) as object) as this, this, {
      scope: new TenantScope(transaction, this.scope.module),
    });
  }
}
