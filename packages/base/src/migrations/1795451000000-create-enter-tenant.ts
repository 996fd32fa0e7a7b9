import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `base.enter_tenant()`: the tenant context of a transaction in one SQL call,
 * used by `withTenant()` and by module functions that do a whole unit of work
 * in one statement (a queue claim), so the context is set the same way everywhere.
 */
export class CreateEnterTenant1795451000000 implements MigrationInterface {
  name = 'CreateEnterTenant1795451000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION base.enter_tenant(p_organization_id uuid, p_user_id uuid DEFAULT NULL, p_actor text DEFAULT NULL)
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
    await q.query(`COMMENT ON FUNCTION base.enter_tenant(uuid, uuid, text) IS 'Scopes the current transaction to one organization and switches it to the application role strata_app (row-level security applies).'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION base.enter_tenant(uuid, uuid, text)`);
  }
}
