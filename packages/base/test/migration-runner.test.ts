import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MigrationInterface, QueryRunner } from 'typeorm';
import { createTestDatabase, catalogSnapshot, expectEachMigrationReverts, TestDatabase } from '@strata/testing';
import { MigrationError, MigrationRunner, baseModule, defineModule, moduleStatus, resolveDatabaseTarget } from '../src';

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
