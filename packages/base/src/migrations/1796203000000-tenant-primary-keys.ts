import { MigrationInterface, QueryRunner } from 'typeorm';
import { replaceKeys } from '../migration/tenant-table';

/**
 * Base's tenant tables get primary keys that start with `organization_id`, so
 * a distributed PostgreSQL (Citus) can shard them by organization: every
 * unique index of a distributed table must contain its distribution column.
 *
 * - organization_memberships: `(organization_id, id)`.
 * - audit_log: `(organization_id, id, created_at)` (the partition column stays
 *   in the key). Its organization_id becomes NOT NULL: a distribution column
 *   cannot be NULL, and the audit trigger never wrote a row without one
 *   (such a row would be invisible under row-level security anyway).
 *
 * base.organizations keeps `PRIMARY KEY (id)`: it is the tenant itself (its id
 * is every row's organization_id), and its slug is unique across all
 * organizations, so it is a reference table under Citus, like base.users,
 * which are shared by organizations and have a globally unique email.
 */
export class TenantPrimaryKeys1796203000000 implements MigrationInterface {
  name = 'TenantPrimaryKeys1796203000000';

  async up(q: QueryRunner): Promise<void> {
    await replaceKeys(q, 'base.organization_memberships', {
      drop: ['organization_memberships_pkey'],
      add: ['CONSTRAINT "organization_memberships_pkey" PRIMARY KEY ("organization_id", "id")'],
    });
    await q.query(`ALTER TABLE "base"."audit_log" ALTER COLUMN "organization_id" SET NOT NULL`);
    await replaceKeys(q, 'base.audit_log', {
      drop: ['audit_log_pkey'],
      add: ['CONSTRAINT "audit_log_pkey" PRIMARY KEY ("organization_id", "id", "created_at")'],
    });
  }

  async down(q: QueryRunner): Promise<void> {
    await replaceKeys(q, 'base.audit_log', {
      drop: ['audit_log_pkey'],
      add: ['CONSTRAINT "audit_log_pkey" PRIMARY KEY ("id", "created_at")'],
    });
    await q.query(`ALTER TABLE "base"."audit_log" ALTER COLUMN "organization_id" DROP NOT NULL`);
    await replaceKeys(q, 'base.organization_memberships', {
      drop: ['organization_memberships_pkey'],
      add: ['CONSTRAINT "organization_memberships_pkey" PRIMARY KEY ("id")'],
    });
  }
}
