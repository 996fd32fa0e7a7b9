import { HealthReport, IntegrityReport } from '../health';
import { DriftReport, MigrationLintReport, ModuleRunResult, ModuleStatus } from '../migration';
import { MaintenanceReport } from '../partitioning';

/** Human output for the CLIs; `--json` prints the same objects as JSON instead. */

export function formatMigrate(database: string, results: ModuleRunResult[]): string {
  const total = results.reduce((n, r) => n + r.applied.length, 0);
  const lines = results.map(
    (r) => `  ${r.module.padEnd(12)} ${r.applied.length ? `applied ${r.applied.length}: ${r.applied.join(', ')}` : 'up to date'}`,
  );
  const summary = total === 0 ? 'Nothing to apply: every module is up to date.' : `Applied ${total} migration(s).`;
  return [`Migrated ${database}`, ...lines, summary].join('\n');
}

export function formatStatus(database: string, modules: ModuleStatus[]): string {
  const lines = [`Migration status of ${database}`];
  for (const m of modules) {
    lines.push(
      `  ${m.module.padEnd(12)} ${m.applied.length} applied, ${m.pending.length} pending${m.unknown.length ? `, ${m.unknown.length} unknown` : ''}`,
    );
    for (const a of m.applied) lines.push(`    [x] ${a.name}  (${a.appliedAt.toISOString()})`);
    for (const p of m.pending) lines.push(`    [ ] ${p}`);
    for (const u of m.unknown) lines.push(`    [?] ${u}  (in the database, not in the code)`);
  }
  return lines.join('\n');
}

export function formatHealth(report: HealthReport & { target?: string }): string {
  const mb = (report.database_size_bytes / 1024 / 1024).toFixed(1);
  const lines = [
    `Strata health: ${report.status.toUpperCase()}`,
    `  database     ${report.target ?? report.database} (PostgreSQL ${report.server_version}, ${mb} MiB)`,
    `  extensions   ${report.extensions.map((e) => `${e.name} ${e.version}`).join(', ') || 'none'}${report.vector_available ? '' : ' (pgvector NOT available)'}`,
    '  modules',
    ...report.modules.map(
      (m) =>
        `    ${m.module.padEnd(12)} ${m.applied} applied${m.pending ? `, ${m.pending.length} pending` : ''}${m.latest ? `  latest ${m.latest}` : ''}`,
    ),
    '  partitions',
    ...(report.partitions.length
      ? report.partitions.map(
          (p) => `    ${p.table.padEnd(28)} ${p.partitions_ahead} ahead (premake ${p.premake}), ${p.default_rows} row(s) in DEFAULT`,
        )
      : ['    none']),
    `  rls          ${report.tenant_tables_without_forced_rls.length ? `UNPROTECTED: ${report.tenant_tables_without_forced_rls.join(', ')}` : 'every tenant table forces row-level security'}`,
    `  indexes      ${report.invalid_indexes.length ? `INVALID: ${report.invalid_indexes.join(', ')}` : 'all valid'}`,
  ];
  if (report.problems.length) lines.push('  problems', ...report.problems.map((p) => `    - ${p}`));
  return lines.join('\n');
}

export function formatMaintenance(report: MaintenanceReport): string {
  if (report.tables.length === 0) return 'No partitioned tables registered.';
  return [
    'Partition maintenance',
    ...report.tables.map(
      (t) =>
        `  ${t.table.padEnd(28)} created ${t.created.length}, moved ${t.moved_rows} row(s) out of DEFAULT, dropped ${t.dropped.length}, detached ${t.detached.length}`,
    ),
  ].join('\n');
}

export function formatDrift(report: DriftReport): string {
  if (report.statements.length === 0) {
    return `${report.module}: no drift: the migrations produce exactly the entities${report.ignored.length ? ` (${report.ignored.length} hand-written object statement(s) ignored)` : ''}.`;
  }
  return [
    `${report.module}: DRIFT: the entities differ from the migrated schema. Missing migration for:`,
    ...report.statements.map((s) => `  ${s};`),
  ].join('\n');
}

export function formatIntegrity(report: IntegrityReport): string {
  return [
    `Integrity: ${report.ok ? 'OK' : 'VIOLATIONS FOUND'}`,
    ...report.checks.map(
      (c) => `  ${c.violations.length ? '✗' : '✓'} ${c.check}${c.violations.length ? `: ${c.violations.join(', ')}` : ''}`,
    ),
  ].join('\n');
}

export function formatLint(report: MigrationLintReport): string {
  const lines = [
    `Migration lint of ${report.module} (${report.squawk}): ${report.linted.length} migration(s) change existing tables, ${report.skipped.length} only create new objects (not linted)`,
  ];
  for (const migration of report.linted) {
    const found = report.findings.filter((f) => f.migration === migration.name);
    lines.push(`  ${found.length ? '✗' : '✓'} ${migration.name} (changes ${migration.changes.join(', ')})`);
    for (const f of found) lines.push(`      ${f.rule} (line ${f.line}): ${f.message}`);
  }
  lines.push(
    report.findings.length
      ? `${report.findings.length} finding(s): fix them, or exclude the rule in .squawk.toml with the reason.`
      : 'No findings.',
  );
  return lines.join('\n');
}
