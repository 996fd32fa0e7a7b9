import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { waitFor } from '@strata/testing';
import { EmbeddedDatabase, EmbeddedDatabaseOptions, startEmbeddedDatabase } from '../src/database/embedded';
import { DatabaseLockedError } from '../src/errors';

// Real PGlite throughout, in this process and in child processes (fixtures/embedded-holder.js).
// PGlite needs dynamic import(), so jest must run under `node --experimental-vm-modules`.
// A first start on an empty directory runs initdb (~5 s), a restart takes well under a second,
// so the lock tests copy a data directory seeded once in beforeAll.
const TIMEOUT = 60_000;
const HOLDER = path.join(__dirname, 'fixtures', 'embedded-holder.js');

let root: string;
let template: string;
const open: EmbeddedDatabase[] = [];
const children: ChildProcessWithoutNullStreams[] = [];

async function start(dataDir: string, options: Omit<EmbeddedDatabaseOptions, 'dataDir'> = {}): Promise<EmbeddedDatabase> {
  const db = await startEmbeddedDatabase({ dataDir, ...options });
  open.push(db);
  return db;
}

async function query<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

async function notes(dataDir: string): Promise<string[]> {
  const db = await start(dataDir);
  const rows = await query<{ body: string }>(db.url, 'select body from notes order by id');
  await db.close();
  return rows.map((r) => r.body);
}

/** A fresh copy of the seeded data directory (one note: 'seed'). */
function seededDir(): string {
  const dir = fs.mkdtempSync(path.join(root, 'db-'));
  const dataDir = path.join(dir, 'data');
  fs.cpSync(template, dataDir, { recursive: true });
  return dataDir;
}

/** Spawns the holder fixture and resolves once it has the database open. */
function spawnHolder(dataDir: string, mode = 'hold', note?: string): Promise<ChildProcessWithoutNullStreams> {
  const child = spawn(process.execPath, [HOLDER, dataDir, mode, ...(note ? [note] : [])]);
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d));
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (out.includes('ready')) resolve(child);
    });
    // 'close', not 'exit': it comes after all of stdout has been read.
    child.once('close', (code) => reject(new Error(`holder exited (${code}) before ready: ${err}`)));
  });
}

function exited(child: ChildProcessWithoutNullStreams): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

function readLock(dataDir: string): { pid: number } {
  return JSON.parse(fs.readFileSync(`${dataDir}.lock`, 'utf8'));
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-embedded-'));
  template = path.join(root, 'template');
  const db = await start(template);
  await query(db.url, 'create table notes (id serial primary key, body text not null)');
  await query(db.url, `insert into notes (body) values ('seed')`);
  await db.close();
}, TIMEOUT);

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await exited(child);
  }
  await Promise.all(open.splice(0).map((db) => db.close()));
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((db) => db.close())); // if beforeAll failed half-way
  fs.rmSync(root, { recursive: true, force: true });
});

describe('startEmbeddedDatabase', () => {
  it(
    'persists data across restarts, with pgvector available',
    async () => {
      const dataDir = path.join(root, 'fresh', 'nested', 'data'); // parents do not exist yet

      const first = await start(dataDir);
      expect(first.dataDir).toBe(dataDir);
      expect(first.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
      expect(readLock(dataDir).pid).toBe(process.pid);
      await query(first.url, 'create table items (id int primary key, embedding vector(3))');
      await query(first.url, `insert into items values (1, '[1,2,3]')`);
      await first.close();
      await first.close(); // idempotent
      expect(fs.existsSync(`${dataDir}.lock`)).toBe(false);

      const second = await start(dataDir);
      expect(await query(second.url, 'select id, embedding::text from items')).toEqual([{ id: 1, embedding: '[1,2,3]' }]);
      const [{ distance }] = await query<{ distance: number }>(second.url, `select '[1,2,3]'::vector <-> '[1,2,4]'::vector as distance`);
      expect(distance).toBe(1);
      await second.close();
    },
    TIMEOUT,
  );

  it(
    'runs in memory without a data directory or lock; several clients share it a whole transaction at a time',
    async () => {
      const db = await start('memory://');
      expect(db.dataDir).toBe('memory://');
      expect(await query(db.url, `select extname from pg_extension where extname = 'vector'`)).toHaveLength(1);

      // PGlite is one session; the socket server lets several clients in but never
      // interleaves their transactions: B's statement waits until A commits.
      const a = new Client({ connectionString: db.url });
      const b = new Client({ connectionString: db.url });
      await a.connect();
      await b.connect();
      try {
        await a.query('create table shared (n int)');
        await a.query('begin');
        await a.query('insert into shared values (1)');
        const order: string[] = [];
        const bRead = b.query('select count(*)::int as n from shared').then((r) => {
          order.push('b read');
          return r.rows[0].n as number;
        });
        // Once B's query waits in the server's queue, it has had its chance to run inside A's transaction.
        await waitFor(() => db.queuedMessages() > 0);
        order.push('a commits');
        await a.query('insert into shared values (2)');
        await a.query('commit');
        expect(await bRead).toBe(2); // B saw A's whole transaction, never half of it
        expect(order).toEqual(['a commits', 'b read']);
      } finally {
        await a.end();
        await b.end();
      }
      expect(await query(db.url, 'select 1 as one')).toEqual([{ one: 1 }]);
      await db.close();
    },
    TIMEOUT,
  );

  it(
    'refuses a data directory another process holds, naming the directory and the pid',
    async () => {
      const dataDir = seededDir();
      const holder = await spawnHolder(dataDir, 'hold', 'from child');

      const waits: string[] = [];
      const error: unknown = await startEmbeddedDatabase({ dataDir, lockWaitMs: 500, onLockWait: (m) => waits.push(m) }).catch(
        (e: unknown) => e,
      );
      expect(waits).toEqual([`The embedded database in ${dataDir} is in use by pid ${holder.pid}; waiting up to 500 ms for it`]);
      expect(error).toBeInstanceOf(DatabaseLockedError);
      expect((error as DatabaseLockedError).code).toBe('DATABASE_LOCKED');
      expect((error as Error).message).toContain(dataDir);
      expect((error as Error).message).toContain(`pid ${holder.pid}`);
      expect((error as Error).message).toMatch(/DATABASE_URL/);
      expect(readLock(dataDir).pid).toBe(holder.pid); // the failed attempt left the lock alone

      holder.stdin.end(); // the holder closes cleanly when its stdin ends
      await exited(holder);
      expect(holder.exitCode).toBe(0);
      expect(fs.existsSync(`${dataDir}.lock`)).toBe(false);
      expect(await notes(dataDir)).toEqual(['seed', 'from child']);
    },
    TIMEOUT,
  );

  it(
    'waits for the other process to release the data directory',
    async () => {
      const dataDir = seededDir();
      const holder = await spawnHolder(dataDir, 'hold', 'from child');

      let waiting = false;
      const opening = start(dataDir, { lockWaitMs: 60_000, onLockWait: () => (waiting = true) });
      await waitFor(() => waiting); // it found the lock held and waits: now the holder lets go
      holder.stdin.end();
      const db = await opening;
      await exited(holder);
      expect(holder.exitCode).toBe(0);
      expect(readLock(dataDir).pid).toBe(process.pid);
      expect((await query<{ body: string }>(db.url, 'select body from notes order by id')).map((r) => r.body)).toEqual([
        'seed',
        'from child',
      ]);
      await db.close();
    },
    TIMEOUT,
  );

  it(
    'takes over the lock of a process that crashed',
    async () => {
      const dataDir = seededDir();
      const holder = await spawnHolder(dataDir, 'hold', 'before crash');
      holder.kill('SIGKILL'); // no close(), no exit handler: lock file and postmaster.pid stay behind
      await exited(holder);
      expect(readLock(dataDir).pid).toBe(holder.pid);

      const db = await start(dataDir, { lockWaitMs: 1_000 }); // waiting the lock out would end in DatabaseLockedError
      expect(readLock(dataDir).pid).toBe(process.pid);
      await db.close();
      expect(await notes(dataDir)).toEqual(['seed', 'before crash']); // committed rows survive the crash
    },
    TIMEOUT,
  );

  it(
    'takes over a lock file whose pid no longer exists',
    async () => {
      const dataDir = seededDir();
      const deadPid = 999_999; // above Linux's default pid_max; checked below
      expect(() => process.kill(deadPid, 0)).toThrow();
      const lock = { pid: deadPid, host: os.hostname(), startedAt: '2020-01-01T00:00:00.000Z' };
      fs.writeFileSync(`${dataDir}.lock`, JSON.stringify(lock));

      const db = await start(dataDir, { lockWaitMs: 1_000 });
      expect(readLock(dataDir).pid).toBe(process.pid);
      await db.close();
      expect(fs.existsSync(`${dataDir}.lock`)).toBe(false);
    },
    TIMEOUT,
  );

  it(
    'releases the lock when the process exits without closing',
    async () => {
      const dataDir = seededDir();
      const holder = await spawnHolder(dataDir, 'exit');
      await exited(holder);
      expect(holder.exitCode).toBe(0);
      expect(fs.existsSync(`${dataDir}.lock`)).toBe(false);
    },
    TIMEOUT,
  );
});
