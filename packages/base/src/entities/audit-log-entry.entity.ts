import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { JsonbColumn } from '../columns';
import { Organization } from './organization.entity';

/**
 * One row of `base.audit_log` (partitioned monthly, append-only: the database
 * refuses UPDATE and DELETE). Written by the `base.audit_row_change()` trigger
 * that modules attach with `enableAudit()`, or directly by services.
 */
@Entity({ schema: 'base', name: 'audit_log' })
@Index(['organizationId', 'createdAt'])
@Index(['tableName', 'rowId'])
export class AuditLogEntry {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  /** The partition key, so part of the primary key. */
  @PrimaryColumn({ type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  /** The tenant: first in the primary key `(organization_id, id, created_at)`. */
  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @Column({ type: 'uuid', nullable: true })
  actorUserId!: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  actor!: string | null;

  @Column({ type: 'varchar', length: 32 })
  action!: string;

  @Column({ type: 'varchar', length: 127 })
  tableName!: string;

  @Column({ type: 'varchar', length: 255, nullable: true })
  rowId!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  oldValues!: Record<string, unknown> | null;

  @Column({ type: 'jsonb', nullable: true })
  newValues!: Record<string, unknown> | null;

  @JsonbColumn()
  context!: Record<string, unknown>;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}
