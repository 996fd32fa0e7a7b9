import { DataSource, Logger, Migration, MigrationExecutor, MigrationInterface, QueryRunner } from 'typeorm';
import type { PostgresDataSourceOptions } from 'typeorm/driver/postgres/PostgresDataSourceOptions';
import { MigrationError, ValidationError } from '../errors';
import { StrataModule, orderModules } from '../module';
import { createDataSource } from '../database/database';

export interface RunnerConnection {
  url: string;
  /** TLS settings, as TypeORM's postgres driver takes them (or put `sslmode` in the URL). */
  ssl?: PostgresDataSourceOptions['ssl'];
}

export interface RunnerOptions {
  /** How long a migration statement waits for a table lock before giving up (PostgreSQL interval). */
  lockTimeout?: string;
  /** Progress lines ("base: applying CreateCoreSchema1795443100000"). */
  log?: (line: string) => void;
  /** A TypeORM logger for every statement the runner sends (the benchmarks record them). */
  logger?: Logger;
}

export interface AppliedMigration {
  name: string;
  appliedAt: Date;
}

export interface ModuleStatus {
  module: string;
  applied: AppliedMigration[];
  pending: string[];
  /** Rows in the history table that no longer match a migration in the code. */
  unknown: string[];
}

export interface ModuleRunResult {
  module: string;
  applied: string[];
}

/**
 * Runs modules' migrations on TypeORM's migrator, with what TypeORM leaves out:
 * - one history table per module, `<schema>.migrations` (with `applied_at`);
 * - a PostgreSQL advisory lock per module, so two deploys at once serialize and
 *   nothing is applied twice (the second one finds nothing pending);
 * - each migration in its own transaction, under `lock_timeout`, so a migration
 *   never queues behind a long-running query and blocks the table for everyone;
 *   a migration with `transaction = false` (CREATE INDEX CONCURRENTLY) runs
 *   outside one, up and down;
 * - what each module requires, recorded on its history table, so a revert sees
 *   every module applied in the database, not only the ones loaded.
 * The runner, not the migrations, owns the schema and its history table.
 */
export class MigrationRunner {
  private readonly lockTimeout: string;
  private readonly log: (line: string) => void;
  private readonly logger?: Logger;

  constructor(
    private readonly connection: RunnerConnection,
    options: RunnerOptions = {},
  ) {
    this.lockTimeout = options.lockTimeout ?? '10s';
    this.log = options.log ?? (() => undefined);
    this.logger = options.logger;
  }

  /** Applies every pending migration of the given modules, dependencies first. */
  async up(modules: StrataModule[]): Promise<ModuleRunResult[]> {
    const results: ModuleRunResult[] = [];
    for (const module of orderModules(modules)) {
      const applied = await this.withModule(module, async (executor, queryRunner) => {
        const pending = await executor.getPendingMigrations();
        const names: string[] = [];
        for (const migration of pending) {
          this.log(`${module.name}: applying ${migration.name}`);
          try {
            // One migration at a time so a failure names its migration and leaves the earlier ones applied.
            if (!(await this.executeOne(executor, queryRunner, module.name, migration))) continue;
          } catch (error) {
            throw new MigrationError(
              `${module.name}: migration ${migration.name} failed and ${undone(module, migration.name)} (${names.length} applied before it): ${describe(error)}`,
              { cause: error },
            );
          }
          names.push(migration.name);
        }
        return names;
      });
      results.push({ module: module.name, applied });
    }
    return results;
  }

  /**
   * Reverts the module's latest migration, or with `to`, every migration applied
   * after `to` (`to: '0'` reverts them all). Returns the reverted names, newest first.
   * Refused while a module that requires this one is applied in the database: its
   * migrations may use anything this module created (a function its triggers call,
   * say), however recent.
   */
  async down(module: StrataModule, options: { to?: string } = {}): Promise<string[]> {
    const target = options.to;
    assertRevertTarget(module, target);
    return this.withModule(module, async (executor, queryRunner) => {
      const executed = await executor.getExecutedMigrations();
      if (target !== undefined && target !== '0' && !executed.some((m) => matchesMigration(m.name, target))) {
        // "Keep X" for an X that is not there has no answer: reverting everything would be a guess.
        const name = module.migrations.find((m) => matchesMigration(m.name, target))?.name ?? target;
        throw ValidationError.forField('to', `migration ${name} of module ${module.name} is not applied (it is pending): nothing to keep`);
      }
      if (executed.length === 0) return [];
      const dependents = await appliedDependents(queryRunner, module.name);
      if (dependents.length) {
        throw new MigrationError(`Cannot revert ${module.name}: ${dependents.join(', ')} still depend on it; revert them first`);
      }
      const reverted: string[] = [];
      for (;;) {
        const last = sortNewestFirst(await executor.getExecutedMigrations())[0];
        if (!last) break;
        if (target !== undefined && target !== '0' && matchesMigration(last.name, target)) break;
        this.log(`${module.name}: reverting ${last.name}`);
        try {
          await this.revertOne(queryRunner, module.name, last.name);
        } catch (error) {
          throw new MigrationError(`${module.name}: reverting ${last.name} failed and ${undone(module, last.name)}: ${describe(error)}`, {
            cause: error,
          });
        }
        reverted.push(last.name);
        if (target === undefined) break;
      }
      return reverted;
    });
  }

  async status(modules: StrataModule[]): Promise<ModuleStatus[]> {
    const statuses: ModuleStatus[] = [];
    for (const module of orderModules(modules)) {
      statuses.push(await this.withModule(module, (_executor, queryRunner) => readStatus(module, queryRunner), { lock: false }));
    }
    return statuses;
  }

  /**
   * Runs one migration in its own transaction (unless it opts out, e.g. for CREATE
   * INDEX CONCURRENTLY). The history is re-read inside that transaction: on the
   * embedded database every client shares one session, so advisory locks do not
   * separate them, but transactions never interleave. Returns false when another
   * run applied it first. Without a transaction the history row is written only
   * once `up` has succeeded, so a failure leaves the migration pending.
   */
  private async executeOne(executor: MigrationExecutor, queryRunner: QueryRunner, schema: string, migration: Migration): Promise<boolean> {
    return this.inTransactionUnlessOptedOut(queryRunner, migration.instance, async () => {
      const done = await queryRunner.query(`SELECT 1 FROM "${schema}"."migrations" WHERE "name" = $1`, [migration.name]);
      if (done.length === 0) await executor.executeMigration(migration);
      return done.length === 0;
    });
  }

  /**
   * Reverts one applied migration: its `down`, then its history row, in one
   * transaction, or (`transaction = false`) one after the other, so a failed
   * `down` leaves the migration applied. (TypeORM's undoLastMigration always
   * opens a transaction, which CREATE/DROP INDEX CONCURRENTLY refuse.)
   */
  private async revertOne(queryRunner: QueryRunner, schema: string, name: string): Promise<void> {
    const instance = queryRunner.connection.migrations.find((m) => (m.name ?? m.constructor.name) === name);
    if (!instance) throw new MigrationError(`${schema}: ${name} is applied but is not among the module's migrations`);
    await this.inTransactionUnlessOptedOut(queryRunner, instance, async () => {
      await instance.down(queryRunner);
      await queryRunner.query(`DELETE FROM "${schema}"."migrations" WHERE "name" = $1`, [name]);
    });
  }

  private async inTransactionUnlessOptedOut<T>(
    queryRunner: QueryRunner,
    migration: MigrationInterface | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    const transactional = inTransaction(migration);
    if (transactional) await queryRunner.startTransaction();
    try {
      const result = await work();
      if (transactional) await queryRunner.commitTransaction();
      return result;
    } catch (error) {
      if (transactional && queryRunner.isTransactionActive) await queryRunner.rollbackTransaction().catch(() => undefined);
      throw error;
    }
  }

  /** The module's schema and history table, marked with what the module requires. Part of the class, so test templates follow its changes. */
  private async ensureHistoryTable(queryRunner: QueryRunner, module: StrataModule, create: boolean): Promise<void> {
    if (!create) return; // status never writes
    const schema = module.name;
    await queryRunner.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS "${schema}"."migrations" (
         "id" serial NOT NULL,
         "timestamp" bigint NOT NULL,
         "name" character varying NOT NULL,
         "applied_at" timestamptz NOT NULL DEFAULT now(),
         CONSTRAINT "migrations_pkey" PRIMARY KEY ("id"))`,
    );
    // What the module requires travels with its history, so a revert run with only some
    // modules loaded (a module's own Nx target) still sees who depends on what.
    const mark = `${REQUIRES_MARK} ${module.requires.join(',')}`.trim();
    await queryRunner.query(`COMMENT ON TABLE "${schema}"."migrations" IS '${mark.replace(/'/g, "''")}'`);
  }

  private async withModule<T>(
    module: StrataModule,
    work: (executor: MigrationExecutor, queryRunner: QueryRunner) => Promise<T>,
    { lock = true } = {},
  ): Promise<T> {
    const dataSource = createDataSource({
      url: this.connection.url,
      poolSize: 1,
      options: {
        schema: module.name,
        migrationsTableName: 'migrations',
        migrations: module.migrations,
        migrationsTransactionMode: 'each',
        ...(this.connection.ssl === undefined ? {} : { ssl: this.connection.ssl }),
        ...(this.logger ? { logger: this.logger, logging: true } : {}),
      },
    });
    await dataSource.initialize();
    const queryRunner = dataSource.createQueryRunner();
    try {
      await queryRunner.connect();
      if (lock) {
        await queryRunner.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', ['strata.migrate', module.name]);
      }
      await queryRunner.query(`SET lock_timeout = '${this.lockTimeout.replace(/'/g, '')}'`);
      await this.ensureHistoryTable(queryRunner, module, lock);
      const executor = new MigrationExecutor(dataSource, queryRunner);
      executor.transaction = 'each';
      return await work(executor, queryRunner);
    } finally {
      await releaseQuietly(queryRunner, dataSource, lock);
    }
  }
}

/** `COMMENT ON TABLE <schema>.migrations IS 'strata:requires base,projects'`: written by the runner on every migrate and revert. */
const REQUIRES_MARK = 'strata:requires';

/**
 * Modules applied in the database (a history table with at least one row) that
 * require `moduleName`, read from the marks on their history tables. A history
 * table without a mark (written by a runner older than the mark) cannot say what
 * its module requires, so it counts as a dependent until that module is migrated once more.
 */
async function appliedDependents(queryRunner: QueryRunner, moduleName: string): Promise<string[]> {
  const histories: { module: string; mark: string | null }[] = await queryRunner.query(
    `SELECT n.nspname AS "module", obj_description(c.oid, 'pg_class') AS "mark"
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relname = 'migrations' AND c.relkind = 'r' AND n.nspname <> $1
        AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'applied_at' AND NOT a.attisdropped)
      ORDER BY 1`,
    [moduleName],
  );
  const dependents: string[] = [];
  for (const { module, mark } of histories) {
    // undefined: a history without the mark, which cannot say what its module requires
    const requires = mark?.startsWith(REQUIRES_MARK)
      ? mark
          .slice(REQUIRES_MARK.length)
          .split(',')
          .map((m) => m.trim())
      : undefined;
    if (requires && !requires.includes(moduleName)) continue;
    const [{ applied }] = await queryRunner.query(
      `SELECT EXISTS (SELECT 1 FROM "${module.replace(/"/g, '""')}"."migrations") AS "applied"`,
    );
    if (applied) dependents.push(requires ? module : `${module} (its history does not say what it requires: migrate it once)`);
  }
  return dependents;
}

async function readStatus(module: StrataModule, queryRunner: QueryRunner): Promise<ModuleStatus> {
  const exists = await queryRunner.query(`SELECT to_regclass($1) IS NOT NULL AS "exists"`, [`"${module.name}"."migrations"`]);
  const rows: { name: string; applied_at: Date }[] = exists[0].exists
    ? await queryRunner.query(`SELECT "name", "applied_at" FROM "${module.name}"."migrations" ORDER BY "timestamp", "id"`)
    : [];
  const appliedNames = new Set(rows.map((r) => r.name));
  const known = module.migrations.map((m) => m.name);
  return {
    module: module.name,
    applied: rows.filter((r) => known.includes(r.name)).map((r) => ({ name: r.name, appliedAt: new Date(r.applied_at) })),
    pending: known.filter((name) => !appliedNames.has(name)),
    unknown: rows.map((r) => r.name).filter((name) => !known.includes(name)),
  };
}

async function releaseQuietly(queryRunner: QueryRunner, dataSource: DataSource, unlock: boolean): Promise<void> {
  try {
    if (unlock && !queryRunner.isReleased) {
      await queryRunner.query('SELECT pg_advisory_unlock_all()');
    }
  } catch {
    // The session is going away anyway; its advisory locks go with it.
  }
  await queryRunner.release().catch(() => undefined);
  await dataSource.destroy().catch(() => undefined);
}

/** A migration is named by its class name or by its 13-digit timestamp: never by a prefix, which could name several. */
function matchesMigration(name: string, wanted: string): boolean {
  return name === wanted || (/^\d{13}$/.test(wanted) && name.endsWith(wanted));
}

function sortNewestFirst(migrations: Migration[]): Migration[] {
  return [...migrations].sort((a, b) => b.timestamp - a.timestamp);
}

function inTransaction(migration: MigrationInterface | undefined): boolean {
  return migration?.transaction !== false;
}

/** How a failed migration left things: rolled back, or (outside a transaction) whatever its statements did before the failure. */
function undone(module: StrataModule, name: string): string {
  const migration = module.migrations.find((m) => m.name === name);
  return !migration || inTransaction(new migration())
    ? 'was rolled back'
    : 'ran outside a transaction: statements before the failure stay done, the history is unchanged';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** `to` of a revert: undefined (the latest), '0' (all), or the name or timestamp of one of the module's migrations. */
export function assertRevertTarget(module: StrataModule, to: string | undefined): void {
  const known = module.migrations.map((m) => m.name);
  if (to !== undefined && to !== '0' && !known.some((name) => matchesMigration(name, to))) {
    throw ValidationError.forField('to', `no migration "${to}" in module ${module.name} (known: ${known.join(', ')})`);
  }
}
