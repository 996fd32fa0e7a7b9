import { Queryable } from '../database';
import { ConfigurationError } from '../errors';
import { constraintName } from '../naming';
import { MANUAL_OBJECT_MARK } from './schema-drift';

/**
 * pgvector's HNSW operator classes: one per distance and column type. A query uses the index
 * only when it orders by that class's operator: `<->` for l2 (Euclidean), `<#>` for ip
 * (negative inner product), `<=>` for cosine.
 */
export const HNSW_OPERATOR_CLASSES = {
  vector_l2_ops: 'l2',
  vector_ip_ops: 'ip',
  vector_cosine_ops: 'cosine',
  halfvec_l2_ops: 'l2',
  halfvec_ip_ops: 'ip',
  halfvec_cosine_ops: 'cosine',
} as const;

export type HnswOperatorClass = keyof typeof HNSW_OPERATOR_CLASSES;

export interface HnswIndex {
  /** The table, schema-qualified: `learning.embeddings`. */
  table: string;
  /** The `vector` or `halfvec` column. */
  column: string;
  /** Which distance the index serves (and for which column type). */
  ops: HnswOperatorClass;
}

export interface HnswIndexOptions {
  /** Links per node (pgvector's default 16): more is better recall, a bigger, slower-built index. */
  m?: number;
  /** Candidates kept while building (pgvector's default 64, at least 2 × m): more is better recall, a slower build. */
  efConstruction?: number;
  /**
   * CREATE / DROP INDEX CONCURRENTLY, so a large table stays writable while it builds.
   * The migration must then run outside a transaction (`transaction = false`).
   */
  concurrently?: boolean;
}

/** `<table>_<column>_<l2|ip|cosine>_idx`: the house convention, with the distance, so a column can have one index per distance. */
export function hnswIndexName({ table, column, ops }: HnswIndex): string {
  const distance = HNSW_OPERATOR_CLASSES[ops];
  if (!distance)
    throw new ConfigurationError(`Unknown HNSW operator class "${ops}": use one of ${Object.keys(HNSW_OPERATOR_CLASSES).join(', ')}`);
  return constraintName(splitTable(table).name, [column, distance], 'idx');
}

/**
 * Creates an HNSW index for one distance on a vector column, in a migration. TypeORM cannot
 * express it, so it is marked `strata:manual` and the drift check leaves it alone.
 * Returns the index's name.
 */
export async function createHnswIndex(q: Queryable, index: HnswIndex, options: HnswIndexOptions = {}): Promise<string> {
  const name = hnswIndexName(index);
  const { schema } = splitTable(index.table);
  const settings = Object.entries({ m: options.m, ef_construction: options.efConstruction })
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => {
      if (!Number.isInteger(value)) throw new ConfigurationError(`createHnswIndex: ${key} must be an integer, got ${value}`);
      return `${key} = ${value}`;
    });
  await q.query(
    `CREATE INDEX ${options.concurrently ? 'CONCURRENTLY ' : ''}${quote(name)} ON ${qualified(index.table)} ` +
      `USING hnsw (${quote(index.column)} ${index.ops})${settings.length ? ` WITH (${settings.join(', ')})` : ''}`,
  );
  await q.query(`COMMENT ON INDEX ${quote(schema)}.${quote(name)} IS '${MANUAL_OBJECT_MARK} HNSW index (${index.ops})'`);
  return name;
}

/** Drops what `createHnswIndex` created (for the migration's `down`). */
export async function dropHnswIndex(q: Queryable, index: HnswIndex, options: Pick<HnswIndexOptions, 'concurrently'> = {}): Promise<void> {
  const { schema } = splitTable(index.table);
  await q.query(`DROP INDEX ${options.concurrently ? 'CONCURRENTLY ' : ''}${quote(schema)}.${quote(hnswIndexName(index))}`);
}

function splitTable(table: string): { schema: string; name: string } {
  const parts = table.split('.');
  if (parts.length !== 2 || parts.some((part) => !part)) {
    throw new ConfigurationError(`HNSW index: the table must be schema-qualified ("learning.embeddings"), got "${table}"`);
  }
  return { schema: parts[0], name: parts[1] };
}

function qualified(table: string): string {
  const { schema, name } = splitTable(table);
  return `${quote(schema)}.${quote(name)}`;
}

function quote(identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`;
}
