import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { ConfigurationError, DatabaseLockedError } from '../errors';

export interface EmbeddedDatabaseOptions {
  /** Directory for the data files; `undefined` or 'memory://' = in memory (tests). */
  dataDir?: string;
  /** How long a second process waits for the data directory's lock before giving up (default 10_000 ms). */
  lockWaitMs?: number;
  /** Told once, with a line for humans, when another process holds the data directory and this one starts waiting. */
  onLockWait?: (message: string) => void;
}

export interface EmbeddedDatabase {
  /**
   * postgres:// URL of the socket server, for pg / TypeORM. Give each client a pool of exactly 1:
   * PGlite is a single PostgreSQL backend (one session). Several clients may connect; the
   * server runs their messages one at a time and a whole transaction at a time.
   */
  readonly url: string;
  readonly dataDir: string; // absolute path, or 'memory://'
  /** Client messages waiting for the single session, e.g. while another client's transaction is open. */
  queuedMessages(): number;
  /** Stops the socket server, closes PGlite cleanly (flushes to disk), releases the lock. Idempotent. */
  close(): Promise<void>;
}

const MEMORY = 'memory://';
/** Clients (each with a pool of 1) the embedded server accepts at once. */
const EMBEDDED_MAX_CLIENTS = 16;

/**
 * Starts PGlite (PostgreSQL in WASM, with pgvector) on `dataDir` and serves it over the
 * PostgreSQL wire protocol on 127.0.0.1 at a free port, so `pg` and TypeORM use it unchanged.
 */
export async function startEmbeddedDatabase(options: EmbeddedDatabaseOptions = {}): Promise<EmbeddedDatabase> {
  await assertDynamicImport();
  const requested = options.dataDir;
  const dataDir = requested === undefined || requested.startsWith(MEMORY) ? MEMORY : path.resolve(requested);

  let releaseLock = (): void => undefined;
  if (dataDir !== MEMORY) {
    fs.mkdirSync(dataDir, { recursive: true }); // PGlite itself only creates the last path segment
    releaseLock = await acquireLock(dataDir, options.lockWaitMs ?? 10_000, options.onLockWait);
  }
  const { db, server } = await serve(dataDir).catch((err: unknown) => {
    releaseLock();
    throw err;
  });

  let closing: Promise<void> | undefined;
  return {
    // After start() the server reports the port the OS picked for port 0 ("127.0.0.1:41234").
    url: `postgres://postgres@${server.getServerConn()}/postgres`,
    dataDir,
    queuedMessages: () => server.getStats().queuedQueries,
    close: () =>
      (closing ??= (async () => {
        try {
          await server.stop(); // drops the client connection, rolling back its open transaction
          await db.close(); // shuts PostgreSQL down cleanly: checkpoint, data files flushed
        } finally {
          releaseLock();
        }
      })()),
  };
}

async function serve(dataDir: string): Promise<{ db: PGlite; server: PGLiteSocketServer }> {
  const { PGlite, PGLiteSocketServer, vector } = loadEmbeddedPackages();
  const db = await PGlite.create({ dataDir, extensions: { vector } });
  try {
    await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
    // PGlite has one session, shared by every client. The socket server queues clients'
    // messages and, while one client has a transaction open, runs only that client's, so
    // several single-connection clients (the app, the migration runner) can coexist.
    // Session state (SET, advisory locks) is shared between them: do not rely on it.
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: EMBEDDED_MAX_CLIENTS });
    await server.start();
    return { db, server };
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

/** The embedded database's packages: optional peer dependencies of @strata/base. */
const EMBEDDED_PACKAGES = ['@electric-sql/pglite', '@electric-sql/pglite-socket', '@electric-sql/pglite-pgvector'];

/**
 * Loads PGlite on first use, so an application that runs on a PostgreSQL server never loads it
 * (nor needs it installed). A missing package is a ConfigurationError that says how to get it.
 */
function loadEmbeddedPackages(): {
  PGlite: typeof import('@electric-sql/pglite').PGlite;
  PGLiteSocketServer: typeof import('@electric-sql/pglite-socket').PGLiteSocketServer;
  vector: typeof import('@electric-sql/pglite-pgvector').vector;
} {
  try {
    // require(), not import(): base is CommonJS, and import() would load PGlite's ESM build instead.
    const { PGlite } = require('@electric-sql/pglite') as typeof import('@electric-sql/pglite');
    const { PGLiteSocketServer } = require('@electric-sql/pglite-socket') as typeof import('@electric-sql/pglite-socket');
    const { vector } = require('@electric-sql/pglite-pgvector') as typeof import('@electric-sql/pglite-pgvector');
    return { PGlite, PGLiteSocketServer, vector };
  } catch (err) {
    const missing = EMBEDDED_PACKAGES.find(
      (name) => (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String(err).includes(`'${name}'`),
    );
    if (!missing) throw err;
    const peers = (require('../../package.json') as { peerDependencies: Record<string, string> }).peerDependencies;
    throw new ConfigurationError(
      `The embedded database needs ${missing}, which is not installed. Install PGlite with ` +
        `\`npm install ${EMBEDDED_PACKAGES.map((name) => `${name}@"${peers[name]}"`).join(' ')}\`, ` +
        'or set DATABASE_URL to use a PostgreSQL server',
      { cause: err },
    );
  }
}

/**
 * PGlite loads its WASM and extension files with dynamic import(). Where that is missing (jest
 * without `node --experimental-vm-modules`, electric-sql/pglite#224) PGlite dies with an
 * unhandled rejection that takes the whole process down; fail with a clear error instead.
 */
async function assertDynamicImport(): Promise<void> {
  try {
    await import('node:path');
  } catch (err) {
    throw new ConfigurationError(
      'The embedded database (PGlite) needs dynamic import(), which this runtime lacks; under jest, run node with --experimental-vm-modules',
      { cause: err },
    );
  }
}

/** Contents of the lock file. `host` because a pid means nothing on another machine (shared disks). */
interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
}

/** A lock file that cannot be parsed is only judged stale after this long (it may be mid-write). */
const UNREADABLE_LOCK_GRACE_MS = 5_000;

/**
 * Takes `<dataDir>.lock` (next to the data directory, not in it: PGlite owns that directory),
 * waiting up to `waitMs` for a live owner and taking over the lock of a dead one.
 * Returns the function that releases it; that also runs on process exit.
 */
async function acquireLock(dataDir: string, waitMs: number, onWait?: (message: string) => void): Promise<() => void> {
  const lockPath = `${dataDir}.lock`;
  const me: LockOwner = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString() };
  const mine = JSON.stringify(me);
  const deadline = Date.now() + waitMs;

  for (;;) {
    try {
      fs.writeFileSync(lockPath, mine, { flag: 'wx' }); // 'wx': create, or fail if it exists — atomic
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const seen = readText(lockPath);
    if (seen === undefined) continue; // released since we tried; try again
    const owner = parseOwner(seen);
    if (isStale(owner, lockPath)) {
      removeStaleLock(lockPath, seen);
      continue;
    }
    const holder = owner ? `pid ${owner.pid}${owner.host === me.host ? '' : ` on ${owner.host}`}` : 'an unknown process';
    if (onWait) {
      onWait(`The embedded database in ${dataDir} is in use by ${holder}; waiting up to ${waitMs} ms for it`);
      onWait = undefined; // once
    }
    if (Date.now() >= deadline) {
      throw new DatabaseLockedError(
        `The embedded database in ${dataDir} is in use by ${holder} (lock file ${lockPath}); ` +
          'stop that process, or give this one its own database with DATABASE_URL or STRATA_DATA_DIR',
      );
    }
    await sleep(Math.min(100, Math.max(1, deadline - Date.now())));
  }

  const release = (): void => {
    process.removeListener('exit', release);
    try {
      // Only ever delete our own lock, never one another process has taken over since.
      if (readText(lockPath) === mine) fs.rmSync(lockPath, { force: true });
    } catch {
      // Best effort: a lock left behind is taken over later, once our pid is gone.
    }
  };
  process.once('exit', release); // best effort: 'exit' does not run on SIGKILL or unhandled signals
  return release;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>;
    const valid = typeof owner.pid === 'number' && Number.isInteger(owner.pid) && owner.pid > 0 && typeof owner.host === 'string';
    return valid ? (owner as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

function isStale(owner: LockOwner | undefined, lockPath: string): boolean {
  if (!owner) {
    // Empty or garbled: a writer is between create and write, or crashed there.
    const stat = fs.statSync(lockPath, { throwIfNoEntry: false });
    return stat !== undefined && Date.now() - stat.mtimeMs > UNREADABLE_LOCK_GRACE_MS;
  }
  if (owner.host !== os.hostname()) return false; // we cannot tell; assume it is alive
  try {
    process.kill(owner.pid, 0); // signal 0: existence check only
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'EPERM'; // EPERM: alive, just not ours
  }
}

/**
 * Removes a dead owner's lock. Renaming it aside first means that when several processes take
 * over the same stale lock at once, only one removes it, and nobody removes the fresh lock
 * another has just created in its place (that one is checked and put back).
 */
function removeStaleLock(lockPath: string, seen: string): void {
  const aside = `${lockPath}.${process.pid}.stale`;
  try {
    fs.renameSync(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else got there first
    throw err;
  }
  if (readText(aside) !== seen) {
    try {
      fs.linkSync(aside, lockPath);
    } catch {
      // A third process has taken the lock meanwhile; it is the owner now.
    }
  }
  fs.rmSync(aside, { force: true });
}
