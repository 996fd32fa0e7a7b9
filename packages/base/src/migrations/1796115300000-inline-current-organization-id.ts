import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `base.current_organization_id()` becomes inlinable. Every row-level security
 * policy compares the tenant column with it, so it runs in every tenant query.
 * With `SET search_path` PostgreSQL cannot inline a SQL function: each call
 * went through the SQL-function executor and a GUC save/restore (about 15 µs,
 * several times per statement). Without it the planner folds the body into the
 * policy, and the setting is read once per scan as an index key. The body names
 * everything with its schema, so it needs no pinned search_path to be safe.
 */
export class InlineCurrentOrganizationId1796115300000 implements MigrationInterface {
  name = 'InlineCurrentOrganizationId1796115300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION base.current_organization_id() RETURNS uuid
      LANGUAGE sql STABLE PARALLEL SAFE
      AS $$ SELECT NULLIF(pg_catalog.current_setting('strata.organization_id', true), '')::pg_catalog.uuid $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION base.current_organization_id() RETURNS uuid
      LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
      AS $$ SELECT nullif(current_setting('strata.organization_id', true), '')::uuid $$`);
  }
}
