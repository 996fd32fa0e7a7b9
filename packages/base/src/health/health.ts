import { Queryable } from '../database/database';
import { StrataModule } from '../module';

export interface HealthReport {
  status: 'healthy' | 'degraded';
  checked_at: string;
  server_version: string;
  database: string;
  database_size_bytes: number;
  extensions: { name: string; version: string }[];
  vector_available: boolean;
  modules: { module: string; applied: number; latest: string | null; pending: string[] | null }[];
  partitions: {
    table: string;
    interval: string;
    partitions_ahead: number;
    premake: number;
    default_rows: number;
    last_maintained_at: string | null;
  }[];
  tenant_tables_without_forced_rls: string[];
  invalid_indexes: string[];
  problems: string[];
}

/** `base.health_check()`, told which migrations the installed modules ship so it can report pending ones. Operator only: as the owner. */
export async function healthCheck(q: Queryable, modules: StrataModule[]): Promise<HealthReport> {
  const expected = Object.fromEntries(modules.map((m) => [m.name, m.migrations.map((migration) => migration.name)]));
  const rows = await q.query('SELECT base.health_check($1::jsonb) AS report', [JSON.stringify(expected)]);
  return rows[0].report as HealthReport;
}

export interface IntegrityReport {
  ok: boolean;
  checked_at: string;
  checks: { check: string; violations: string[] }[];
}

/** `base.validate_integrity()`: the tenancy and partitioning rules checked against the live catalog. */
export async function validateIntegrity(q: Queryable): Promise<IntegrityReport> {
  const rows = await q.query('SELECT base.validate_integrity() AS report');
  return rows[0].report as IntegrityReport;
}
