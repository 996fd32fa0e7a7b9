import { Column, ColumnOptions, CreateDateColumn, DeleteDateColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import { ConfigurationError } from '../errors';

/**
 * Column helpers every module uses, so a uuid key or a timestamp is declared the
 * same way everywhere (and the migration generator writes the same DDL).
 */

/** `id uuid PRIMARY KEY DEFAULT gen_random_uuid()` (built into PostgreSQL 13+, no extension needed). */
export function UuidPrimaryColumn(): PropertyDecorator {
  return PrimaryGeneratedColumn('uuid', { name: 'id' });
}

export function CreatedAtColumn(): PropertyDecorator {
  return CreateDateColumn({ type: 'timestamptz', name: 'created_at', default: () => 'now()' });
}

export function UpdatedAtColumn(): PropertyDecorator {
  return UpdateDateColumn({ type: 'timestamptz', name: 'updated_at', default: () => 'now()' });
}

export function DeletedAtColumn(): PropertyDecorator {
  return DeleteDateColumn({ type: 'timestamptz', name: 'deleted_at', nullable: true });
}

/** The tenant column: every tenant-scoped table has it, and RLS filters on it. */
export function OrganizationIdColumn(options: Pick<ColumnOptions, 'primary'> = {}): PropertyDecorator {
  return Column({ type: 'uuid', name: 'organization_id', ...options });
}

/** jsonb with an empty-object default, for settings / metadata / preferences. */
export function JsonbColumn(options: Pick<ColumnOptions, 'name' | 'nullable'> & { defaultEmpty?: boolean } = {}): PropertyDecorator {
  const { defaultEmpty = true, ...rest } = options;
  // Written without the ::jsonb cast because that is how PostgreSQL reports it back to TypeORM.
  return Column({ type: 'jsonb', ...(defaultEmpty ? { default: () => "'{}'" } : {}), ...rest });
}

/** pgvector's column types: `vector` stores 4-byte floats, `halfvec` 2-byte floats (half the space). */
export type VectorType = 'vector' | 'halfvec';

/** pgvector's largest column (an HNSW index takes up to 2,000 dimensions for vector, 4,000 for halfvec). */
const MAX_VECTOR_DIMENSIONS = 16_000;

/**
 * A pgvector column, `vector(N)` or `halfvec(N)`, read and written as `number[]`. Declared with its
 * dimensions, so the drift check compares them (`vector(768)` is not `vector(1536)`). The migration
 * that creates it calls `requireExtension(q, 'vector')` first; index it with `createHnswIndex`.
 */
export function VectorColumn(
  dimensions: number,
  options: Pick<ColumnOptions, 'name' | 'nullable'> & { type?: VectorType } = {},
): PropertyDecorator {
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_VECTOR_DIMENSIONS) {
    throw new ConfigurationError(`VectorColumn: dimensions must be an integer from 1 to ${MAX_VECTOR_DIMENSIONS}, got ${dimensions}`);
  }
  const { type = 'vector', ...rest } = options;
  return Column({ type, length: dimensions, ...rest });
}
