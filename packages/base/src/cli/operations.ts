import { mkdirSync, writeFileSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { join } from 'node:path';
import { MigrationError } from '../errors';
import { Database, DatabaseTarget, createDataSource, openDatabase, resolveDatabaseTarget } from '../database';
import { HealthReport, IntegrityReport, healthCheck, validateIntegrity } from '../health';
import {
  DriftReport,
  MigrationRunner,
  assertRevertTarget,
  ModuleRunResult,
  MigrationLintReport,
  ModuleStatus,
  checkSchemaDrift,
  lintMigrations,
  requirementClosure,
} from '../migration';
import { MaintenanceReport, runMaintenance } from '../partitioning';
import { StrataModule } from '../module';
import { snakeCase } from '../naming';

/**
 * What the `strata` CLI and each package's `strata-module` targets do, written
 * once. Each operation opens the selected database, works, and closes it.
 */
export interface OperationOptions {
  target?: DatabaseTarget;
  log?: (line: string) => void;
}

export async function withDatabase<T>(work: (db: Database) => Promise<T>, target?: DatabaseTarget): Promise<T> {
  const db = await openDatabase(target ?? resolveDatabaseTarget());
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

export async function migrateModules(
  modules: StrataModule[],
  options: OperationOptions = {},
): Promise<{ database: string; results: ModuleRunResult[] }> {
  return withDatabase(async (db) => {
    options.log?.(`Database: ${db.description}`);
    const results = await new MigrationRunner({ url: db.url }, { log: options.log }).up(modules);
    return { database: db.description, results };
  }, options.target);
}

export async function revertModule(
  modules: StrataModule[],
  moduleName: string,
  to: string | undefined,
  options: OperationOptions = {},
): Promise<{ module: string; reverted: string[] }> {
  const module = modules.find((m) => m.name === moduleName);
  if (!module) throw new MigrationError(`Unknown module "${moduleName}" (installed: ${modules.map((m) => m.name).join(', ')})`);
  assertRevertTarget(module, to); // a bad --to is bad usage, whatever else is wrong
  // The runner refuses while a module that requires this one is applied, reading every
  // module's history in the database: loaded or not (a module's own target loads only its closure).
  return withDatabase(
    async (db) => ({ module: moduleName, reverted: await new MigrationRunner({ url: db.url }, { log: options.log }).down(module, { to }) }),
    options.target,
  );
}

export async function moduleStatus(
  modules: StrataModule[],
  options: OperationOptions = {},
): Promise<{ database: string; modules: ModuleStatus[] }> {
  return withDatabase(
    async (db) => ({ database: db.description, modules: await new MigrationRunner({ url: db.url }).status(modules) }),
    options.target,
  );
}

/** Opens the selected database and a one-connection DataSource on it for `work`. */
async function withDataSource<T>(work: (dataSource: DataSource, db: Database) => Promise<T>, target?: DatabaseTarget): Promise<T> {
  return withDatabase(async (db) => {
    const dataSource = createDataSource({ url: db.url, poolSize: 1 });
    await dataSource.initialize();
    try {
      return await work(dataSource, db);
    } finally {
      await dataSource.destroy();
    }
  }, target);
}

export async function databaseHealth(modules: StrataModule[], options: OperationOptions = {}): Promise<HealthReport & { target: string }> {
  return withDataSource(
    async (dataSource, db) => ({ target: db.description, ...(await healthCheck(dataSource, modules)) }),
    options.target,
  );
}

export async function databaseIntegrity(options: OperationOptions = {}): Promise<IntegrityReport> {
  return withDataSource((dataSource) => validateIntegrity(dataSource), options.target);
}

export async function maintainPartitions(options: OperationOptions = {}): Promise<MaintenanceReport> {
  return withDataSource((dataSource) => runMaintenance(dataSource), options.target);
}

/**
 * Drift check. With DATABASE_URL: that database, which must be fully migrated.
 * Without: a scratch in-memory database migrated from empty, so the check
 * proves "migrations produce exactly the entities".
 */
export async function checkModuleDrift(
  module: StrataModule,
  installed: StrataModule[],
  options: OperationOptions = {},
): Promise<DriftReport> {
  const target = options.target ?? scratchTarget();
  const closure = requirementClosure(module, installed);
  return withDatabase(async (db) => {
    const runner = new MigrationRunner({ url: db.url }, { log: options.log });
    if (target.kind === 'embedded') await runner.up(closure);
    const pending = (await runner.status(closure)).filter((s) => s.pending.length > 0);
    if (pending.length) {
      throw new MigrationError(
        `Migrate first: pending migrations in ${pending.map((s) => `${s.module} (${s.pending.join(', ')})`).join('; ')}`,
      );
    }
    return checkSchemaDrift(db.url, module, installed);
  }, target);
}

/**
 * Migration lint (squawk) of one module. Its migrations are applied from empty on
 * a scratch database (in-memory unless `target` names an empty one), never on
 * DATABASE_URL's: the lint must see each migration run on the tables before it.
 */
export async function lintModuleMigrations(
  module: StrataModule,
  installed: StrataModule[],
  options: OperationOptions & { cwd?: string } = {},
): Promise<MigrationLintReport> {
  return withDatabase(
    (db) => lintMigrations(db.url, module, installed, { cwd: options.cwd, log: options.log }),
    options.target ?? { kind: 'embedded', dataDir: 'memory://' },
  );
}

/** Writes `src/migrations/<timestamp>-<name>.ts` with the SQL that brings the schema in line with the entities. */
export async function generateMigration(
  module: StrataModule,
  installed: StrataModule[],
  name: string,
  packageDir: string,
  options: OperationOptions = {},
): Promise<{ file: string | null; className: string; statements: string[] }> {
  const report = await checkModuleDrift(module, installed, options);
  // After the module's last migration even when that one was stamped ahead of this clock:
  // the runner orders migrations by timestamp, and a new one must come last.
  const latest = Math.max(0, ...module.migrations.map((m) => Number(m.name.slice(-13)))); // defineModule checked the 13 digits
  const timestamp = Math.max(Date.now(), latest + 1);
  const kebab = snakeCase(name).replace(/_/g, '-');
  const className = `${kebab
    .split('-')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('')}${timestamp}`;
  if (report.statements.length === 0) return { file: null, className, statements: [] };
  const file = join(packageDir, 'src', 'migrations', `${timestamp}-${kebab}.ts`);
  mkdirSync(join(packageDir, 'src', 'migrations'), { recursive: true });
  writeFileSync(file, renderMigration(className, report.statements, report.revert));
  return { file, className, statements: report.statements };
}

function renderMigration(className: string, up: string[], down: string[]): string {
  const lines = (queries: string[]) => queries.map((q) => `    await q.query(${JSON.stringify(q)});`).join('\n');
  return `import { MigrationInterface, QueryRunner } from 'typeorm';

export class ${className} implements MigrationInterface {
  name = '${className}';

  async up(q: QueryRunner): Promise<void> {
${lines(up)}
  }

  async down(q: QueryRunner): Promise<void> {
${lines(down)}
  }
}
`;
}

function scratchTarget(): DatabaseTarget {
  const env = resolveDatabaseTarget();
  return env.kind === 'server' ? env : { kind: 'embedded', dataDir: 'memory://' };
}
