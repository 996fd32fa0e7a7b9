import { JoinColumn, ManyToOne } from 'typeorm';
import { CreatedAtColumn, OrganizationIdColumn, UpdatedAtColumn, UuidPrimaryColumn } from '../columns';
import { Organization } from './organization.entity';

/**
 * What every ordinary tenant table has: the key `(organization_id, id)` (a
 * uuid id within its organization; createTenantTable() writes the same key),
 * the tenant column (erasing the organization cascades to the row) and its
 * timestamps. Module entities extend it and add their own columns. Other
 * tenant tables reference a row by the whole key, `(organization_id, x_id)`,
 * so a reference can never cross organizations, and a distributed PostgreSQL
 * can shard every tenant table by `organization_id`.
 */
export abstract class TenantRow {
  @UuidPrimaryColumn()
  id!: string;

  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @CreatedAtColumn()
  createdAt!: Date;

  @UpdatedAtColumn()
  updatedAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}
