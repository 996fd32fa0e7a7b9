import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Maintenance and the health report are the operator's, not a tenant's.
 * `run_maintenance` and `create_partitions` are SECURITY DEFINER: granted to
 * strata_app, any tenant request could take ACCESS EXCLUSIVE locks and apply
 * retention for every organization. `health_check` reads every module's
 * history table and reports on all tenants' tables; as strata_app it failed
 * ("permission denied for table migrations"). All three now run only as the
 * owner (`strata maintain`, `strata health`, or psql as the migrating role).
 */
const OPERATOR_ONLY = ['base.run_maintenance(text)', 'base.create_partitions(text)', 'base.health_check(jsonb)'];

export class OperatorOnlyMaintenance1796200100000 implements MigrationInterface {
  name = 'OperatorOnlyMaintenance1796200100000';

  async up(q: QueryRunner): Promise<void> {
    for (const fn of OPERATOR_ONLY) await q.query(`REVOKE EXECUTE ON FUNCTION ${fn} FROM strata_app`);
    // health_check was never revoked from PUBLIC (the others were): strata_app would still reach it through PUBLIC.
    await q.query(`REVOKE EXECUTE ON FUNCTION base.health_check(jsonb) FROM PUBLIC`);
  }

  async down(q: QueryRunner): Promise<void> {
    // The ACL is an ordered list: health_check's was the default (PUBLIC, then the owner) plus strata_app,
    // so its owner's entry is taken out and put back after PUBLIC's.
    await q.query(`
      DO $$
      DECLARE v_owner text := (SELECT p.proowner::regrole::text FROM pg_catalog.pg_proc p WHERE p.oid = 'base.health_check(jsonb)'::regprocedure);
      BEGIN
        EXECUTE format('REVOKE EXECUTE ON FUNCTION base.health_check(jsonb) FROM %s', v_owner);
        GRANT EXECUTE ON FUNCTION base.health_check(jsonb) TO PUBLIC;
        EXECUTE format('GRANT EXECUTE ON FUNCTION base.health_check(jsonb) TO %s', v_owner);
      END $$`);
    for (const fn of [...OPERATOR_ONLY].reverse()) await q.query(`GRANT EXECUTE ON FUNCTION ${fn} TO strata_app`);
  }
}
