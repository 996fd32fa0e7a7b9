import { resolve } from 'node:path';
import 'reflect-metadata';
import { DataSource, DataSourceOptions } from 'typeorm';
import { ConfigurationError } from '../errors';
import { StrataModule } from '../module';
import { StrataNamingStrategy } from '../naming';
import { startEmbeddedDatabase } from './embedded';

/** Where Strata's data lives: a PostgreSQL server, or the embedded PGlite default. */
export type DatabaseTarget = { kind: 'server'; url: string } | { kind: 'embedded'; dataDir: string };

export const DEFAULT_DATA_DIR = '.strata/pgdata';

/**
 * The one place that decides which database Strata uses:
 * `DATABASE_URL` → that server; otherwise the embedded PGlite in
 * `STRATA_DATA_DIR` (default `.strata/pgdata`, relative to the working directory).
 * In production (`NODE_ENV=production`) the embedded database must be asked for by
 * setting `STRATA_DATA_DIR`: a deploy that lost its `DATABASE_URL` must not quietly
 * start on an empty local database.
 */
export function resolveDatabaseTarget(env: NodeJS.ProcessEnv = process.env): DatabaseTarget {
  const url = env.DATABASE_URL?.trim();
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new ConfigurationError(`DATABASE_URL must be a postgres:// URL, got "${redactUrl(url)}"`);
    }
    return { kind: 'server', url };
  }
  const requestedDir = env.STRATA_DATA_DIR?.trim();
  if (!requestedDir && env.NODE_ENV?.trim() === 'production') {
    throw new ConfigurationError(
      'NODE_ENV is production but DATABASE_URL is not set: set DATABASE_URL to your PostgreSQL server, ' +
        'or set STRATA_DATA_DIR to run on the embedded database on purpose',
    );
  }
  const dataDir = requestedDir || DEFAULT_DATA_DIR;
  return { kind: 'embedded', dataDir: dataDir === 'memory://' ? dataDir : resolve(dataDir) };
}

/** An open database: a URL any `pg` client can use, and how many connections it takes. */
export interface Database {
  readonly kind: DatabaseTarget['kind'];
  readonly url: string;
  /** The embedded database serves one session at a time, so its pool is exactly 1. */
  readonly poolSize: number;
  /** One line for humans: `embedded PGlite at /path` or `server postgres://host/db`. */
  readonly description: string;
  close(): Promise<void>;
}

export async function openDatabase(target: DatabaseTarget = resolveDatabaseTarget()): Promise<Database> {
  if (target.kind === 'server') {
    return {
      kind: 'server',
      url: target.url,
      poolSize: 10,
      description: `server ${redactUrl(target.url)}`,
      close: async () => undefined,
    };
  }
  const embedded = await startEmbeddedDatabase({ dataDir: target.dataDir });
  return {
    kind: 'embedded',
    url: embedded.url,
    poolSize: 1,
    description: `embedded PGlite at ${embedded.dataDir}`,
    close: () => embedded.close(),
  };
}

export interface DataSourceSettings {
  url: string;
  poolSize?: number;
  /** Modules whose entities this DataSource maps. */
  modules?: StrataModule[];
  /** Extra TypeORM options (logging, migrations …). */
  options?: Partial<DataSourceOptions>;
}

/** A TypeORM DataSource with Strata's conventions (naming, pool size, no synchronize). */
export function createDataSource(settings: DataSourceSettings): DataSource {
  const entities = (settings.modules ?? []).flatMap((m) => m.entities);
  return new DataSource({
    type: 'postgres',
    url: settings.url,
    entities,
    namingStrategy: new StrataNamingStrategy(),
    synchronize: false,
    migrationsRun: false,
    logging: false,
    poolSize: settings.poolSize ?? 10,
    applicationName: 'strata',
    // gen_random_uuid() is built into PostgreSQL 13+; "pgcrypto" makes TypeORM emit it and
    // read it back as a generated uuid. Extensions are the migrations' business, never TypeORM's.
    uuidExtension: 'pgcrypto',
    installExtensions: false,
    ...(settings.options as object),
  } as DataSourceOptions);
}

/** Hide the password of a connection URL before it is printed. */
export function redactUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}

/** Anything that runs SQL: a DataSource, an EntityManager or a QueryRunner. */
export interface Queryable {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query(sql: string, parameters?: unknown[]): Promise<any>;
}
