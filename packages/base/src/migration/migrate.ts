import { DataSource, DataSourceOptions } from 'typeorm';
import { ConfigurationError } from '../errors';
import { Database } from '../database/database';
import { StrataModule } from '../module';
import { MigrationRunner, ModuleRunResult, RunnerConnection, RunnerOptions } from './migration-runner';

/** Where `migrate` runs: a `postgres://` URL, an open `Database`, a TypeORM DataSource, or its (postgres) options. */
export type MigrateTarget = string | Database | DataSource | DataSourceOptions;

/**
 * Applies every pending migration of `modules` (dependencies first), for
 * applications that migrate at start-up. The same runner as the CLIs: its own
 * connection, one advisory lock per module, each migration in its own transaction.
 *
 *   await migrate(dataSource, [baseModule, tasksModule]);
 */
export async function migrate(target: MigrateTarget, modules: StrataModule[], options: RunnerOptions = {}): Promise<ModuleRunResult[]> {
  return new MigrationRunner(await runnerConnection(target), options).up(modules);
}

async function runnerConnection(target: MigrateTarget): Promise<RunnerConnection> {
  if (typeof target === 'string') return { url: postgresUrl(target) };
  if (isDatabase(target)) return { url: target.url };
  const options = isDataSource(target) ? target.options : target;
  if (options.type !== 'postgres') throw new ConfigurationError(`migrate() needs a PostgreSQL database, got type "${options.type}"`);
  const ssl = options.ssl === undefined ? {} : { ssl: options.ssl };
  if (options.url) return { url: postgresUrl(options.url), ...ssl };
  const password = typeof options.password === 'function' ? await options.password() : options.password;
  const user = options.username ? encodeURIComponent(options.username) + (password ? `:${encodeURIComponent(password)}` : '') + '@' : '';
  const database = options.database ? `/${encodeURIComponent(options.database)}` : '';
  return { url: `postgres://${user}${options.host ?? 'localhost'}:${options.port ?? 5432}${database}`, ...ssl };
}

function postgresUrl(url: string): string {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new ConfigurationError('migrate() needs a postgres:// URL');
  return url;
}

function isDatabase(target: object): target is Database {
  return 'url' in target && 'close' in target && 'kind' in target;
}

// Duck-typed: an application may load its own copy of TypeORM, whose DataSource is another class.
function isDataSource(target: object): target is DataSource {
  return 'options' in target && 'initialize' in target;
}
