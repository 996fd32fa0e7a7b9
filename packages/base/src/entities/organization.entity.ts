import { Check, Column, Entity } from 'typeorm';
import { CreatedAtColumn, DeletedAtColumn, JsonbColumn, UpdatedAtColumn, UuidPrimaryColumn } from '../columns';

/** A tenant. Every tenant-scoped row in every module belongs to exactly one. */
@Entity({ schema: 'base', name: 'organizations' })
@Check('organizations_slug_check', `"slug" ~ '^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$'`)
export class Organization {
  @UuidPrimaryColumn()
  id!: string;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'varchar', length: 100, unique: true })
  slug!: string;

  @JsonbColumn()
  settings!: Record<string, unknown>;

  @CreatedAtColumn()
  createdAt!: Date;

  @UpdatedAtColumn()
  updatedAt!: Date;

  @DeletedAtColumn()
  deletedAt!: Date | null;
}
