import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MigrationInterface, QueryRunner } from 'typeorm';
import { createTestDatabase, catalogSnapshot, expectEachMigrationReverts, TestDatabase } from '@strata/testing';
import { MigrationError, MigrationRunner, ValidationError, baseModule, defineModule, moduleStatus, resolveDatabaseTarget } from '../src';

const run = promisify(execFile);
const workspace = join(__dirname, '..', '..', '..');
const moduleCli = join(workspace, 'packages/base/dist/cli/module-cli.js');

describe('migration runner', () => {
  let db: TestDatabase;
  afterEach(async () => db?.close());

  it('two processes migrating the same empty database apply each migration once and both exit 0', async () => {
    db = await createTestDatabase({ modules: [baseModule], migrate: false });
    const migrate = () =>
      run('node', [moduleCli, 'migrate', '--json', '--package', 'packages/base'], {
        cwd: workspace,
        env: { ...process.env, DATABASE_URL: db.url },
      });
    const [a, b] = await Promise.all([migrate(), migrate()]);
    const applied = [...JSON.parse(a.stdout)[0].applied, ...JSON.parse(b.stdout)[0].applied];
    expect(applied.sort()).toEqual(baseModule.migrations.map((m) => m.name).sort());
    const history = await db.query<{ name: string; n: string }>('SELECT name, count(*) AS n FROM base.migrations GROUP BY name');
    expect(history).toHaveLength(baseModule.migrations.length);
    expect(history.every((row) => Number(row.n) === 1)).toBe(true);
  });

  it('a migration that fails half-way is rolled back, the history says so, and the fixed one applies next run', async () => {
    db = await createTestDatabase({ modules: [], migrate: false });
    class CreateWidgets1800000000001 implements MigrationInterface {
      async up(q: QueryRunner) {
        await q.query('CREATE TABLE runner_test.widgets (id int PRIMARY KEY)');
      }
      async down(q: QueryRunner) {
        await q.query('DROP TABLE runner_test.widgets');
      }
    }
    const broken = class AddGadgets1800000000002 implements MigrationInterface {
      async up(q: QueryRunner) {
        await q.query('CREATE TABLE runner_test.gadgets (id int PRIMARY KEY)');
        await q.query('SELECT 1 / 0'); // fails after the first statement
      }
      async down(q: QueryRunner) {
        await q.query('DROP TABLE runner_test.gadgets');
      }
    };
    const fixed = class AddGadgets1800000000002 implements MigrationInterface {
      async up(q: QueryRunner) {
        await q.query('CREATE TABLE runner_test.gadgets (id int PRIMARY KEY)');
      }
      async down(q: QueryRunner) {
        await q.query('DROP TABLE runner_test.gadgets');
      }
    };
    const moduleWith = (second: typeof fixed) =>
      defineModule({ name: 'runner_test', requires: [], entities: [], migrations: [CreateWidgets1800000000001, second] });
    // the test module does not need base; drop the implied requirement
    const standalone = (second: typeof fixed) => ({ ...moduleWith(second), requires: [] });
    const runner = new MigrationRunner({ url: db.url });

    await expect(runner.up([standalone(broken)])).rejects.toThrow(MigrationError);
    await expect(runner.up([standalone(broken)])).rejects.toThrow(/AddGadgets1800000000002 failed and was rolled back .*division by zero/);
    const [status] = await runner.status([standalone(broken)]);
    expect(status.applied.map((a) => a.name)).toEqual(['CreateWidgets1800000000001']);
    expect(status.pending).toEqual(['AddGadgets1800000000002']);
    expect((await db.query(`SELECT to_regclass('runner_test.gadgets') AS t`))[0].t).toBeNull();

    const [result] = await runner.up([standalone(fixed)]);
    expect(result.applied).toEqual(['AddGadgets1800000000002']);
    const [after] = await runner.status([standalone(fixed)]);
    expect(after.pending).toEqual([]);
    expect(after.applied.map((a) => a.name)).toEqual(['CreateWidgets1800000000001', 'AddGadgets1800000000002']);

    // down --to keeps the named migration; status follows
    expect(await runner.down(standalone(fixed), { to: 'CreateWidgets1800000000001' })).toEqual(['AddGadgets1800000000002']);
    expect((await runner.status([standalone(fixed)]))[0].pending).toEqual(['AddGadgets1800000000002']);
    await expect(runner.down(standalone(fixed), { to: 'NoSuchMigration' })).rejects.toThrow(/no migration "NoSuchMigration"/);
    // a prefix could name several migrations: refused; a 13-digit timestamp names exactly one
    await expect(runner.down(standalone(fixed), { to: 'Create' })).rejects.toThrow(/no migration "Create"/);
    await runner.up([standalone(fixed)]);
    expect(await runner.down(standalone(fixed), { to: '1800000000001' })).toEqual(['AddGadgets1800000000002']);
  });

  it('revert --to a pending migration is refused as bad usage and reverts nothing', async () => {
    db = await createTestDatabase({ modules: [], migrate: false });
    class CreateParts1800000000011 implements MigrationInterface {
      async up(q: QueryRunner) {
        await q.query('CREATE TABLE runner_pending.parts (id int PRIMARY KEY)');
      }
      async down(q: QueryRunner) {
        await q.query('DROP TABLE runner_pending.parts');
      }
    }
    class AddBins1800000000012 implements MigrationInterface {
      async up(q: QueryRunner) {
        await q.query('CREATE TABLE runner_pending.bins (id int PRIMARY KEY)');
      }
      async down(q: QueryRunner) {
        await q.query('DROP TABLE runner_pending.bins');
      }
    }
    const all = {
      ...defineModule({ name: 'runner_pending', entities: [], migrations: [CreateParts1800000000011, AddBins1800000000012] }),
      requires: [],
    };
    const runner = new MigrationRunner({ url: db.url });
    await runner.up([{ ...all, migrations: [CreateParts1800000000011] }]);

    for (const to of ['AddBins1800000000012', '1800000000012']) {
      const refusal = await runner.down(all, { to }).catch((error: unknown) => error);
      expect(refusal).toBeInstanceOf(ValidationError);
      expect((refusal as ValidationError).fields).toEqual(['to']);
      expect((refusal as Error).message).toMatch(/AddBins1800000000012.* is not applied \(it is pending\)/);
    }
    expect((await runner.status([all]))[0].applied.map((m) => m.name)).toEqual(['CreateParts1800000000011']);
    expect((await db.query(`SELECT to_regclass('runner_pending.parts') AS t`))[0].t).toBe('runner_pending.parts');
  });

  it('the module CLI exits 2 on revert --to a pending migration', async () => {
    db = await createTestDatabase({ modules: [baseModule], migrate: false });
    const refused = await run('node', [moduleCli, 'revert', '--to', 'CreateAuditLog1795443300000', '--package', 'packages/base'], {
      cwd: workspace,
      env: { ...process.env, DATABASE_URL: db.url },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /^strata-module: Invalid input: to \(migration CreateAuditLog1795443300000 of module base is not applied/,
    );
  });

  it('a migration with transaction = false (CREATE INDEX CONCURRENTLY) applies and reverts outside a transaction', async () => {
    db = await createTestDatabase({ modules: [], migrate: false });
    class CreateItems1800000000021 implements MigrationInterface {
      async up(q: QueryRunner) {
        await q.query('CREATE TABLE runner_concurrent.items (id int PRIMARY KEY, sku text NOT NULL)');
      }
      async down(q: QueryRunner) {
        await q.query('DROP TABLE runner_concurrent.items');
      }
    }
    // PostgreSQL refuses CONCURRENTLY inside a transaction block, so this passes only outside one.
    class IndexItemsSku1800000000022 implements MigrationInterface {
      transaction = false;
      async up(q: QueryRunner) {
        await q.query('CREATE INDEX CONCURRENTLY items_sku_idx ON runner_concurrent.items (sku)');
      }
      async down(q: QueryRunner) {
        await q.query('DROP INDEX CONCURRENTLY runner_concurrent.items_sku_idx');
      }
    }
    const module = {
      ...defineModule({ name: 'runner_concurrent', entities: [], migrations: [CreateItems1800000000021, IndexItemsSku1800000000022] }),
      requires: [],
    };
    const runner = new MigrationRunner({ url: db.url });
    const index = () =>
      db.query<{ valid: boolean }>(
        `SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass('runner_concurrent.items_sku_idx')`,
      );
    const history = async () =>
      (await db.query<{ name: string }>('SELECT name FROM runner_concurrent.migrations ORDER BY id')).map((r) => r.name);

    expect((await runner.up([module]))[0].applied).toEqual(['CreateItems1800000000021', 'IndexItemsSku1800000000022']);
    expect(await index()).toEqual([{ valid: true }]);
    expect(await history()).toEqual(['CreateItems1800000000021', 'IndexItemsSku1800000000022']);

    expect(await runner.down(module)).toEqual(['IndexItemsSku1800000000022']);
    expect(await index()).toEqual([]);
    expect(await history()).toEqual(['CreateItems1800000000021']);

    expect((await runner.up([module]))[0].applied).toEqual(['IndexItemsSku1800000000022']);
    expect(await index()).toEqual([{ valid: true }]);
    expect(await runner.down(module, { to: '0' })).toEqual(['IndexItemsSku1800000000022', 'CreateItems1800000000021']);
    expect(await history()).toEqual([]);
  });

  it('a failing down without a transaction leaves the migration applied (its history row stays)', async () => {
    db = await createTestDatabase({ modules: [], migrate: false });
    class CreateBoxes1800000000031 implements MigrationInterface {
      transaction = false;
      async up(q: QueryRunner) {
        await q.query('CREATE TABLE runner_stuck.boxes (id int PRIMARY KEY)');
      }
      async down(q: QueryRunner) {
        await q.query('DROP INDEX CONCURRENTLY runner_stuck.no_such_idx');
      }
    }
    const module = { ...defineModule({ name: 'runner_stuck', entities: [], migrations: [CreateBoxes1800000000031] }), requires: [] };
    const runner = new MigrationRunner({ url: db.url });
    await runner.up([module]);
    await expect(runner.down(module)).rejects.toThrow(/reverting CreateBoxes1800000000031 failed.*no_such_idx/);
    expect((await runner.status([module]))[0].applied.map((m) => m.name)).toEqual(['CreateBoxes1800000000031']);
  });

  it('reverting a module is refused while a module that requires it is applied, even when only the module itself is loaded', async () => {
    db = await createTestDatabase({ modules: [baseModule], migrate: false });
    class CreateGears1800000000041 implements MigrationInterface {
      async up(q: QueryRunner) {
        await q.query('CREATE TABLE runner_dependent.gears (id int PRIMARY KEY)');
      }
      async down(q: QueryRunner) {
        await q.query('DROP TABLE runner_dependent.gears');
      }
    }
    const dependent = defineModule({ name: 'runner_dependent', entities: [], migrations: [CreateGears1800000000041] });
    const runner = new MigrationRunner({ url: db.url });
    await runner.up([baseModule, dependent]);
    // The runner records what each module requires on its history table.
    expect(await db.query(`SELECT obj_description('runner_dependent.migrations'::regclass, 'pg_class') AS mark`)).toEqual([
      { mark: 'strata:requires base' },
    ]);

    // Only base is loaded: the dependent is known from the database alone.
    await expect(runner.down(baseModule, { to: '0' })).rejects.toThrow(
      /Cannot revert base: runner_dependent still depend on it; revert them first/,
    );
    expect((await runner.status([baseModule]))[0].pending).toEqual([]);

    // A history table that predates the mark cannot say what its module requires: refused until it is migrated again.
    await db.query(`COMMENT ON TABLE runner_dependent.migrations IS NULL`);
    await expect(runner.down(baseModule)).rejects.toThrow(
      /runner_dependent \(its history does not say what it requires: migrate it once\)/,
    );
    await runner.up([baseModule, dependent]);

    // Reverted entirely, the dependent no longer holds base back.
    expect(await runner.down(dependent, { to: '0' })).toEqual(['CreateGears1800000000041']);
    expect(await runner.down(baseModule)).toEqual([baseModule.migrations[baseModule.migrations.length - 1].name]);
  });

  it('up → down → up leaves the catalog exactly as it was', async () => {
    db = await createTestDatabase({ modules: [baseModule], migrate: false });
    const runner = new MigrationRunner({ url: db.url });
    await runner.up([baseModule]);
    const first = await catalogSnapshot(db, ['base']);
    expect(first.some((line) => line.startsWith('function CREATE OR REPLACE FUNCTION base.run_maintenance'))).toBe(true);
    expect(first.some((line) => line.startsWith('policy base.organizations.tenant_isolation'))).toBe(true);

    const reverted = await runner.down(baseModule, { to: '0' });
    expect(reverted).toHaveLength(baseModule.migrations.length);
    const empty = await catalogSnapshot(db, ['base']);
    expect(empty.filter((l) => !l.startsWith('schema ') && !/base\.migrations/.test(l))).toEqual([]);

    await runner.up([baseModule]);
    expect(await catalogSnapshot(db, ['base'])).toEqual(first);
  });

  it("each migration's down restores exactly the catalog its up found", async () => {
    db = await createTestDatabase({ modules: [baseModule], migrate: false });
    await expectEachMigrationReverts(db, baseModule);
  });

  it('status reports applied and pending migrations per module', async () => {
    db = await createTestDatabase({ modules: [baseModule], migrate: false });
    const target = { kind: 'server' as const, url: db.url };
    expect(resolveDatabaseTarget({ DATABASE_URL: db.url })).toEqual(target);
    let [status] = (await moduleStatus([baseModule], { target })).modules;
    expect(status.applied).toEqual([]);
    expect(status.pending).toHaveLength(baseModule.migrations.length);
    await new MigrationRunner({ url: db.url }).up([baseModule]);
    [status] = (await moduleStatus([baseModule], { target })).modules;
    expect(status.pending).toEqual([]);
    expect(status.applied.map((a) => a.name)).toEqual(baseModule.migrations.map((m) => m.name));
  });
});
