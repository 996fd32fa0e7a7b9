import { Queryable } from '../database/database';
import { PartitionPolicy } from '../module';

export interface MaintenanceReport {
  tables: { table: string; created: string[]; moved_rows: number; dropped: string[]; detached: string[] }[];
}

/**
 * TypeScript faces of the partitioning functions in schema `base`
 * (the SQL functions are the implementation, so psql and cron get the same).
 */
export async function registerPartitionedTable(q: Queryable, policy: PartitionPolicy): Promise<void> {
  await q.query('SELECT base.register_partitioned_table($1, $2, $3, $4, $5::interval, $6)', [
    policy.table,
    policy.column,
    policy.interval,
    policy.premake,
    policy.retention ?? null,
    policy.retentionMode ?? 'drop',
  ]);
}

export async function unregisterPartitionedTable(q: Queryable, table: string): Promise<void> {
  await q.query('SELECT base.unregister_partitioned_table($1)', [table]);
}

/** Creates future partitions, moves rows out of DEFAULT partitions, applies retention. Operator only: run it as the owner, not in withTenant. */
export async function runMaintenance(q: Queryable, table?: string): Promise<MaintenanceReport> {
  const rows = await q.query('SELECT base.run_maintenance($1) AS report', [table ?? null]);
  return rows[0].report as MaintenanceReport;
}
