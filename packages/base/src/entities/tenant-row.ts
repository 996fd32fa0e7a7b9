import { JoinColumn, ManyToOne } from 'typeorm';
import { CreatedAtColumn, OrganizationIdColumn, UpdatedAtColumn, UuidPrimaryColumn } from '../columns';
import { Organization } from './organization.entity';

/**
 * What every ordinary tenant table has: a uuid key, the tenant column (erasing
 * the organization cascades to the row) and its timestamps. Module entities
 * extend it and add their own columns; each still declares
 * `@Unique(['organizationId', 'id'])` when other tables reference it.
 */
export abstract class TenantRow {
  @UuidPrimaryColumn()
  id!: string;

  @OrganizationIdColumn()
  organizationId!: string;

  @CreatedAtColumn()
  createdAt!: Date;

  @UpdatedAtColumn()
  updatedAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}
