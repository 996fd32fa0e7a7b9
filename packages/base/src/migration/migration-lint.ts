import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MigrationInterface, QueryRunner } from 'typeorm';
import { ConfigurationError } from '../errors';
import { Queryable, createDataSource } from '../database/database';
import { MigrationClass, StrataModule } from '../module';
import { MigrationRunner } from './migration-runner';
import { requirementClosure } from './schema-drift';

export interface MigrationLintFinding {
  migration: string;
  rule: string;
  message: string;
  /** 1-based line in the migration's captured SQL (`sql` of its entry in `linted`). */
  line: number;
}

export interface LintedMigration {
  name: string;
  /** The tables that existed before the migration and that it changed. */
  changes: string[];
  /** What the migration ran, as squawk read it (the runner's session settings first). */
  sql: string;
}

export interface MigrationLintReport {
  module: string;
  squawk: string;
  /** Migrations that change a table that existed before them: linted. */
  linted: LintedMigration[];
  /** Migrations that only create new objects: nothing existing is locked, so they are not linted. */
  skipped: string[];
  findings: MigrationLintFinding[];
}

export interface MigrationLintOptions {
  /** The lock_timeout the runner sets for every migration (its `lockTimeout`), written at the top of each file squawk reads. */
  lockTimeout?: string;
  /** Where squawk is installed from and where it looks for `.squawk.toml` (default: the working directory). */
  cwd?: string;
  log?: (line: string) => void;
}

/**
 * Migration lint: applies `module`'s migrations one at a time on `url` (an empty
 * scratch database), records the SQL each one runs, and runs squawk on every
 * migration that changes a table that existed before it (a column, constraint,
 * index, trigger, policy, grant or partition of it). A migration that only creates
 * new objects locks nothing anyone uses yet, so it is skipped. squawk reads its
 * rules from `.squawk.toml` in `cwd`.
 */
export async function lintMigrations(
  url: string,
  module: StrataModule,
  installed: StrataModule[],
  options: MigrationLintOptions = {},
): Promise<MigrationLintReport> {
  const cwd = options.cwd ?? process.cwd();
  const squawk = squawkBin(cwd);
  const lockTimeout = options.lockTimeout ?? '10s';
  const runner = new MigrationRunner({ url }, { lockTimeout, log: options.log });
  const requires = requirementClosure(module, installed).filter((m) => m.name !== module.name);
  await runner.up(requires);

  const captured = new Map<string, string[]>();
  const migrations = module.migrations.map((migration) => recording(migration, captured));
  const linted: (LintedMigration & { transactional: boolean })[] = [];
  const skipped: string[] = [];
  const catalog = createDataSource({ url, poolSize: 1 });
  await catalog.initialize();
  try {
    for (let index = 0; index < migrations.length; index++) {
      const name = module.migrations[index].name;
      const before = await tableFingerprints(catalog);
      await runner.up([...requires, { ...module, migrations: migrations.slice(0, index + 1) }]);
      const after = await tableFingerprints(catalog);
      const changes = [...before.keys()].filter((table) => after.get(table) !== before.get(table));
      if (changes.length === 0) {
        skipped.push(name);
        continue;
      }
      const header = [
        `-- ${module.name}: ${name}, changes ${changes.join(', ')}`,
        `SET lock_timeout = '${lockTimeout}'; -- the runner sets it for its session before every migration`,
      ];
      const statements = (captured.get(name) ?? []).map((s) => `${s.trim().replace(/;$/, '')};`);
      const sql = `${[...header, ...statements].join('\n')}\n`;
      linted.push({ name, changes, sql, transactional: new module.migrations[index]().transaction !== false });
    }
  } finally {
    await catalog.destroy();
  }

  const dir = mkdtempSync(join(tmpdir(), `strata-lint-${module.name}-`));
  try {
    const findings: MigrationLintFinding[] = [];
    for (const transactional of [true, false]) {
      const files = linted
        .filter((m) => m.transactional === transactional)
        .map((m) => {
          const file = join(dir, `${m.name}.sql`);
          writeFileSync(file, m.sql);
          return file;
        });
      if (files.length === 0) continue;
      // Each migration runs in its own transaction unless it opts out (transaction = false).
      const args = [
        ...(transactional ? ['--assume-in-transaction'] : ['--no-assume-in-transaction']),
        '--no-error-on-unmatched-pattern', // every file may be among .squawk.toml's excluded_paths
        '--reporter',
        'json',
        ...files,
      ];
      findings.push(...(await runSquawk(squawk, args, cwd)));
    }
    const version = (await promisify(execFile)(squawk, ['--version'], { cwd })).stdout.trim();
    return {
      module: module.name,
      squawk: version,
      linted: linted.map(({ name, changes, sql }) => ({ name, changes, sql })),
      skipped,
      findings,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The migration, its statements recorded in `captured` under its name as they run. */
function recording(migration: MigrationClass, captured: Map<string, string[]>): MigrationClass {
  const name = migration.name;
  const record = (q: QueryRunner): QueryRunner => {
    const statements: string[] = [];
    captured.set(name, statements);
    // TypeORM's own helpers (createTable, addColumn …) call this.query on the proxy, so they are recorded too.
    return new Proxy(q, {
      get(target, property, receiver) {
        if (property !== 'query') return Reflect.get(target, property, receiver);
        return (sql: string, ...rest: unknown[]) => {
          statements.push(sql);
          return (target.query as (...args: unknown[]) => Promise<unknown>)(sql, ...rest);
        };
      },
    });
  };
  const Recorded = class implements MigrationInterface {
    private readonly inner = new migration();
    readonly name = name;
    readonly transaction = this.inner.transaction;
    up(q: QueryRunner) {
      return this.inner.up(record(q));
    }
    down(q: QueryRunner) {
      return this.inner.down(q);
    }
  };
  Object.defineProperty(Recorded, 'name', { value: name });
  return Recorded;
}

/** A digest per existing table of everything a migration can change on it (the history tables are the runner's). */
async function tableFingerprints(db: Queryable): Promise<Map<string, string>> {
  const rows: { name: string; digest: string }[] = await db.query(
    `SELECT c.oid::regclass::text AS name, md5(concat_ws('|',
              c.relkind::text, c.relrowsecurity, c.relforcerowsecurity, c.relowner, c.relacl::text, c.relreplident::text,
              (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' '
                                 || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' ' || coalesce(a.attacl::text, ''), ',' ORDER BY a.attnum)
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
              (SELECT string_agg(k.conname || ' ' || pg_get_constraintdef(k.oid) || ' ' || k.convalidated, ',' ORDER BY k.conname)
                 FROM pg_constraint k WHERE k.conrelid = c.oid),
              (SELECT string_agg(pg_get_indexdef(i.indexrelid) || ' ' || i.indisvalid, ',' ORDER BY 1) FROM pg_index i WHERE i.indrelid = c.oid),
              (SELECT string_agg(pg_get_triggerdef(t.oid) || ' ' || t.tgenabled::text, ',' ORDER BY 1) FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
              (SELECT string_agg(p.polname || ' ' || coalesce(pg_get_expr(p.polqual, p.polrelid), '') || ' ' || coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''), ',' ORDER BY 1)
                 FROM pg_policy p WHERE p.polrelid = c.oid),
              (SELECT string_agg(i.inhrelid::regclass::text, ',' ORDER BY 1) FROM pg_inherits i WHERE i.inhparent = c.oid))) AS digest
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relname <> 'migrations'`,
  );
  return new Map(rows.map((r) => [r.name, r.digest]));
}

/**
 * squawk's binary for this machine, resolved from `cwd`. squawk-cli is a thin launcher over one package per
 * platform, and the registry this project installs from serves only `@squawk-cli/linux-x64` (the launcher's
 * other platform packages are missing there, which breaks `npm ci`), so the workspace depends on the platform
 * package itself, as an optional dependency.
 */
function squawkBin(cwd: string): string {
  const platformPackage = `@squawk-cli/${process.platform}-${process.arch}`;
  try {
    return createRequire(join(cwd, 'package.json')).resolve(`${platformPackage}/bin/squawk${process.platform === 'win32' ? '.exe' : ''}`);
  } catch {
    throw new ConfigurationError(`Migration lint needs squawk's binary for this platform: npm install --no-save ${platformPackage}@2.66.0`);
  }
}

interface SquawkViolation {
  file: string;
  line: number;
  message: string;
  rule_name: string;
}

async function runSquawk(bin: string, args: string[], cwd: string): Promise<MigrationLintFinding[]> {
  // squawk exits 1 when it finds something; its JSON report is on stdout either way.
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = execFile(bin, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, out, err) => {
      if (!error || out.trim().startsWith('[')) resolve(out);
      else reject(new ConfigurationError(`squawk failed: ${err.trim() || error.message}`));
    });
    child.stdin?.end(); // with every file excluded squawk reads stdin instead: give it nothing
  });
  const violations = (JSON.parse(stdout.trim() || '[]') as SquawkViolation[]).filter((v) => v.file !== 'stdin');
  return violations.map((v) => ({
    migration: v.file.replace(/^.*[\\/]/, '').replace(/\.sql$/, ''),
    rule: v.rule_name,
    message: v.message,
    line: v.line + 1,
  }));
}
