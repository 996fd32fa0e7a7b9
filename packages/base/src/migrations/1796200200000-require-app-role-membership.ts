import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The migrating role must be able to act as strata_app: withTenant() runs
 * every tenant transaction as `SET LOCAL ROLE strata_app`. The core schema
 * tries `GRANT strata_app TO current_user` but swallows any failure, so a
 * deployment whose role cannot be granted it migrates "successfully" and then
 * fails on its first tenant request. This migration grants it when it is
 * missing and fails, naming the role and the fix, when the grant is refused.
 *
 * A grant made here is recorded in `base.app_role_grants`, so that `down`
 * revokes exactly that membership and no other (roles are cluster-wide: a
 * membership that was there before serves other databases too).
 */
export class RequireAppRoleMembership1796200200000 implements MigrationInterface {
  name = 'RequireAppRoleMembership1796200200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE base.app_role_grants (
        member name NOT NULL,
        granted_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT app_role_grants_pkey PRIMARY KEY (member))`);
    await q.query(
      `COMMENT ON TABLE base.app_role_grants IS 'Roles a migration granted strata_app to; reverting that migration revokes exactly these.'`,
    );
    await q.query(`
      DO $$
      BEGIN
        -- PostgreSQL 16 separates membership from SET ROLE: SET is what withTenant needs.
        IF pg_catalog.pg_has_role(current_user, 'strata_app',
             CASE WHEN pg_catalog.current_setting('server_version_num')::int >= 160000 THEN 'SET' ELSE 'MEMBER' END) THEN
          RETURN;
        END IF;
        BEGIN
          EXECUTE pg_catalog.format('GRANT strata_app TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege OR invalid_grant_operation THEN
          RAISE EXCEPTION 'the migrating role % cannot act as strata_app, which every tenant transaction switches to '
                          '(GRANT strata_app TO % was refused: %). As a superuser, or a role with ADMIN OPTION on strata_app, '
                          'run GRANT strata_app TO %, then migrate again', current_user, current_user, SQLERRM, current_user
            USING ERRCODE = 'insufficient_privilege';
        END;
        INSERT INTO base.app_role_grants (member) VALUES (current_user);
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DO $$
      DECLARE v_member name;
      BEGIN
        FOR v_member IN SELECT g.member FROM base.app_role_grants g LOOP
          EXECUTE pg_catalog.format('REVOKE strata_app FROM %I', v_member);
        END LOOP;
      END $$`);
    await q.query(`DROP TABLE base.app_role_grants`);
  }
}
