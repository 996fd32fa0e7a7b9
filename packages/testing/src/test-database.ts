import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import {
  EmbeddedDatabase,
  MigrationRunner,
  Queryable,
  StrataModule,
  createDataSource,
  orderModules,
  redactUrl,
  startEmbeddedDatabase,
} from '@strata/base';

export type TestDatabaseKind = 'server' | 'testcontainers' | 'embedded';

export interface TestDatabaseOptions {
  /** Modules to migrate (dependencies first). Their entities are mapped on `dataSource`. */
  modules: StrataModule[];
  /** false: an empty database (for tests of the migration runner itself). Default true. */
  migrate?: boolean;
}

export interface TestDatabase {
  readonly kind: TestDatabaseKind;
  /** Connection URL as the owner (superuser on the test server, postgres on PGlite). */
  readonly url: string;
  /** The embedded database serves one session: its pool is 1; the server's is larger. */
  readonly poolSize: number;
  /** Connected TypeORM DataSource with the modules' entities. */
  readonly dataSource: DataSource;
  /** The embedded database itself (kind 'embedded' only), e.g. to see clients queued for its one session. */
  readonly embedded?: EmbeddedDatabase;
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

let announced = false;
function announce(line: string): void {
  if (announced) return;
  announced = true;
  process.stderr.write(`[strata/testing] ${line}\n`);
}

/**
 * A fresh, migrated database for one test file, from the first provider that is there:
 * 1. TEST_DATABASE_URL → a PostgreSQL server: a new database cloned from a template
 *    database that was migrated once (`CREATE DATABASE … TEMPLATE`), dropped afterwards;
 * 2. a reachable Docker engine → Testcontainers with `pgvector/pgvector:pg17`;
 * 3. otherwise embedded PGlite in memory.
 */
export async function createTestDatabase(options: TestDatabaseOptions): Promise<TestDatabase> {
  const modules = orderModules(options.modules);
  const migrate = options.migrate ?? true;
  const serverUrl = process.env.TEST_DATABASE_URL?.trim();
  if (serverUrl) {
    announce(`using the PostgreSQL server ${redactUrl(serverUrl)} (a fresh database per test file)`);
    return serverDatabase(serverUrl, modules, migrate);
  }
  if (await dockerIsReachable()) {
    announce('using Testcontainers (pgvector/pgvector:pg17)');
    return containerDatabase(modules, migrate);
  }
  announce('using embedded PGlite in memory (no TEST_DATABASE_URL, no Docker engine)');
  const embedded = await startEmbeddedDatabase({ dataDir: 'memory://' });
  if (migrate) await new MigrationRunner({ url: embedded.url }).up(modules);
  return { ...(await connect('embedded', embedded.url, 1, modules, () => embedded.close())), embedded };
}

/** Jest helper: a test database for the current file, created in beforeAll and closed in afterAll. */
export function useTestDatabase(options: TestDatabaseOptions): TestDatabase {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase(options);
  }, 180_000);
  afterAll(async () => {
    await db?.close();
  }, 60_000);
  const current = (): TestDatabase => {
    if (!db) throw new Error('useTestDatabase(): the database is ready only inside tests (after beforeAll)');
    return db;
  };
  return {
    get kind() {
      return current().kind;
    },
    get url() {
      return current().url;
    },
    get poolSize() {
      return current().poolSize;
    },
    get dataSource() {
      return current().dataSource;
    },
    get embedded() {
      return current().embedded;
    },
    query: (sql, params) => current().query(sql, params),
    close: () => current().close(),
  };
}

async function connect(
  kind: TestDatabaseKind,
  url: string,
  poolSize: number,
  modules: StrataModule[],
  dispose: () => Promise<void>,
): Promise<TestDatabase> {
  const dataSource = createDataSource({ url, poolSize, modules });
  await dataSource.initialize();
  return {
    kind,
    url,
    poolSize,
    dataSource,
    query: (sql, params) => dataSource.query(sql, params),
    close: async () => {
      await dataSource.destroy().catch(() => undefined);
      await dispose();
    },
  };
}

// --- server: template clones ----------------------------------------------------------

async function serverDatabase(serverUrl: string, modules: StrataModule[], migrate: boolean): Promise<TestDatabase> {
  const name = `strata_test_${randomBytes(6).toString('hex')}`;
  const template = migrate ? await ensureTemplate(serverUrl, modules) : undefined;
  await withAdmin(serverUrl, async (admin) => {
    await retryWhileTemplateBusy(() => admin.query(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ''}`));
    await admin.query(`COMMENT ON DATABASE "${name}" IS '${STALE_MARK} ${new Date().toISOString()}'`);
  });
  const url = databaseUrl(serverUrl, name);
  return connect('server', url, 10, modules, () =>
    withAdmin(serverUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).then(() => undefined)),
  );
}

/**
 * The template is named after a hash of the modules' migrations (their code, and
 * the source files they come from when the workspace has them: a migration may use
 * constants declared beside its class, which the class's own text does not show) and
 * of the runner that applied them (it writes the history tables and their marks), so
 * any change to either gets a new template; concurrent test workers build it
 * once under an advisory lock. The month is part of the name too: partitions are
 * made ahead of the month the template was built in, and a new month gets a new one.
 */
async function ensureTemplate(serverUrl: string, modules: StrataModule[]): Promise<string> {
  const fingerprint = createHash('sha1')
    .update(new Date().toISOString().slice(0, 7))
    .update(MigrationRunner.toString())
    .update(modules.map((m) => `${m.name}<${m.requires}>:${m.migrations.map((c) => `${c.name}=${c.toString()}`).join(',')}`).join('|'))
    .update(migrationSources(modules))
    .digest('hex')
    .slice(0, 16);
  const template = `strata_tpl_${fingerprint}`;
  await withAdmin(serverUrl, async (admin) => {
    await admin.query('SELECT pg_advisory_lock(hashtext($1))', [template]);
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate', [template]);
      if (exists.rowCount) return;
      await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`); // a half-built one from a crashed run
      await dropStaleDatabases({ query: (sql, params) => admin.query(sql, params).then((r) => r.rows) });
      await admin.query(`CREATE DATABASE "${template}"`);
      await admin.query(`COMMENT ON DATABASE "${template}" IS '${STALE_MARK} ${new Date().toISOString()}'`);
      await new MigrationRunner({ url: databaseUrl(serverUrl, template) }).up(modules);
      await admin.query(`ALTER DATABASE "${template}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
    } finally {
      await admin.query('SELECT pg_advisory_unlock(hashtext($1))', [template]);
    }
  });
  return template;
}

/**
 * The text of the migration files of a workspace (`{packages,apps}/<package>/src/migrations/<timestamp>-*.ts`)
 * whose timestamps the modules' migrations carry, found from the working directory upwards; empty outside one.
 */
function migrationSources(modules: StrataModule[]): string {
  const wanted = new Set(modules.flatMap((m) => m.migrations.map((c) => c.name.slice(-13))));
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'nx.json'))) {
      const files = ['packages', 'apps'].flatMap((group) =>
        existsSync(join(dir, group))
          ? readdirSync(join(dir, group)).flatMap((pkg) => {
              const migrations = join(dir, group, pkg, 'src', 'migrations');
              return existsSync(migrations) ? readdirSync(migrations).map((file) => join(migrations, file)) : [];
            })
          : [],
      );
      return files
        .filter((file) => wanted.has(/(\d{13})-[^/\\]*\.ts$/.exec(file)?.[1] ?? ''))
        .sort()
        .map((file) => readFileSync(file, 'utf8'))
        .join('\0');
    }
    if (dirname(dir) === dir) return '';
  }
}

/** Test databases and templates carry this mark and their creation time, so leftovers can be found. */
const STALE_MARK = 'strata test database created';
const STALE_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * Templates are named after the migrations' code, so every change leaves one
 * behind, and a crashed run leaves its test database: drop the ones older than a day.
 */
export async function dropStaleDatabases(admin: Queryable): Promise<void> {
  const rows: { datname: string; description: string }[] = await admin.query(
    `SELECT d.datname, shobj_description(d.oid, 'pg_database') AS description FROM pg_database d
      WHERE d.datname LIKE 'strata\\_t%' AND shobj_description(d.oid, 'pg_database') LIKE $1`,
    [`${STALE_MARK} %`],
  );
  for (const row of rows) {
    const created = Date.parse(row.description.slice(STALE_MARK.length + 1));
    if (Number.isFinite(created) && Date.now() - created > STALE_AFTER_MS) {
      await admin.query(`ALTER DATABASE "${row.datname}" IS_TEMPLATE false`).catch(() => undefined);
      await admin.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`).catch(() => undefined);
    }
  }
}

async function retryWhileTemplateBusy<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      // Two clones starting at the same instant may see each other on the template.
      if (attempt >= 20 || !/being accessed by other users/.test(String((error as Error).message))) throw error;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

async function withAdmin<T>(serverUrl: string, work: (admin: Client) => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}

function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

// --- Testcontainers -----------------------------------------------------------------

async function dockerIsReachable(): Promise<boolean> {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function containerDatabase(modules: StrataModule[], migrate: boolean): Promise<TestDatabase> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('pgvector/pgvector:pg17')
    .withEnvironment({ POSTGRES_PASSWORD: 'postgres', POSTGRES_DB: 'strata_test' })
    .withExposedPorts(5432)
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
    .start();
  const url = `postgres://postgres:postgres@${container.getHost()}:${container.getMappedPort(5432)}/strata_test`;
  if (migrate) await new MigrationRunner({ url }).up(modules);
  return connect('testcontainers', url, 10, modules, async () => {
    await container.stop();
  });
}
