import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import { TestDatabase, catalogSnapshot, createTestDatabase, useTestDatabase } from '@strata/testing';
import { MigrationRunner, Queryable, defineModule } from '../src';
import { CreateCoreSchema1795443100000 } from '../src/migrations/1795443100000-create-core-schema';
import { Partitioning1795443200000 } from '../src/migrations/1795443200000-partitioning';

/**
 * Partitioning machinery (migration 1795443200000) on the project's test database (a
 * PostgreSQL server with TEST_DATABASE_URL, otherwise embedded PGlite): every test works on
 * its own partitioned table in one database migrated up to this migration; the up/down/up
 * and non-superuser scenarios get a database of their own.
 *
 * The embedded database is one PostgreSQL session shared by every connection, running one
 * transaction at a time: session settings are only ever changed with SET LOCAL here.
 */

/** Schema base before the partitioning migration (its prerequisites: schema, role strata_app). */
const coreModule = defineModule({ name: 'base', entities: [], migrations: [CreateCoreSchema1795443100000] });
/**
 * Schema base up to and including the partitioning migration. Without the later audit-log
 * migration, which registers base.audit_log, the only registered tables are the tests' own.
 */
const partitioningModule = defineModule({
  name: 'base',
  entities: [],
  migrations: [CreateCoreSchema1795443100000, Partitioning1795443200000],
});

/** The functions migration 1795443200000 creates. */
const PARTITIONING_FUNCTIONS = [
  'create_partitions',
  'partition_bounds',
  'partition_fill_range',
  'partition_maintain_table',
  'partition_open_default',
  'partition_resume_triggers',
  'partition_suspend_triggers',
  'register_partitioned_table',
  'run_maintenance',
  'unregister_partitioned_table',
];

interface PartitionRow {
  name: string;
  isDefault: boolean;
  from: Date | null;
  to: Date | null;
}

/** Partitions of `table` read straight from the catalog (not through base.partition_bounds). */
async function partitions(q: Queryable, table: string): Promise<PartitionRow[]> {
  // pg_get_expr renders the bounds in this session's TimeZone/DateStyle, and the cast back
  // happens in the same session, so the instants are exact.
  const rows: Array<{ name: string; bound: string; from: Date | null; to: Date | null }> = await q.query(
    `SELECT c.relname AS name, b.bound,
            (regexp_match(b.bound, '^FOR VALUES FROM [(]''(.*)''[)] TO [(]''(.*)''[)]$'))[1]::timestamptz AS "from",
            (regexp_match(b.bound, '^FOR VALUES FROM [(]''(.*)''[)] TO [(]''(.*)''[)]$'))[2]::timestamptz AS "to"
       FROM pg_inherits i
       JOIN pg_class c ON c.oid = i.inhrelid
      CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS bound) b
      WHERE i.inhparent = $1::regclass
      ORDER BY 3 NULLS FIRST, 1`,
    [table],
  );
  return rows.map((r) => ({ name: r.name, isDefault: r.bound === 'DEFAULT', from: r.from, to: r.to }));
}

// Expected UTC period boundaries, computed independently of the SQL under test.
const DAY_MS = 86_400_000;
function monthStart(offset: number, from = new Date()): Date {
  return new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + offset, 1));
}
function dayStart(offset: number, from = new Date()): Date {
  return new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate() + offset));
}
function weekStart(offset: number, from = new Date()): Date {
  const today = dayStart(0, from);
  const sinceMonday = (today.getUTCDay() + 6) % 7; // ISO week: Monday = 0
  return new Date(today.getTime() - sinceMonday * DAY_MS + offset * 7 * DAY_MS);
}
function stamp(d: Date): string {
  return d.toISOString().slice(0, 10).replace(/-/g, '');
}
/** A moment in the middle of the month `offset` months from now. */
function midMonth(offset: number): Date {
  return new Date(monthStart(offset).getTime() + 14 * DAY_MS + 3_600_000);
}

interface TableResult {
  table: string;
  created: string[];
  moved_rows: number;
  dropped: string[];
  detached: string[];
  error?: string;
}

async function runMaintenance(q: Queryable, table: string | null): Promise<TableResult[]> {
  const [{ result }] = await q.query(`SELECT base.run_maintenance($1) AS result`, [table]);
  return (result as { tables: TableResult[] }).tables;
}

async function createEventsTable(q: Queryable, table: string): Promise<void> {
  await q.query(`CREATE TABLE ${table} (
    id bigserial,
    created_at timestamptz NOT NULL,
    payload text,
    PRIMARY KEY (id, created_at)
  ) PARTITION BY RANGE (created_at)`);
}

async function ids(q: Queryable, table: string): Promise<string[]> {
  const rows: Array<{ id: string }> = await q.query(`SELECT id FROM ${table} ORDER BY id`);
  return rows.map((r) => r.id);
}

async function defaultCount(q: Queryable, table: string): Promise<number> {
  const [{ n }] = await q.query(`SELECT count(*)::int AS n FROM ${table}_default`);
  return n;
}

describe('partitioning migration (PostgreSQL)', () => {
  const db = useTestDatabase({ modules: [partitioningModule] });
  let ds: DataSource;

  beforeAll(() => {
    ds = db.dataSource;
  });

  describe('register_partitioned_table', () => {
    it('creates DEFAULT plus the current period and premake periods ahead, named <table>_pYYYYMMDD', async () => {
      await createEventsTable(ds, 'base.test_events');
      await ds.query(`SELECT base.register_partitioned_table('base.test_events', 'created_at', 'month', 4)`);

      const parts = await partitions(ds, 'base.test_events');
      expect(parts[0]).toEqual({ name: 'test_events_default', isDefault: true, from: null, to: null });
      expect(parts.slice(1)).toEqual(
        [0, 1, 2, 3, 4].map((i) => ({
          name: `test_events_p${stamp(monthStart(i))}`,
          isDefault: false,
          from: monthStart(i),
          to: monthStart(i + 1),
        })),
      );

      const [policy] = await ds.query(`SELECT * FROM base.partition_policies WHERE parent_table = 'base.test_events'`);
      expect(policy).toMatchObject({
        control_column: 'created_at',
        partition_interval: 'month',
        premake: 4,
        retention: null,
        retention_mode: 'drop',
        last_maintained_at: null,
      });

      // Registering again is an update, not a second set of partitions.
      await ds.query(`SELECT base.register_partitioned_table('base.test_events', 'created_at', 'month', 2, '1 year')`);
      expect(await partitions(ds, 'base.test_events')).toEqual(parts);
      const [updated] = await ds.query(
        `SELECT premake, retention, updated_at > created_at AS touched FROM base.partition_policies WHERE parent_table = 'base.test_events'`,
      );
      expect(updated).toMatchObject({ premake: 2, touched: true });
      expect(updated.retention).toBeTruthy();
    });

    it('refuses tables that are not range-partitioned on the control column, with a clear message', async () => {
      await ds.query(`CREATE TABLE base.test_plain (id bigint, created_at timestamptz NOT NULL)`);
      await ds.query(`CREATE TABLE base.test_other_col (id bigint, created_at timestamptz NOT NULL, seen_at timestamptz NOT NULL)
                      PARTITION BY RANGE (seen_at)`);
      await ds.query(`CREATE TABLE base.test_list (id bigint, kind text NOT NULL, created_at timestamptz NOT NULL)
                      PARTITION BY LIST (kind)`);
      await ds.query(`CREATE TABLE base.test_int_key (id bigint NOT NULL) PARTITION BY RANGE (id)`);
      const register = (args: string) => ds.query(`SELECT base.register_partitioned_table(${args})`);

      await expect(register(`'base.test_plain', 'created_at', 'month'`)).rejects.toThrow('table base.test_plain is not partitioned');
      await expect(register(`'base.test_other_col', 'created_at', 'month'`)).rejects.toThrow(
        'table base.test_other_col is partitioned by RANGE (seen_at), not by RANGE (created_at)',
      );
      await expect(register(`'base.test_list', 'created_at', 'month'`)).rejects.toThrow(
        'table base.test_list is partitioned by LIST (kind), not by RANGE (created_at)',
      );
      await expect(register(`'base.test_int_key', 'id', 'month'`)).rejects.toThrow(
        'partition key base.test_int_key.id has type bigint; only timestamptz, timestamp and date are supported',
      );
      await expect(register(`'base.test_missing', 'created_at', 'month'`)).rejects.toThrow('table base.test_missing does not exist');
      await expect(register(`'test_plain', 'created_at', 'month'`)).rejects.toThrow(/schema-qualified/);
      await expect(register(`'base.test_other_col', 'seen_at', 'year'`)).rejects.toThrow(
        "partition interval must be day, week or month, got 'year'",
      );
      await expect(register(`'base.test_other_col', 'seen_at', 'day', 0`)).rejects.toThrow(/premake must be between 1 and 366/);
      await expect(register(`'base.test_other_col', 'seen_at', 'day', 4, '1 month', 'archive'`)).rejects.toThrow(
        /retention mode must be drop or detach/,
      );

      // Maintenance only touches registered tables.
      await expect(ds.query(`SELECT base.run_maintenance('base.test_other_col')`)).rejects.toThrow(
        'table base.test_other_col is not registered for partition maintenance',
      );
      await expect(ds.query(`SELECT base.create_partitions('base.test_other_col')`)).rejects.toThrow(
        'table base.test_other_col is not registered for partition maintenance',
      );

      const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM base.partition_policies WHERE parent_table <> 'base.test_events'`);
      expect(n).toBe(0);
      expect(await partitions(ds, 'base.test_other_col')).toEqual([]);
    });
  });

  describe('run_maintenance', () => {
    it('moves rows far outside the premade range out of DEFAULT into their own partitions, losing and duplicating none', async () => {
      const t = 'base.test_far';
      await createEventsTable(ds, t);
      await ds.query(`SELECT base.register_partitioned_table($1, 'created_at', 'month', 2)`, [t]);

      const far = [midMonth(-36), midMonth(-36), midMonth(-14), midMonth(24)];
      const near = [midMonth(0), midMonth(1)];
      for (const at of [...far, ...near]) {
        await ds.query(`INSERT INTO base.test_far (created_at, payload) VALUES ($1, 'x')`, [at]);
      }
      // Out-of-range rows are accepted, by DEFAULT.
      expect(await defaultCount(ds, t)).toBe(far.length);
      const before = await ids(ds, t);

      const [result] = await runMaintenance(ds, t);
      expect(result.table).toBe(t);
      expect(result.moved_rows).toBe(far.length);
      expect([...result.created].sort()).toEqual([-36, -14, 24].map((i) => `test_far_p${stamp(monthStart(i))}`).sort());
      expect(result.dropped).toEqual([]);
      expect(result.detached).toEqual([]);

      expect(await defaultCount(ds, t)).toBe(0);
      expect(await ids(ds, t)).toEqual(before);
      const placed: Array<{ part: string; n: number }> = await ds.query(
        `SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM base.test_far GROUP BY 1 ORDER BY 1`,
      );
      expect(placed).toEqual(
        [
          { part: `base.test_far_p${stamp(monthStart(-36))}`, n: 2 },
          { part: `base.test_far_p${stamp(monthStart(-14))}`, n: 1 },
          { part: `base.test_far_p${stamp(monthStart(0))}`, n: 1 },
          { part: `base.test_far_p${stamp(monthStart(1))}`, n: 1 },
          { part: `base.test_far_p${stamp(monthStart(24))}`, n: 1 },
        ].sort((a, b) => a.part.localeCompare(b.part)),
      );
      const moved = (await partitions(ds, t)).find((p) => p.name === `test_far_p${stamp(monthStart(-14))}`);
      expect(moved).toMatchObject({ from: monthStart(-14), to: monthStart(-13) });

      // Nothing left to do: a second run changes nothing and records the run.
      const [again] = await runMaintenance(ds, t);
      expect(again).toEqual({ table: t, created: [], moved_rows: 0, dropped: [], detached: [] });
      const [{ maintained }] = await ds.query(
        `SELECT last_maintained_at IS NOT NULL AS maintained FROM base.partition_policies WHERE parent_table = $1`,
        [t],
      );
      expect(maintained).toBe(true);
    });

    it('create_partitions does not fail when DEFAULT holds rows for a range it creates', async () => {
      const t = 'base.test_premake';
      await createEventsTable(ds, t);
      await ds.query(`SELECT base.register_partitioned_table($1, 'created_at', 'month', 1)`, [t]);
      await ds.query(`INSERT INTO base.test_premake (created_at) VALUES ($1), ($1), ($2)`, [midMonth(3), midMonth(2)]);
      expect(await defaultCount(ds, t)).toBe(3);
      const before = await ids(ds, t);

      // A longer premake now covers months +2..+4, two of which have rows in DEFAULT.
      await ds.query(`UPDATE base.partition_policies SET premake = 4 WHERE parent_table = $1`, [t]);
      const [{ created }] = await ds.query(`SELECT base.create_partitions($1) AS created`, [t]);
      expect(created).toBe(3);

      expect(await defaultCount(ds, t)).toBe(0);
      expect(await ids(ds, t)).toEqual(before);
      const [{ n }] = await ds.query(`SELECT count(*)::int AS n FROM base.test_premake_p${stamp(monthStart(3))}`);
      expect(n).toBe(2);
      expect((await partitions(ds, t)).map((p) => p.name)).toEqual([
        'test_premake_default',
        ...[0, 1, 2, 3, 4].map((i) => `test_premake_p${stamp(monthStart(i))}`),
      ]);
      await expect(ds.query(`SELECT base.create_partitions($1)`, [t])).resolves.toEqual([{ create_partitions: 0 }]);
    });

    /** Monthly table with rows (hence partitions) in each of the last six months. */
    async function tableWithSixPastMonths(t: string): Promise<void> {
      await createEventsTable(ds, t);
      await ds.query(`SELECT base.register_partitioned_table($1, 'created_at', 'month', 1)`, [t]);
      for (let i = -6; i <= 0; i++) {
        await ds.query(`INSERT INTO ${t} (created_at, payload) VALUES ($1, $2)`, [midMonth(i), `m${i}`]);
      }
      await runMaintenance(ds, t);
      expect((await partitions(ds, t)).length).toBe(1 + 8); // DEFAULT, -6..0, +1
    }

    it('retention drops only partitions wholly older than now() - retention; the straddling one and DEFAULT stay', async () => {
      const t = 'base.test_retention';
      await tableWithSixPastMonths(t);
      await ds.query(`SELECT base.register_partitioned_table($1, 'created_at', 'month', 1, '3 months', 'drop')`, [t]);

      const [result] = await runMaintenance(ds, t);
      // now() - 3 months falls inside month -3: months -6, -5, -4 end on or before it.
      const expected = [-6, -5, -4].map((i) => `test_retention_p${stamp(monthStart(i))}`);
      expect(result.dropped).toEqual(expected);
      expect(result.detached).toEqual([]);
      for (const name of expected) {
        const [{ gone }] = await ds.query(`SELECT to_regclass($1) IS NULL AS gone`, [`base.${name}`]);
        expect(gone).toBe(true);
      }

      const [{ cutoff }] = await ds.query(`SELECT now() - interval '3 months' AS cutoff`);
      const remaining = await partitions(ds, t);
      expect(remaining.map((p) => p.name)).toEqual([
        'test_retention_default',
        ...[-3, -2, -1, 0, 1].map((i) => `test_retention_p${stamp(monthStart(i))}`),
      ]);
      // The partition holding the cutoff is only partly older: kept. Nothing kept is wholly older.
      const straddling = remaining.find((p) => p.from && p.to && p.from <= cutoff && cutoff < p.to);
      expect(straddling?.name).toBe(`test_retention_p${stamp(monthStart(-3))}`);
      expect(remaining.filter((p) => p.to && p.to <= cutoff)).toEqual([]);
      const payloads: Array<{ payload: string }> = await ds.query(`SELECT payload FROM ${t} ORDER BY created_at`);
      expect(payloads.map((r) => r.payload)).toEqual(['m-3', 'm-2', 'm-1', 'm0']);

      const [again] = await runMaintenance(ds, t);
      expect(again.dropped).toEqual([]);
    });

    it("retention mode 'detach' detaches the old partitions and keeps them as standalone tables", async () => {
      const t = 'base.test_detach';
      await tableWithSixPastMonths(t);
      await ds.query(`SELECT base.register_partitioned_table($1, 'created_at', 'month', 1, '3 months', 'detach')`, [t]);

      const [result] = await runMaintenance(ds, t);
      const expected = [-6, -5, -4].map((i) => `test_detach_p${stamp(monthStart(i))}`);
      expect(result.detached).toEqual(expected);
      expect(result.dropped).toEqual([]);
      for (const [k, name] of expected.entries()) {
        const [state] = await ds.query(
          `SELECT c.relkind, c.relispartition,
                  EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) AS inherits
             FROM pg_class c WHERE c.oid = to_regclass($1)`,
          [`base.${name}`],
        );
        expect(state).toEqual({ relkind: 'r', relispartition: false, inherits: false });
        const rows: Array<{ payload: string }> = await ds.query(`SELECT payload FROM base.${name}`);
        expect(rows).toEqual([{ payload: `m${k - 6}` }]);
      }
      expect((await partitions(ds, t)).map((p) => p.name)).toEqual([
        'test_detach_default',
        ...[-3, -2, -1, 0, 1].map((i) => `test_detach_p${stamp(monthStart(i))}`),
      ]);

      // A late row for a detached period lands in DEFAULT; maintenance gives it a fresh
      // partition (the old name is taken by the archive) and detaches that one too.
      await ds.query(`INSERT INTO ${t} (created_at, payload) VALUES ($1, 'late')`, [midMonth(-5)]);
      const [late] = await runMaintenance(ds, t);
      const lateName = `test_detach_p${stamp(monthStart(-5))}_1`;
      expect(late).toMatchObject({ created: [lateName], moved_rows: 1, detached: [lateName], dropped: [] });
      expect(await defaultCount(ds, t)).toBe(0);
      expect(await ds.query(`SELECT payload FROM base.${lateName}`)).toEqual([{ payload: 'late' }]);
    });

    it('concurrent calls on two connections both succeed and move every row exactly once', async () => {
      const t = 'base.test_concurrent';
      await createEventsTable(ds, t);
      await ds.query(`SELECT base.register_partitioned_table($1, 'created_at', 'month', 1)`, [t]);
      // 5 rows in each of 24 past months, all in DEFAULT.
      await ds.query(
        `INSERT INTO base.test_concurrent (created_at, payload)
         SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - m * interval '1 month' + r * interval '1 hour', 'c'
           FROM generate_series(2, 25) m, generate_series(1, 5) r`,
      );
      expect(await defaultCount(ds, t)).toBe(120);
      const before = await ids(ds, t);

      // Two sessions on a server; on the embedded database two connections whose calls run
      // one transaction after the other. Either way both succeed and no row moves twice.
      const clients = [new Client({ connectionString: db.url }), new Client({ connectionString: db.url })];
      await Promise.all(clients.map((c) => c.connect()));
      try {
        const results = await Promise.all(clients.map((c) => c.query(`SELECT base.run_maintenance($1) AS result`, [t])));
        const entries: TableResult[] = results.map((r) => r.rows[0].result.tables[0]);
        expect(entries[0].moved_rows + entries[1].moved_rows).toBe(120);
        const created = [...entries[0].created, ...entries[1].created];
        expect(new Set(created).size).toBe(created.length);
        expect(created.length).toBe(24);
        // The caller that waited found nothing left to do.
        expect(entries.some((e) => e.moved_rows === 0 && e.created.length === 0)).toBe(true);
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }

      expect(await defaultCount(ds, t)).toBe(0);
      expect(await ids(ds, t)).toEqual(before);
      const parts = (await partitions(ds, t)).filter((p) => !p.isDefault);
      expect(parts.length).toBe(24 + 2);
      expect(new Set(parts.map((p) => p.from?.getTime())).size).toBe(parts.length);
    });

    it('a second caller waits on the maintenance lock, then finds nothing left to do', async () => {
      const t = 'base.test_waiting';
      await createEventsTable(ds, t);
      await ds.query(`SELECT base.register_partitioned_table($1, 'created_at', 'week', 1)`, [t]);
      await ds.query(`INSERT INTO base.test_waiting (created_at) SELECT now() - n * interval '9 days' FROM generate_series(5, 20) n`);
      const before = await ids(ds, t);

      const first = new Client({ connectionString: db.url });
      const second = new Client({ connectionString: db.url });
      await Promise.all([first.connect(), second.connect()]);
      try {
        const [{ pid }] = (await second.query('SELECT pg_backend_pid() AS pid')).rows;
        // The first caller's transaction stays open, holding the lock.
        await first.query('BEGIN');
        const firstResult: TableResult = (await first.query(`SELECT base.run_maintenance($1) AS r`, [t])).rows[0].r.tables[0];
        expect(firstResult.moved_rows).toBe(16);

        let secondDone = false;
        const secondCall = second.query(`SELECT base.run_maintenance($1) AS r`, [t]).finally(() => {
          secondDone = true;
        });
        // On a server the second caller has a session of its own and blocks on the maintenance
        // advisory lock. The embedded database (one session, one transaction at a time) holds
        // the call back before it starts. Either way it cannot return while the first
        // transaction is open. Watched from inside that transaction: on the embedded database
        // it is the only one allowed to run.
        const expectLockWait = db.kind !== 'embedded';
        const deadline = Date.now() + (expectLockWait ? 5_000 : 500);
        let lockWait = false;
        while (!lockWait && !secondDone && Date.now() < deadline) {
          const { rows } = await first.query(
            `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = $1 AND locktype = 'advisory' AND NOT granted) AS w`,
            [pid],
          );
          lockWait = rows[0].w;
          if (!lockWait) await new Promise((resolve) => setTimeout(resolve, 25));
        }
        expect(secondDone).toBe(false);
        expect(lockWait).toBe(expectLockWait);

        await first.query('COMMIT');
        const secondResult: TableResult = (await secondCall).rows[0].r.tables[0];
        expect(secondResult).toEqual({ table: t, created: [], moved_rows: 0, dropped: [], detached: [] });
      } finally {
        await Promise.all([first.end(), second.end()]);
      }
      expect(await defaultCount(ds, t)).toBe(0);
      expect(await ids(ds, t)).toEqual(before);
    });

    it('moves rows past user triggers, identity and generated columns, and closes new partitions with RLS', async () => {
      const t = 'base.test_rls';
      await ds.query(`CREATE TABLE base.test_rls (
        id bigint GENERATED ALWAYS AS IDENTITY,
        created_at timestamptz NOT NULL,
        org_id integer NOT NULL,
        doubled integer GENERATED ALWAYS AS (org_id * 2) STORED,
        PRIMARY KEY (id, created_at)
      ) PARTITION BY RANGE (created_at)`);
      await ds.query(`ALTER TABLE base.test_rls ENABLE ROW LEVEL SECURITY`);
      await ds.query(`CREATE POLICY test_rls_org ON base.test_rls USING (org_id = 1)`);
      // A trigger that would rewrite the partition key and log every write.
      await ds.query(`CREATE TABLE base.test_rls_log (op text)`);
      await ds.query(`CREATE FUNCTION base.test_rls_touch() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          INSERT INTO base.test_rls_log VALUES (TG_OP);
          IF TG_OP = 'INSERT' THEN NEW.created_at := now(); RETURN NEW; END IF;
          RETURN OLD;
        END $$`);
      await ds.query(`CREATE TRIGGER test_rls_touch BEFORE INSERT OR DELETE ON base.test_rls
                      FOR EACH ROW EXECUTE FUNCTION base.test_rls_touch()`);
      await ds.query(`SELECT base.register_partitioned_table($1, 'created_at', 'day', 2)`, [t]);
      await ds.query(`ALTER TABLE base.test_rls DISABLE TRIGGER test_rls_touch`);
      await ds.query(`INSERT INTO base.test_rls (created_at, org_id) VALUES ($1, 1), ($1, 2), ($2, 3)`, [midMonth(-40), midMonth(30)]);
      await ds.query(`ALTER TABLE base.test_rls ENABLE TRIGGER test_rls_touch`);
      const before = await ds.query(`SELECT id, created_at, org_id, doubled FROM base.test_rls ORDER BY id`);

      const [result] = await runMaintenance(ds, t);
      expect(result.moved_rows).toBe(3);
      expect(result.created).toHaveLength(2);

      expect(await ds.query(`SELECT id, created_at, org_id, doubled FROM base.test_rls ORDER BY id`)).toEqual(before);
      expect(await ds.query(`SELECT * FROM base.test_rls_log`)).toEqual([]);
      const flags: Array<{ relname: string; rls: boolean; force: boolean; trigger_on: boolean }> = await ds.query(
        `SELECT c.relname, c.relrowsecurity AS rls, c.relforcerowsecurity AS force,
                (SELECT t.tgenabled = 'O' FROM pg_trigger t WHERE t.tgrelid = c.oid AND t.tgname = 'test_rls_touch') AS trigger_on
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'base.test_rls'::regclass`,
      );
      expect(flags.length).toBe(1 + 3 + 2);
      expect(flags.every((f) => f.rls && f.force && f.trigger_on)).toBe(true);
      // Nothing granted on partitions.
      const [{ acl }] = await ds.query(
        `SELECT count(*) FILTER (WHERE c.relacl IS NOT NULL)::int AS acl
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'base.test_rls'::regclass`,
      );
      expect(acl).toBe(0);
    });

    it('refuses to move DEFAULT rows of a table referenced by a foreign key, leaving every row in place', async () => {
      const t = 'base.test_fk';
      await createEventsTable(ds, t);
      await ds.query(`SELECT base.register_partitioned_table($1, 'created_at', 'month', 1)`, [t]);
      await ds.query(`CREATE TABLE base.test_fk_ref (id bigint, created_at timestamptz,
                        FOREIGN KEY (id, created_at) REFERENCES base.test_fk ON DELETE CASCADE)`);
      await ds.query(`INSERT INTO base.test_fk (id, created_at) VALUES (1, $1)`, [midMonth(-20)]);
      await ds.query(`INSERT INTO base.test_fk_ref VALUES (1, $1)`, [midMonth(-20)]);

      await expect(runMaintenance(ds, t)).rejects.toThrow(
        'cannot move rows out of the DEFAULT partition of base.test_fk: other tables reference it by foreign key',
      );
      expect(await defaultCount(ds, t)).toBe(1);
      expect(await ds.query(`SELECT count(*)::int AS n FROM base.test_fk_ref`)).toEqual([{ n: 1 }]);

      // A sweep reports the failure in that table's entry and still maintains the others.
      await createEventsTable(ds, 'base.test_sweep');
      await ds.query(`SELECT base.register_partitioned_table('base.test_sweep', 'created_at', 'month', 1)`);
      await ds.query(`INSERT INTO base.test_sweep (created_at) VALUES ($1)`, [midMonth(-30)]);
      // A module that dropped its table without unregistering it.
      await createEventsTable(ds, 'base.test_gone');
      await ds.query(`SELECT base.register_partitioned_table('base.test_gone', 'created_at', 'month', 1)`);
      await ds.query(`DROP TABLE base.test_gone`);
      const tables = await runMaintenance(ds, null);
      expect(tables.find((e) => e.table === 'base.test_gone')?.error).toBe('registered table base.test_gone no longer exists');
      expect(tables.find((e) => e.table === t)?.error).toMatch(/other tables reference it by foreign key/);
      expect(tables.find((e) => e.table === 'base.test_sweep')).toMatchObject({
        moved_rows: 1,
        created: [`test_sweep_p${stamp(monthStart(-30))}`],
      });
      await ds.query(`SELECT base.unregister_partitioned_table($1)`, [t]);
      await ds.query(`SELECT base.unregister_partitioned_table('base.test_gone')`);
      expect(await ds.query(`SELECT parent_table FROM base.partition_policies WHERE parent_table IN ($1, 'base.test_gone')`, [t])).toEqual(
        [],
      );
    });
  });

  describe('period boundaries', () => {
    it('weekly and daily partitions start on UTC Mondays / UTC midnights whatever the session TimeZone', async () => {
      await createEventsTable(ds, 'base.test_weekly');
      await createEventsTable(ds, 'base.test_daily');
      await ds.query(`CREATE TABLE base.test_daily_date (day date NOT NULL, n integer) PARTITION BY RANGE (day)`);
      await ds.query(`CREATE TABLE base.test_weekly_ts (at timestamp NOT NULL) PARTITION BY RANGE (at)`);

      // A session far from UTC, with a non-ISO DateStyle (SET LOCAL: on the embedded database
      // every connection shares one session).
      await ds.transaction(async (m) => {
        await m.query(`SET LOCAL TimeZone = 'Asia/Kathmandu'`);
        await m.query(`SET LOCAL DateStyle = 'SQL, DMY'`);
        await m.query(`SELECT base.register_partitioned_table('base.test_weekly', 'created_at', 'week', 3)`);
        await m.query(`SELECT base.register_partitioned_table('base.test_daily', 'created_at', 'day', 5)`);
        await m.query(`SELECT base.register_partitioned_table('base.test_daily_date', 'day', 'day', 2)`);
        await m.query(`SELECT base.register_partitioned_table('base.test_weekly_ts', 'at', 'week', 1)`);
        // 23:30 UTC is already tomorrow in Kathmandu; the row belongs to today's UTC partition.
        const lateToday = new Date(dayStart(0).getTime() + 23.5 * 3_600_000);
        await m.query(`INSERT INTO base.test_daily (created_at) VALUES ($1)`, [lateToday]);
      });

      const expectPeriods = (parts: PartitionRow[], table: string, start: (i: number) => Date, count: number) => {
        expect(parts[0]).toMatchObject({ name: `${table}_default`, isDefault: true });
        expect(parts.slice(1)).toEqual(
          Array.from({ length: count }, (_, i) => ({
            name: `${table}_p${stamp(start(i))}`,
            isDefault: false,
            from: start(i),
            to: start(i + 1),
          })),
        );
      };
      const weekly = await partitions(ds, 'base.test_weekly');
      expectPeriods(weekly, 'test_weekly', weekStart, 4);
      expect(weekly.slice(1).every((p) => p.from?.getUTCDay() === 1)).toBe(true);
      expectPeriods(await partitions(ds, 'base.test_daily'), 'test_daily', dayStart, 6);
      expect(await ds.query(`SELECT tableoid::regclass::text AS part FROM base.test_daily`)).toEqual([
        { part: `base.test_daily_p${stamp(dayStart(0))}` },
      ]);

      // A date column gets date bounds, a timestamp column UTC wall-clock bounds.
      const bound = async (parent: string, name: string): Promise<string> => {
        const [row] = await ds.query(
          `SELECT pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = $1::regclass AND c.relname = $2`,
          [parent, name],
        );
        return row?.bound;
      };
      const iso = (d: Date) => d.toISOString().slice(0, 10);
      expect(await bound('base.test_daily_date', `test_daily_date_p${stamp(dayStart(1))}`)).toBe(
        `FOR VALUES FROM ('${iso(dayStart(1))}') TO ('${iso(dayStart(2))}')`,
      );
      expect(await bound('base.test_weekly_ts', `test_weekly_ts_p${stamp(weekStart(1))}`)).toBe(
        `FOR VALUES FROM ('${iso(weekStart(1))} 00:00:00') TO ('${iso(weekStart(2))} 00:00:00')`,
      );
    });

    it('month boundaries do not drift with the session TimeZone across daylight-saving changes', async () => {
      await createEventsTable(ds, 'base.test_dst');
      await ds.transaction(async (m) => {
        await m.query(`SET LOCAL TimeZone = 'America/New_York'`);
        await m.query(`SELECT base.register_partitioned_table('base.test_dst', 'created_at', 'month', 12)`);
      });
      const parts = (await partitions(ds, 'base.test_dst')).slice(1);
      expect(parts.map((p) => [p.from, p.to])).toEqual(Array.from({ length: 13 }, (_, i) => [monthStart(i), monthStart(i + 1)]));
    });
  });

  describe('privileges', () => {
    it('lets strata_app run maintenance but not register, and runs everything as the owner', async () => {
      const rows: Array<{ fn: string; app: boolean; definer: boolean; config: string[] | null; public_exec: boolean }> = await ds.query(
        `SELECT p.proname AS fn,
                  has_function_privilege('strata_app', p.oid, 'EXECUTE') AS app,
                  p.prosecdef AS definer,
                  p.proconfig AS config,
                  coalesce(EXISTS (SELECT 1 FROM aclexplode(p.proacl) a WHERE a.grantee = 0), true) AS public_exec
             FROM pg_proc p WHERE p.pronamespace = 'base'::regnamespace AND p.proname = ANY($1)
            ORDER BY 1`,
        [PARTITIONING_FUNCTIONS],
      );
      expect(rows.map((r) => r.fn)).toEqual(PARTITIONING_FUNCTIONS);
      const byName = Object.fromEntries(rows.map((r) => [r.fn, r]));
      expect(byName.run_maintenance).toMatchObject({ app: true, definer: true, public_exec: false });
      expect(byName.create_partitions).toMatchObject({ app: true, definer: true, public_exec: false });
      expect(byName.register_partitioned_table).toMatchObject({ app: false, definer: true, public_exec: false });
      expect(byName.unregister_partitioned_table).toMatchObject({ app: false, definer: true, public_exec: false });
      for (const internal of [
        'partition_fill_range',
        'partition_maintain_table',
        'partition_open_default',
        'partition_suspend_triggers',
        'partition_resume_triggers',
      ]) {
        expect(byName[internal]).toMatchObject({ app: false, definer: false, public_exec: false });
      }
      for (const r of rows) expect(r.config).toContain('search_path=pg_catalog, pg_temp');

      // strata_app can actually run maintenance on a table it has no privileges on.
      const qr = ds.createQueryRunner();
      await qr.connect();
      try {
        await qr.startTransaction();
        // The core-schema migration lets strata_app into schema base; nothing else is granted.
        await qr.query(`SET LOCAL ROLE strata_app`);
        const [{ granted }] = await qr.query(
          `SELECT has_schema_privilege('base', 'USAGE') AND NOT has_table_privilege('base.test_far', 'SELECT') AS granted`,
        );
        expect(granted).toBe(true);
        const [{ result }] = await qr.query(`SELECT base.run_maintenance('base.test_far') AS result`);
        expect(result.tables[0].table).toBe('base.test_far');
        await expect(qr.query(`SELECT base.register_partitioned_table('base.test_far', 'created_at', 'day')`)).rejects.toThrow(
          /permission denied/,
        );
      } finally {
        await qr.rollbackTransaction();
        await qr.release();
      }
    });
  });
});

describe('partitioning migration up → down → up', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({ modules: [coreModule] });
  }, 180_000);

  afterAll(async () => {
    await db?.close();
  });

  it('leaves the catalog exactly as before', async () => {
    const runner = new MigrationRunner({ url: db.url });
    const functionNames = (snapshot: string[]) =>
      snapshot.flatMap((line) => /^function CREATE OR REPLACE FUNCTION base\.(\w+)\(/.exec(line)?.[1] ?? []).sort();
    const core = await catalogSnapshot(db, ['base']);
    expect(functionNames(core).filter((fn) => PARTITIONING_FUNCTIONS.includes(fn))).toEqual([]);

    expect(await runner.up([partitioningModule])).toEqual([{ module: 'base', applied: ['Partitioning1795443200000'] }]);
    const migrated = await catalogSnapshot(db, ['base']);
    expect(migrated.filter((line) => line.startsWith('table base.partition_policies '))).toEqual([
      expect.stringMatching(/^table base\.partition_policies kind=r rls=false\/false owner=\S+ acl=/),
    ]);
    expect(functionNames(migrated)).toEqual([...functionNames(core), ...PARTITIONING_FUNCTIONS].sort());

    expect(await runner.down(partitioningModule, { to: 'CreateCoreSchema1795443100000' })).toEqual(['Partitioning1795443200000']);
    expect(await catalogSnapshot(db, ['base'])).toEqual(core);
    const [status] = await runner.status([partitioningModule]);
    expect(status.applied.map((a) => a.name)).toEqual(['CreateCoreSchema1795443100000']);
    expect(status.pending).toEqual(['Partitioning1795443200000']);

    await runner.up([partitioningModule]);
    expect(await catalogSnapshot(db, ['base'])).toEqual(migrated);

    // And it still works after the round trip.
    await db.query(`CREATE TABLE base.test_roundtrip (id bigint, created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at)`);
    await db.query(`SELECT base.register_partitioned_table('base.test_roundtrip', 'created_at', 'week', 1)`);
    expect(await partitions(db, 'base.test_roundtrip')).toHaveLength(3);
  });
});

describe('partitioning migration owned by a non-superuser', () => {
  // Managed Postgres often runs migrations as an owner without superuser or BYPASSRLS:
  // partitions with FORCE ROW LEVEL SECURITY then hide their rows even from that owner.
  // The embedded database has a single (superuser) login, so the owner is a NOLOGIN role
  // the test switches to with SET LOCAL ROLE; it owns what the migration created.
  const owner = `strata_part_owner_${randomBytes(4).toString('hex')}`;
  let db: TestDatabase;

  /** Runs `work` in a transaction as the owner role. */
  const asOwner = <T>(work: (m: EntityManager) => Promise<T>): Promise<T> =>
    db.dataSource.transaction(async (m) => {
      await m.query(`SET LOCAL ROLE ${owner}`);
      return work(m);
    });

  beforeAll(async () => {
    db = await createTestDatabase({ modules: [partitioningModule] });
    await db.query(`CREATE ROLE ${owner} NOLOGIN NOSUPERUSER NOBYPASSRLS`);
    await db.query(`GRANT ALL ON SCHEMA base TO ${owner}`);
    await db.query(`ALTER TABLE base.partition_policies OWNER TO ${owner}`);
    const functions: Array<{ fn: string }> = await db.query(
      `SELECT p.oid::regprocedure::text AS fn FROM pg_proc p
        WHERE p.pronamespace = 'base'::regnamespace AND p.proname = ANY($1)`,
      [PARTITIONING_FUNCTIONS],
    );
    expect(functions).toHaveLength(PARTITIONING_FUNCTIONS.length);
    for (const { fn } of functions) await db.query(`ALTER FUNCTION ${fn} OWNER TO ${owner}`);
  }, 180_000);

  afterAll(async () => {
    if (!db) return;
    try {
      // Roles are cluster-wide: on a server this one would outlive the test database.
      await db.query(`DROP OWNED BY ${owner}`);
      await db.query(`DROP ROLE ${owner}`);
    } finally {
      await db.close();
    }
  });

  it('moves DEFAULT rows of a FORCE ROW LEVEL SECURITY table and puts FORCE back', async () => {
    const t = 'base.test_owned';
    await asOwner(async (m) => {
      const [{ superuser }] = await m.query(`SELECT rolsuper OR rolbypassrls AS superuser FROM pg_roles WHERE rolname = current_user`);
      expect(superuser).toBe(false);

      await createEventsTable(m, t);
      await m.query(`ALTER TABLE base.test_owned ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
      await m.query(`CREATE POLICY test_owned_all ON base.test_owned USING (payload IS DISTINCT FROM 'hidden')`);
      await m.query(`SELECT base.register_partitioned_table($1, 'created_at', 'month', 1)`, [t]);
      await m.query(`INSERT INTO base.test_owned (created_at, payload) VALUES ($1, 'a'), ($2, 'b')`, [midMonth(-12), midMonth(12)]);
    });
    // The owner cannot see DEFAULT's rows directly: FORCE and no policy of its own.
    expect(await asOwner((m) => defaultCount(m, t))).toBe(0);

    const [result] = await asOwner((m) => runMaintenance(m, t));
    expect(result.moved_rows).toBe(2);
    expect(result.created).toEqual([`test_owned_p${stamp(monthStart(-12))}`, `test_owned_p${stamp(monthStart(12))}`]);
    expect(await asOwner((m) => m.query(`SELECT payload FROM base.test_owned ORDER BY created_at`))).toEqual([
      { payload: 'a' },
      { payload: 'b' },
    ]);
    // Every partition ends ENABLE + FORCE, and was created by the functions running as the owner.
    const flags: Array<{ ok: boolean; owner: string }> = await db.query(
      `SELECT c.relrowsecurity AND c.relforcerowsecurity AS ok, pg_get_userbyid(c.relowner) AS owner
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'base.test_owned'::regclass`,
    );
    expect(flags).toHaveLength(1 + 2 + 2);
    expect(flags.every((f) => f.ok && f.owner === owner)).toBe(true);

    // Seen by the superuser: DEFAULT really is empty.
    expect(await db.query(`SELECT count(*)::int AS n FROM base.test_owned_default`)).toEqual([{ n: 0 }]);
  });
});
