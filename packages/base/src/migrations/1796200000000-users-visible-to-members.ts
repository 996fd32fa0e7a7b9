import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Users are shared between organizations, so they are not tenant rows, but a
 * tenant must not reach the users of another organization. As strata_app:
 * - a tenant sees only the users who are members of its organization (a policy
 *   through `base.organization_memberships`, itself tenant-isolated);
 * - it cannot INSERT, UPDATE or DELETE users, nor INSERT memberships or change a
 *   membership's user (either would let it pull in any user it knows the id of
 *   and read them); it may still change a member's role and remove a member;
 * - a user joins an organization only through `base.invite_member(email, role,
 *   name)`, which creates the user if nobody has that email yet;
 * - a user changes their own name and preferences through
 *   `base.update_own_profile(name, preferences)`, in a tenant context whose
 *   `strata.user_id` is a member of the organization.
 * RLS on users is enabled but not forced: the owner (migrations, operators, and
 * the SECURITY DEFINER function below, which runs as the owner) is not a tenant.
 */
export class UsersVisibleToMembers1796200000000 implements MigrationInterface {
  name = 'UsersVisibleToMembers1796200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE base.users ENABLE ROW LEVEL SECURITY`);
    await q.query(`
      CREATE POLICY users_members_of_tenant ON base.users FOR SELECT TO strata_app
      USING (EXISTS (SELECT 1 FROM base.organization_memberships m
                      WHERE m.organization_id = base.current_organization_id() AND m.user_id = users.id))`);
    await q.query(`REVOKE INSERT, UPDATE, DELETE ON base.users FROM strata_app`);
    await q.query(`REVOKE INSERT, UPDATE ON base.organization_memberships FROM strata_app`);
    await q.query(`GRANT UPDATE (role, permissions, updated_at) ON base.organization_memberships TO strata_app`);

    await q.query(`
      CREATE FUNCTION base.invite_member(p_email text, p_role text, p_name text DEFAULT NULL) RETURNS uuid
      LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
      DECLARE
        v_organization uuid := base.current_organization_id();
        v_actor uuid := nullif(pg_catalog.current_setting('strata.user_id', true), '')::uuid;
        v_actor_role text;
        v_email text := pg_catalog.lower(pg_catalog.btrim(p_email));
        v_user uuid;
        v_membership uuid;
      BEGIN
        IF v_organization IS NULL THEN
          RAISE EXCEPTION 'base.invite_member needs a tenant context (base.enter_tenant)' USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- On behalf of a user (strata.user_id): only an owner or admin may invite, and only an owner makes owners.
        -- Without a user it is the application acting for the organization.
        IF v_actor IS NOT NULL THEN
          SELECT m.role INTO v_actor_role FROM base.organization_memberships m
           WHERE m.organization_id = v_organization AND m.user_id = v_actor;
          IF v_actor_role IS NULL OR v_actor_role NOT IN ('owner', 'admin') OR (p_role = 'owner' AND v_actor_role <> 'owner') THEN
            RAISE EXCEPTION 'user % (role %) may not invite a member with role %', v_actor, coalesce(v_actor_role, 'none'), p_role
              USING ERRCODE = 'insufficient_privilege';
          END IF;
        END IF;

        SELECT u.id INTO v_user FROM base.users u WHERE u.email = v_email;
        IF v_user IS NULL THEN
          IF p_name IS NULL THEN
            RAISE EXCEPTION 'nobody has the email % yet: a name is needed to create the user', v_email
              USING ERRCODE = 'not_null_violation', SCHEMA = 'base', TABLE = 'users', COLUMN = 'name';
          END IF;
          INSERT INTO base.users AS u (email, name) VALUES (v_email, p_name)
          ON CONFLICT (email) DO NOTHING RETURNING u.id INTO v_user;
          IF v_user IS NULL THEN -- a concurrent invitation created them first
            SELECT u.id INTO v_user FROM base.users u WHERE u.email = v_email;
          END IF;
        END IF;

        INSERT INTO base.organization_memberships AS m (organization_id, user_id, role)
        VALUES (v_organization, v_user, p_role) RETURNING m.id INTO v_membership;
        RETURN v_membership;
      END $fn$`);
    await q.query(
      `COMMENT ON FUNCTION base.invite_member(text, text, text) IS 'Adds the user with this email (created with p_name if new) to the current organization with a role; returns the membership id.'`,
    );

    await q.query(`
      CREATE FUNCTION base.update_own_profile(p_name text DEFAULT NULL, p_preferences jsonb DEFAULT NULL) RETURNS void
      LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
      DECLARE
        v_organization uuid := base.current_organization_id();
        v_user uuid := nullif(pg_catalog.current_setting('strata.user_id', true), '')::uuid;
      BEGIN
        IF v_organization IS NULL OR v_user IS NULL THEN
          RAISE EXCEPTION 'base.update_own_profile needs a tenant context with a user (base.enter_tenant(organization, user))'
            USING ERRCODE = 'insufficient_privilege';
        END IF;
        IF NOT EXISTS (SELECT 1 FROM base.organization_memberships m WHERE m.organization_id = v_organization AND m.user_id = v_user) THEN
          RAISE EXCEPTION 'user % is not a member of organization %', v_user, v_organization USING ERRCODE = 'insufficient_privilege';
        END IF;
        UPDATE base.users u
           SET name = coalesce(p_name, u.name), preferences = coalesce(p_preferences, u.preferences), updated_at = now()
         WHERE u.id = v_user;
      END $fn$`);
    await q.query(
      `COMMENT ON FUNCTION base.update_own_profile(text, jsonb) IS 'The user of the tenant context (strata.user_id, a member) changes their own name and/or preferences.'`,
    );
    for (const fn of ['base.invite_member(text, text, text)', 'base.update_own_profile(text, jsonb)']) {
      await q.query(`REVOKE EXECUTE ON FUNCTION ${fn} FROM PUBLIC`);
      await q.query(`GRANT EXECUTE ON FUNCTION ${fn} TO strata_app`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION base.update_own_profile(text, jsonb)`);
    await q.query(`DROP FUNCTION base.invite_member(text, text, text)`);
    await q.query(`REVOKE UPDATE (role, permissions, updated_at) ON base.organization_memberships FROM strata_app`);
    await q.query(`GRANT INSERT, UPDATE ON base.organization_memberships TO strata_app`);
    await q.query(`GRANT INSERT, UPDATE, DELETE ON base.users TO strata_app`);
    await q.query(`DROP POLICY users_members_of_tenant ON base.users`);
    await q.query(`ALTER TABLE base.users DISABLE ROW LEVEL SECURITY`);
  }
}
