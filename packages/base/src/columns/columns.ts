import { Column, ColumnOptions, CreateDateColumn, DeleteDateColumn, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

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
