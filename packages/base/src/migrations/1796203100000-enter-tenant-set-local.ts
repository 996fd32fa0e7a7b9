import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `base.enter_tenant()` sets the tenant context with `SET LOCAL` commands
 * instead of `set_config()`. The effect on one server is the same (settings
 * that end with the transaction). Citus, with `citus.propagate_set_commands =
 * 'local'`, sends `SET LOCAL` commands on to the workers that run the
 * transaction's shard queries, where row-level security reads the setting; it
 * does not see `set_config()` calls, and a tenant saw nothing there. The four
 * commands go in one EXECUTE, so entering a tenant stays one statement.
 * Values are quoted with %L; the organization id is a uuid.
 */
export class EnterTenantSetLocal1796203100000 implements MigrationInterface {
  name = 'EnterTenantSetLocal1796203100000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION base.enter_tenant(p_organization_id uuid, p_user_id uuid DEFAULT NULL, p_actor text DEFAULT NULL)
      RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        IF p_organization_id IS NULL THEN
          RAISE EXCEPTION 'enter_tenant needs an organization id' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- Transaction-local: the context ends with the transaction. SET LOCAL ROLE: from here on
        -- the transaction works as strata_app, so row-level security applies.
        EXECUTE pg_catalog.format(
          'SET LOCAL strata.organization_id = %L; SET LOCAL strata.user_id = %L; SET LOCAL strata.actor = %L; SET LOCAL ROLE strata_app',
          p_organization_id, coalesce(p_user_id::text, ''), coalesce(p_actor, ''));
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION base.enter_tenant(p_organization_id uuid, p_user_id uuid DEFAULT NULL, p_actor text DEFAULT NULL)
      RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        IF p_organization_id IS NULL THEN
          RAISE EXCEPTION 'enter_tenant needs an organization id' USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- Transaction-local: the context ends with the transaction. Setting "role" is SET LOCAL ROLE:
        -- from here on the transaction works as strata_app, so row-level security applies.
        PERFORM pg_catalog.set_config('strata.organization_id', p_organization_id::text, true),
                pg_catalog.set_config('strata.user_id', coalesce(p_user_id::text, ''), true),
                pg_catalog.set_config('strata.actor', coalesce(p_actor, ''), true),
                pg_catalog.set_config('role', 'strata_app', true);
      END $$`);
  }
}
