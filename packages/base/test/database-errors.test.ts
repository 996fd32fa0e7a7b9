import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { EntityManager } from 'typeorm';
import { expectRefused, useTestDatabase } from '@strata/testing';
import {
  ConflictError,
  ForbiddenError,
  LockNotAvailableError,
  OrganizationsService,
  QueryCanceledError,
  TenantConnection,
  TenantError,
  TenantService,
  TransactionConflictError,
  ValidationError,
  baseModule,
  isTransactionConflict,
  retryOnConflict,
  translateDatabaseError,
  withTenant,
} from '../src';

/** A service of the smallest kind: it runs `work` standalone through its scope, as every service does. */
class ScratchService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, baseModule);
  }

  run<T>(organizationId: string, work: (m: EntityManager) => Promise<T>): Promise<T> {
    return this.scope.run(organizationId, work);
  }
}

/**
 * Real database errors through translateDatabaseError and retryOnConflict. The
 * embedded database runs one session at a time and never fires statement_timeout,
 * so locks, timeouts, deadlocks and serialization failures between two sessions
 * are provoked on the server only; on embedded the same codes are raised by the
 * database itself (RAISE … USING ERRCODE), which tests the translation and the
 * retry loop but not the race.
 */
describe('database errors', () => {
  const db = useTestDatabase({ modules: [baseModule] });
  const concurrent = () => db.kind !== 'embedded';
  let org: string;
  let clients: Client[] = [];

  beforeAll(async () => {
    org = (await new OrganizationsService(db.dataSource).create({ name: 'Errors', slug: 'errors' })).id;
    await db.query(`
      CREATE SCHEMA errors_test;
      CREATE TABLE errors_test.parents (
        id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES base.organizations(id) ON DELETE CASCADE,
        amount numeric(6, 2) NOT NULL DEFAULT 0,
        hits integer NOT NULL DEFAULT 0,
        CONSTRAINT parents_organization_id_id_key UNIQUE (organization_id, id));
      CREATE TABLE errors_test.children (
        id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
        organization_id uuid NOT NULL REFERENCES base.organizations(id) ON DELETE CASCADE,
        parent_id uuid NOT NULL,
        CONSTRAINT children_organization_id_parent_id_fkey FOREIGN KEY (organization_id, parent_id)
          REFERENCES errors_test.parents (organization_id, id));
      SELECT base.enable_tenant_rls('errors_test.parents');
      SELECT base.enable_tenant_rls('errors_test.children');
      GRANT USAGE ON SCHEMA errors_test TO strata_app;
      GRANT SELECT, INSERT, UPDATE, DELETE ON errors_test.parents, errors_test.children TO strata_app;`);
  });
  afterEach(async () => {
    for (const client of clients) await client.end();
    clients = [];
  });

  async function connect(): Promise<Client> {
    const client = new Client({ connectionString: db.url });
    await client.connect();
    clients.push(client);
    return client;
  }

  /** The error a statement fails with, as the application sees it. */
  async function failure(work: (m: EntityManager) => Promise<unknown>): Promise<unknown> {
    return withTenant(db.dataSource, org, work).then(
      () => new Error('expected the statement to fail'),
      (error: unknown) => error,
    );
  }
  const translated = (error: unknown, subject: string, outOfRange?: string[]) => {
    try {
      translateDatabaseError(error, subject, {}, outOfRange);
    } catch (typed) {
      return typed;
    }
  };
  const newParent = async () =>
    (
      await withTenant(db.dataSource, org, (m) =>
        m.query('INSERT INTO errors_test.parents (organization_id) VALUES ($1) RETURNING id', [org]),
      )
    )[0].id as string;
  const raised = (code: string) => (m: EntityManager) =>
    m.query(`DO $$ BEGIN RAISE EXCEPTION 'raised for the test' USING ERRCODE = '${code}'; END $$`);

  /** Waits until the session `pid` is blocked on a lock (a condition, polled). */
  async function untilWaitingOnLock(pid: number): Promise<void> {
    for (let i = 0; i < 2000; i++) {
      const rows = await db.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = $2', [pid, 'Lock']);
      if (rows.length > 0) return;
      await sleep(5);
    }
    throw new Error(`session ${pid} never waited on a lock`);
  }

  it('a delete blocked by rows that still refer to the row is a ConflictError; a reference to nothing stays a ValidationError', async () => {
    const parent = await newParent();
    await withTenant(db.dataSource, org, (m) =>
      m.query('INSERT INTO errors_test.children (organization_id, parent_id) VALUES ($1, $2)', [org, parent]),
    );
    // As strata_app under row-level security, where PostgreSQL withholds the key from the detail.
    const blocked = await failure((m) => m.query('DELETE FROM errors_test.parents WHERE id = $1', [parent]));
    const conflict = await expectRefused(Promise.reject(translated(blocked, 'parent')), ConflictError, []);
    expect(conflict.message).toBe('parent is still referred to by rows of errors_test.children: remove or move those first');
    const dangling = await failure((m) =>
      m.query('INSERT INTO errors_test.children (organization_id, parent_id) VALUES ($1, gen_random_uuid())', [org]),
    );
    await expectRefused(Promise.reject(translated(dangling, 'child')), ValidationError, ['parentId']);
  });

  it('an exclusion (23P01) is a ConflictError naming its field; a refused privilege is a ForbiddenError, row-level security a TenantError', async () => {
    await db.query(
      `CREATE TABLE errors_test.slots (span int4range NOT NULL, CONSTRAINT slots_span_excl EXCLUDE USING gist (span WITH &&))`,
    );
    await db.query(`INSERT INTO errors_test.slots VALUES ('[1,10)')`);
    const overlap = await db.query(`INSERT INTO errors_test.slots VALUES ('[5,15)')`).catch((e: unknown) => e);
    await expectRefused(Promise.reject(translated(overlap, 'slot')), ConflictError, ['span']);
    // strata_app was granted no TRUNCATE: PostgreSQL refuses the privilege itself.
    const denied = await failure((m) => m.query('TRUNCATE errors_test.parents'));
    const forbidden = await expectRefused(Promise.reject(translated(denied, 'parent')), ForbiddenError);
    expect(forbidden.message).toMatch(/permission denied for table parents/);
    const [other] = await db.query<{ id: string }>(
      `INSERT INTO base.organizations (name, slug) VALUES ('Other', 'errors-other') RETURNING id`,
    );
    const crossing = await failure((m) => m.query('INSERT INTO errors_test.parents (organization_id) VALUES ($1)', [other.id]));
    await expectRefused(Promise.reject(translated(crossing, 'parent')), TenantError);
  });

  it('a number out of range (22003) is a ValidationError naming the field where the caller knows it', async () => {
    const parent = await newParent();
    const tooBig = await failure((m) => m.query('UPDATE errors_test.parents SET hits = $2 WHERE id = $1', [parent, '3000000000']));
    await expectRefused(Promise.reject(translated(tooBig, 'parent', ['hits'])), ValidationError, ['hits']);
    const overflow = await failure((m) => m.query('UPDATE errors_test.parents SET amount = $2 WHERE id = $1', [parent, '12345678.5']));
    const error = await expectRefused(Promise.reject(translated(overflow, 'parent')), ValidationError, ['input']);
    expect(error.message).toMatch(/^Invalid parent: input \(is out of range \(numeric field overflow\)\)$/);
  });

  it('lock not available (55P03) is a LockNotAvailableError', async () => {
    const parent = await newParent();
    let error: unknown;
    if (concurrent()) {
      const holder = await connect();
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM errors_test.parents WHERE id = $1 FOR UPDATE', [parent]);
      error = await failure((m) => m.query('SELECT 1 FROM errors_test.parents WHERE id = $1 FOR UPDATE NOWAIT', [parent]));
      await holder.query('ROLLBACK');
    } else error = await failure(raised('55P03'));
    await expectRefused(Promise.reject(translated(error, 'parent')), LockNotAvailableError);
  });

  it('a statement timeout or cancel (57014) is a QueryCanceledError', async () => {
    const error = await failure(async (m) => {
      if (!concurrent()) return raised('57014')(m);
      await m.query(`SET LOCAL statement_timeout = '20ms'`);
      return m.query('SELECT pg_sleep(5)');
    });
    const typed = await expectRefused(Promise.reject(translated(error, 'report')), QueryCanceledError);
    if (concurrent()) expect(typed.message).toBe('report: canceling statement due to statement timeout');
  });

  it('retryOnConflict re-runs a serialization failure (40001), a real one between two sessions on the server', async () => {
    const parent = await newParent();
    let attempts = 0;
    const other = concurrent() ? await connect() : undefined;
    const result = await retryOnConflict(async () => {
      attempts++;
      const session = concurrent() ? await connect() : undefined;
      if (!session) {
        if (attempts === 1) await failure(raised('40001')).then((e) => Promise.reject(e));
        return 'done';
      }
      try {
        await session.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await session.query('SELECT hits FROM errors_test.parents WHERE id = $1', [parent]); // the snapshot is taken
        if (attempts === 1) await other!.query('UPDATE errors_test.parents SET hits = hits + 10 WHERE id = $1', [parent]);
        await session.query('UPDATE errors_test.parents SET hits = hits + 1 WHERE id = $1', [parent]);
        await session.query('COMMIT');
        return 'done';
      } catch (error) {
        await session.query('ROLLBACK');
        throw error;
      }
    });
    expect({ result, attempts }).toEqual({ result: 'done', attempts: 2 });
    if (concurrent()) {
      expect((await db.query('SELECT hits FROM errors_test.parents WHERE id = $1', [parent]))[0]).toEqual({ hits: 11 });
    }
  });

  it('a service standalone re-runs its transaction after a deadlock (40P01), a real one between two sessions on the server', async () => {
    const [first, second] = [await newParent(), await newParent()];
    const service = new ScratchService(db.dataSource);
    const runs = { a: 0, b: 0 };
    const bump = (m: EntityManager, id: string) =>
      m.query('UPDATE errors_test.parents SET hits = hits + 1 WHERE id = $1 RETURNING 1', [id]);
    const pid = async (m: EntityManager) => (await m.query('SELECT pg_backend_pid() AS pid'))[0].pid as number;
    if (!concurrent()) {
      // One session: a deadlock cannot happen; the database raises its code once, and the service runs the work again.
      await service.run(org, async (m) => {
        if (++runs.a === 1) await raised('40P01')(m);
        await bump(m, first);
      });
      expect(runs.a).toBe(2);
      return;
    }
    // a: first, then second. b: second, then first, once a waits for it. One of them is chosen as the victim and runs again.
    const signal = () => {
      let resolve!: () => void;
      return { done: new Promise<void>((r) => (resolve = r)), resolve: () => resolve() };
    };
    const aHoldsFirst = signal();
    const bHoldsSecond = signal();
    let aPid!: number;
    const a = service.run(org, async (m) => {
      const attempt = ++runs.a;
      await bump(m, first);
      if (attempt === 1) {
        aPid = await pid(m);
        aHoldsFirst.resolve();
        await bHoldsSecond.done;
      }
      await bump(m, second);
    });
    await aHoldsFirst.done;
    const b = service.run(org, async (m) => {
      const attempt = ++runs.b;
      await bump(m, second);
      if (attempt === 1) {
        bHoldsSecond.resolve();
        await untilWaitingOnLock(aPid);
      }
      await bump(m, first);
    });
    await Promise.all([a, b]);
    // Both committed: each row was bumped once by each, and exactly one of them ran twice.
    expect(await db.query('SELECT hits FROM errors_test.parents WHERE id = ANY ($1) ORDER BY hits', [[first, second]])).toEqual([
      { hits: 2 },
      { hits: 2 },
    ]);
    expect(runs.a + runs.b).toBe(3);
  });

  it('through a service: conflicts that keep coming end as a TransactionConflictError after 5 runs standalone, after 1 in a caller transaction', async () => {
    const service = new ScratchService(db.dataSource);
    let runs = 0;
    await expectRefused(
      service.run(org, async (m) => {
        runs++;
        await raised('40001')(m);
      }),
      TransactionConflictError,
    );
    expect(runs).toBe(5);
    runs = 0;
    await expectRefused(
      withTenant(db.dataSource, org, (tx) =>
        service.with(tx).run(org, async (m) => {
          runs++;
          await raised('40P01')(m);
        }),
      ),
      TransactionConflictError,
    );
    expect(runs).toBe(1);
    // The caller re-runs its whole transaction with the same helper.
    runs = 0;
    await retryOnConflict(() =>
      withTenant(db.dataSource, org, (tx) =>
        service.with(tx).run(org, async (m) => {
          if (++runs === 1) await raised('40001')(m);
        }),
      ),
    );
    expect(runs).toBe(2);
    await expectRefused(service.run(org, raised('55P03')), LockNotAvailableError);
    await expectRefused(service.run(org, raised('57014')), QueryCanceledError);
  });

  it('retries only conflicts, a bounded number of times, and leaves a TransactionConflictError when they keep coming', async () => {
    let runs = 0;
    const duplicate = retryOnConflict(async () => {
      runs++;
      await failure(raised('23505')).then((e) => Promise.reject(e));
    });
    await expect(duplicate).rejects.toMatchObject({ driverError: expect.objectContaining({ code: '23505' }) });
    expect(runs).toBe(1);

    runs = 0;
    const always = retryOnConflict(
      async () => {
        runs++;
        await failure(raised('40001')).then((e) => Promise.reject(e));
      },
      { attempts: 3, baseDelayMs: 1 },
    );
    const last = await always.catch((e: unknown) => e);
    expect({ runs, conflict: isTransactionConflict(last) }).toEqual({ runs: 3, conflict: true });
    await expectRefused(Promise.reject(translated(last, 'transfer')), TransactionConflictError);
    await expectRefused(Promise.reject(translated(await failure(raised('40P01')), 'transfer')), TransactionConflictError);
  });
});
