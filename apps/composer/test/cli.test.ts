import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TenantTable, baseModule, createTenantTable, dropTenantTable } from '@strata/base';
import { createTestDatabase, TestDatabase } from '@strata/testing';
import { installedModules } from '../src/modules';
import { runCli } from '../src/cli-program';

const run = promisify(execFile);
const workspace = join(__dirname, '..', '..', '..');
const moduleCli = join(workspace, 'packages/base/dist/cli/module-cli.js');

/** Runs the CLI in-process against the test database and captures what it prints. */
async function strata(args: string[], env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    const code = await runCli(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    process.env = saved;
  }
}

describe('strata CLI', () => {
  let db: TestDatabase;
  let env: Record<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase({ modules: installedModules, migrate: false });
    env = { DATABASE_URL: db.url };
  });
  afterAll(async () => db?.close());

  it('migrate applies every module once; a second run applies nothing and says so', async () => {
    const first = await strata(['migrate'], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/base\s+applied \d+: CreateCoreSchema1795443100000/);
    expect(first.stderr).toContain('applying CreateCoreSchema1795443100000'); // progress on stderr
    const second = await strata(['migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('Nothing to apply: every module is up to date.');
  });

  it('status and health show base migrated, as text and as JSON', async () => {
    const status = await strata(['--json', 'status'], env);
    expect(status.code).toBe(0);
    const base = JSON.parse(status.stdout).modules.find((m: { module: string }) => m.module === 'base');
    expect(base.pending).toEqual([]);
    expect(base.applied).toHaveLength(installedModules.find((m) => m.name === 'base')!.migrations.length);

    const health = await strata(['health', '--json'], env);
    expect(health.code).toBe(0);
    const report = JSON.parse(health.stdout);
    expect(report.status).toBe('healthy');
    expect(report.problems).toEqual([]);
    expect(report.extensions.map((e: { name: string }) => e.name)).toContain('plpgsql');
    expect(report.partitions.map((p: { table: string }) => p.table)).toEqual([
      'analytics.metric_points',
      'base.audit_log',
      'events.delivery_attempts',
      'events.event_aggregations',
      'events.events',
      'learning.predictions',
      'prompts.llm_interactions',
      'prompts.llm_usage',
      'prompts.prompt_executions',
      'tasks.task_executions',
    ]);
    expect(report.modules.find((m: { module: string }) => m.module === 'base').pending).toEqual([]);

    const human = await strata(['health'], env);
    expect(human.stdout).toMatch(/^Strata health: HEALTHY/);
    expect(human.stdout).toContain('every tenant table forces row-level security');
  });

  it("a module's own revert target sees the composer applied in the database and refuses, dropping nothing", async () => {
    // What `nx run @strata/tasks:migrate:revert --to=0` runs: only tasks' requirement closure (base, tasks) is loaded.
    // The composer's cross-module references: from tasks' tables to projects.
    const composerKeys = () =>
      db.query<{ name: string }>(
        `SELECT conname AS name FROM pg_constraint WHERE connamespace = 'tasks'::regnamespace AND confrelid = 'projects.projects'::regclass ORDER BY 1`,
      );
    const keysBefore = await composerKeys();
    expect(keysBefore).toHaveLength(2);
    const tasksHistory = () => db.query(`SELECT name FROM tasks.migrations ORDER BY id`);
    const historyBefore = await tasksHistory();

    const refused = await run('node', [moduleCli, 'revert', '--to', '0', '--package', 'packages/tasks'], {
      cwd: workspace,
      env: { ...process.env, ...env },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^strata-module: Cannot revert tasks: composer still depend on it; revert them first/);
    expect(await composerKeys()).toEqual(keysBefore);
    expect(await tasksHistory()).toEqual(historyBefore);
    const status = JSON.parse((await strata(['status', '--json'], env)).stdout);
    expect(status.modules.every((m: { pending: string[] }) => m.pending.length === 0)).toBe(true);
  });

  it('revert --to keeps that migration; status then shows the rest pending; migrate restores', async () => {
    // Base cannot go back while modules that require it are applied: those go first.
    const refused = await strata(['revert', '--module', 'base', '--to', 'CreateAuditLog1795443300000'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/Cannot revert base: .*tasks.* still depend on it; revert them first/);
    // Every module but base, dependents first (installedModules is in dependency order).
    for (const module of installedModules
      .map((m) => m.name)
      .filter((name) => name !== 'base')
      .reverse())
      expect((await strata(['revert', '--module', module, '--to', '0'], env)).code).toBe(0);
    const reverted = await strata(['revert', '--module', 'base', '--to', 'CreateAuditLog1795443300000'], env);
    expect(reverted.code).toBe(0);
    // Everything base applied after CreateAuditLog, newest first (the list grows with base's migrations).
    const after = baseModule.migrations
      .map((m) => m.name)
      .slice(baseModule.migrations.findIndex((m) => m.name === 'CreateAuditLog1795443300000') + 1);
    expect(after.slice(0, 2)).toEqual(['CreateHealthCheck1795443400000', 'CreateValidateIntegrity1795443500000']);
    expect(reverted.stdout).toBe(`base: reverted ${[...after].reverse().join(', ')}`);
    const status = JSON.parse((await strata(['status', '--json'], env)).stdout);
    expect(status.modules.find((m: { module: string }) => m.module === 'base').pending).toEqual(after);
    // --to a migration that is pending now: bad usage, nothing reverted.
    const pending = await strata(['revert', '--module', 'base', '--to', 'CreateEnterTenant1795451000000'], env);
    expect(pending.code).toBe(2);
    expect(pending.stderr).toMatch(
      /^strata: .*to \(migration CreateEnterTenant1795451000000 of module base is not applied \(it is pending\)/,
    );
    expect(
      JSON.parse((await strata(['status', '--json'], env)).stdout).modules.find((m: { module: string }) => m.module === 'base').applied,
    ).toHaveLength(3);
    expect((await strata(['migrate'], env)).stdout).toContain(`applied ${after.length}: ${after.join(', ')}`);
  });

  it('maintain runs partition maintenance', async () => {
    await db.query(`INSERT INTO base.organizations (name, slug) VALUES ('M', 'maint')`);
    const result = await strata(['maintain', '--json'], env);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.tables.map((t: { table: string }) => t.table)).toEqual([
      'analytics.metric_points',
      'base.audit_log',
      'events.delivery_attempts',
      'events.event_aggregations',
      'events.events',
      'learning.predictions',
      'prompts.llm_interactions',
      'prompts.llm_usage',
      'prompts.prompt_executions',
      'tasks.task_executions',
    ]);
  });

  it('validate reports every integrity rule satisfied', async () => {
    const result = await strata(['validate'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Integrity: OK/);
    expect(result.stdout).toContain('✓ references between tenant tables are tenant-consistent');
  });

  it('validate keeps passing after retention detaches a partition; the archive must keep forced row-level security', async () => {
    const readings: TenantTable = {
      table: 'archive_test.readings',
      columns: { id: 'uuid NOT NULL DEFAULT gen_random_uuid()', taken_at: 'timestamptz NOT NULL' },
      partition: { column: 'taken_at', interval: 'month', premake: 1, retention: '2 months', retentionMode: 'detach' },
    };
    // A schema with a history table is a module's schema: the integrity rules cover it.
    await db.query('CREATE SCHEMA archive_test; CREATE TABLE archive_test.migrations (id int)');
    await createTenantTable(db, readings);
    const [org] = await db.query<{ id: string }>(`INSERT INTO base.organizations (name, slug) VALUES ('R', 'readings') RETURNING id`);
    await db.query(`INSERT INTO archive_test.readings (organization_id, taken_at) VALUES ($1, now() - interval '5 months')`, [org.id]);

    const maintained = await strata(['maintain', '--json'], env);
    expect(maintained.code).toBe(0);
    const [detached] = JSON.parse(maintained.stdout).tables.find((t: { table: string }) => t.table === readings.table).detached;
    expect(detached).toMatch(/^readings_p\d{8}$/);
    const valid = await strata(['validate'], env);
    expect(valid.code).toBe(0);
    expect(valid.stdout).toContain('✓ detached partitions keep row-level security forced');

    await db.query(`ALTER TABLE archive_test.${detached} NO FORCE ROW LEVEL SECURITY`);
    const invalid = await strata(['validate'], env);
    expect(invalid.code).toBe(1);
    expect(invalid.stdout).toContain(`archive_test.${detached} (detached from archive_test.readings)`);

    await dropTenantTable(db, readings);
    await db.query('DROP SCHEMA archive_test CASCADE');
    expect((await strata(['validate'], env)).code).toBe(0);
  });

  it('bad usage exits 2; failures exit 1 with one readable line', async () => {
    expect((await strata(['revert'], env)).code).toBe(2); // --module is required
    expect((await strata(['frobnicate'], env)).code).toBe(2);
    const unknown = await strata(['migrate', '--module', 'nope'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown module "nope"');
    const ambiguous = await strata(['revert', '--module', 'base', '--to', 'Create'], env);
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/^strata: .*no migration "Create"/);

    const down = await strata(['status'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' });
    expect(down.code).toBe(1);
    expect(down.stderr.split('\n')).toHaveLength(1);
    expect(down.stderr).toMatch(/^strata: .*ECONNREFUSED/);
    const verbose = await strata(['status', '--verbose'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere' });
    expect(verbose.stderr.split('\n').length).toBeGreaterThan(1); // the stack
    const badUrl = await strata(['status'], { DATABASE_URL: 'mysql://x' });
    expect(badUrl.code).toBe(1);
    expect(badUrl.stderr).toContain('DATABASE_URL must be a postgres:// URL');
  });

  it('the built binary prints its help and exits 0', async () => {
    const cli = join(__dirname, '..', 'dist', 'cli.js');
    const { stdout } = await run('node', [cli, '--help']);
    expect(stdout).toContain('Usage: strata');
    for (const command of ['migrate', 'revert', 'status', 'health', 'validate', 'maintain', 'start']) expect(stdout).toContain(command);
  });
});
