import { Queryable } from '../database/database';
import { PartitionPolicy } from '../module';
import { constraintName } from '../naming';
import { registerPartitionedTable, unregisterPartitionedTable } from '../partitioning';

/**
 * Migration helpers for the shape every tenant table has, so a module's
 * migration declares what is its own and base adds the rest the same way
 * everywhere (and a distributed PostgreSQL such as Citus can shard it by
 * `organization_id`):
 * - `organization_id uuid NOT NULL`, first, referencing base.organizations
 *   with ON DELETE CASCADE (erasing an organization erases the row);
 * - `PRIMARY KEY (organization_id, <key>)`, plus the partition column of a
 *   partitioned table: one index that serves both lookups by id and the
 *   composite references `(organization_id, x_id)` of other tenant tables;
 * - row-level security enabled and forced (`base.enable_tenant_rls`);
 * - optionally the audit trigger (`base.enable_audit`) and the partition
 *   policy (`base.register_partitioned_table`), declared here and nowhere else.
 */
export interface TenantTable {
  /** Schema-qualified, lower case: `events.events`. */
  table: string;
  /** Columns other than organization_id, in order: name → SQL type and modifiers (`'uuid NOT NULL DEFAULT gen_random_uuid()'`). */
  columns: Record<string, string>;
  /** The primary key after organization_id (default `['id']`); the partition column is added for you. */
  key?: string[];
  /** Further table constraints as SQL (`CONSTRAINT "events_organization_id_delivery_id_key" UNIQUE (...)`, checks, composite references). */
  constraints?: string[];
  /** Range-partitioned on `partition.column`, registered with base's partition maintenance under this policy. */
  partition?: Omit<PartitionPolicy, 'table'>;
  /** Attach base's row-change audit trigger. */
  audit?: boolean;
}

/** Creates a standard tenant table (see {@link TenantTable}). */
export async function createTenantTable(q: Queryable, spec: TenantTable): Promise<void> {
  const { schema, name } = splitTable(spec.table);
  const key = [...(spec.key ?? ['id'])];
  if (spec.partition && !key.includes(spec.partition.column)) key.push(spec.partition.column);
  for (const column of key) {
    if (!(column in spec.columns)) throw new Error(`createTenantTable(${spec.table}): key column "${column}" is not among its columns`);
  }
  if ('organization_id' in spec.columns) {
    throw new Error(`createTenantTable(${spec.table}): organization_id is added by the helper; leave it out of columns`);
  }
  const definitions = [
    `"organization_id" uuid NOT NULL`,
    ...Object.entries(spec.columns).map(([column, type]) => `${quote(column)} ${type}`),
    `CONSTRAINT ${quote(constraintName(name, [], 'pkey'))} PRIMARY KEY (${['organization_id', ...key].map(quote).join(', ')})`,
    ...(spec.constraints ?? []),
    `CONSTRAINT ${quote(constraintName(name, ['organization_id'], 'fkey'))} FOREIGN KEY ("organization_id") REFERENCES "base"."organizations" ("id") ON DELETE CASCADE`,
  ];
  const partitioning = spec.partition ? ` PARTITION BY RANGE (${quote(spec.partition.column)})` : '';
  await q.query(`CREATE TABLE ${quote(schema)}.${quote(name)} (\n  ${definitions.join(',\n  ')}\n)${partitioning}`);
  await q.query('SELECT base.enable_tenant_rls($1::regclass)', [spec.table]);
  if (spec.partition) await registerPartitionedTable(q, { table: spec.table, ...spec.partition });
  if (spec.audit) await q.query('SELECT base.enable_audit($1::regclass)', [spec.table]);
}

/** The exact reverse of {@link createTenantTable} with the same spec (a migration's `down`). */
export async function dropTenantTable(q: Queryable, spec: TenantTable): Promise<void> {
  const { schema, name } = splitTable(spec.table);
  if (spec.audit) await q.query('SELECT base.disable_audit($1::regclass)', [spec.table]);
  if (spec.partition) await unregisterPartitionedTable(q, spec.table);
  await q.query('SELECT base.disable_tenant_rls($1::regclass)', [spec.table]);
  await q.query(`DROP TABLE ${quote(schema)}.${quote(name)}`);
}

/** A foreign key, e.g. one the composer adds between two modules' tables. */
export interface ForeignKey {
  /** Schema-qualified referencing table. */
  table: string;
  name: string;
  columns: string[];
  references: { table: string; columns: string[] };
  onDelete?: 'NO ACTION' | 'RESTRICT' | 'CASCADE';
  /** e.g. `strata:manual …` for a constraint the owning module's drift check must leave alone. */
  comment?: string;
}

/**
 * Adds a foreign key `NOT VALID`: it holds for every row written from then on,
 * and the ALTER takes its SHARE ROW EXCLUSIVE lock for an instant, reading
 * nothing, however large the table is. Validate it with
 * {@link validateForeignKey} in the **next** migration: that reads the table
 * under SHARE UPDATE EXCLUSIVE, which lets writes go on — but only in a
 * transaction of its own; in the same one the write lock would last through
 * the scan. base.validate_integrity() reports the key until it is validated.
 */
export async function addForeignKey(q: Queryable, fk: ForeignKey): Promise<void> {
  const table = quoteTable(fk.table);
  const onDelete = fk.onDelete && fk.onDelete !== 'NO ACTION' ? ` ON DELETE ${fk.onDelete}` : '';
  await q.query(
    `ALTER TABLE ${table} ADD CONSTRAINT ${quote(fk.name)} FOREIGN KEY (${fk.columns.map(quote).join(', ')}) ` +
      `REFERENCES ${quoteTable(fk.references.table)} (${fk.references.columns.map(quote).join(', ')})${onDelete} NOT VALID`,
  );
  if (fk.comment !== undefined) await q.query(`COMMENT ON CONSTRAINT ${quote(fk.name)} ON ${table} IS ${literal(fk.comment)}`);
}

/** Checks the rows written before {@link addForeignKey} added the key (a migration of its own). */
export async function validateForeignKey(q: Queryable, fk: Pick<ForeignKey, 'table' | 'name'>): Promise<void> {
  await q.query(`ALTER TABLE ${quoteTable(fk.table)} VALIDATE CONSTRAINT ${quote(fk.name)}`);
}

/** The `down` of {@link validateForeignKey}: PostgreSQL cannot un-validate a key, so it is added again `NOT VALID`. */
export async function unvalidateForeignKey(q: Queryable, fk: ForeignKey): Promise<void> {
  await dropForeignKey(q, fk);
  await addForeignKey(q, fk);
}

export async function dropForeignKey(q: Queryable, fk: Pick<ForeignKey, 'table' | 'name'>): Promise<void> {
  await q.query(`ALTER TABLE ${quoteTable(fk.table)} DROP CONSTRAINT ${quote(fk.name)}`);
}

/**
 * Replaces key constraints (primary key, unique) of a table that foreign keys
 * may rest on: the foreign keys resting on a dropped key (in any schema) are
 * dropped first and re-created afterwards exactly as they were (name,
 * definition, validation, comment), on the new key with the same columns.
 * `add` are table constraints as SQL (`CONSTRAINT "x_pkey" PRIMARY KEY (...)`).
 */
export async function replaceKeys(q: Queryable, table: string, change: { drop: string[]; add: string[] }): Promise<void> {
  const dependents: { referencing: string; name: string; definition: string; validated: boolean; comment: string | null }[] = await q.query(
    `SELECT fk.conrelid::regclass::text AS referencing, fk.conname AS name, pg_catalog.pg_get_constraintdef(fk.oid) AS definition,
            fk.convalidated AS validated, pg_catalog.obj_description(fk.oid, 'pg_constraint') AS comment
       FROM pg_catalog.pg_constraint k
       JOIN pg_catalog.pg_constraint fk ON fk.contype = 'f' AND fk.conindid = k.conindid AND fk.confrelid = k.conrelid AND fk.conparentid = 0
      WHERE k.conrelid = $1::regclass AND k.conname = ANY ($2)
      ORDER BY fk.oid`,
    [table, change.drop],
  );
  for (const fk of dependents) await q.query(`ALTER TABLE ${fk.referencing} DROP CONSTRAINT ${quote(fk.name)}`);
  const target = quoteTable(table);
  await q.query(
    `ALTER TABLE ${target} ${[...change.drop.map((name) => `DROP CONSTRAINT ${quote(name)}`), ...change.add.map((c) => `ADD ${c}`)].join(', ')}`,
  );
  for (const fk of dependents) {
    // pg_get_constraintdef already ends in NOT VALID for a key that was not validated.
    await q.query(`ALTER TABLE ${fk.referencing} ADD CONSTRAINT ${quote(fk.name)} ${fk.definition}`);
    if (fk.comment !== null) await q.query(`COMMENT ON CONSTRAINT ${quote(fk.name)} ON ${fk.referencing} IS ${literal(fk.comment)}`);
  }
}

function splitTable(table: string): { schema: string; name: string } {
  const match = /^([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)$/.exec(table);
  if (!match) throw new Error(`Table name must be lower-case schema.table, got ${JSON.stringify(table)}`);
  return { schema: match[1], name: match[2] };
}

function quoteTable(table: string): string {
  const { schema, name } = splitTable(table);
  return `${quote(schema)}.${quote(name)}`;
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
