import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Schema `base`: the application role, the tenant context, the tenancy helpers
 * every module's migrations call, and organizations / users / memberships.
 * The runner has already created the schema itself (it owns the history table).
 */
export class CreateCoreSchema1795443100000 implements MigrationInterface {
  name = 'CreateCoreSchema1795443100000';

  async up(q: QueryRunner): Promise<void> {
    // The role the application works as: no BYPASSRLS, so row-level security
    // always applies to it. Roles are cluster-wide: another database may have
    // created it already, possibly at this very moment (unique_violation).
    await q.query(`
      DO $$ BEGIN
        CREATE ROLE strata_app NOLOGIN NOBYPASSRLS;
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END $$`);
    // The connecting (owner) role may act as strata_app: withTenant() does SET LOCAL ROLE.
    await q.query(`
      DO $$ BEGIN
        EXECUTE format('GRANT strata_app TO %I', current_user);
      EXCEPTION WHEN OTHERS THEN NULL; -- already a member, or a superuser
      END $$`);
    await q.query(`GRANT USAGE ON SCHEMA base TO strata_app`);

    await q.query(`
      CREATE FUNCTION base.current_organization_id() RETURNS uuid
      LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp
      AS $$ SELECT nullif(current_setting('strata.organization_id', true), '')::uuid $$`);
    await q.query(`COMMENT ON FUNCTION base.current_organization_id() IS 'The organization of the current transaction (set by withTenant); NULL outside one.'`);

    // Standard tenant isolation for a table: RLS enabled and forced, one policy on
    // the tenant column, and the application role's grants. Modules call it from
    // their migrations so every tenant table is protected the same way.
    await q.query(`
      CREATE FUNCTION base.enable_tenant_rls(p_table regclass, p_tenant_column name DEFAULT 'organization_id')
      RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', p_table);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', p_table);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', p_table);
        EXECUTE format(
          'CREATE POLICY tenant_isolation ON %s USING (%I = base.current_organization_id()) WITH CHECK (%I = base.current_organization_id())',
          p_table, p_tenant_column, p_tenant_column);
        PERFORM base.grant_app_access(p_table);
      END $$`);
    await q.query(`
      CREATE FUNCTION base.disable_tenant_rls(p_table regclass) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %s', p_table);
        EXECUTE format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', p_table);
        EXECUTE format('ALTER TABLE %s DISABLE ROW LEVEL SECURITY', p_table);
        EXECUTE format('REVOKE ALL ON %s FROM strata_app', p_table);
      END $$`);
    // Grants for the application role on a table (and its schema and sequences).
    await q.query(`
      CREATE FUNCTION base.grant_app_access(p_table regclass, p_privileges text DEFAULT 'SELECT, INSERT, UPDATE, DELETE')
      RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      DECLARE v_schema name;
      BEGIN
        SELECT n.nspname INTO v_schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_table;
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO strata_app', v_schema);
        EXECUTE format('GRANT %s ON %s TO strata_app', p_privileges, p_table);
        EXECUTE format('GRANT USAGE ON ALL SEQUENCES IN SCHEMA %I TO strata_app', v_schema);
      END $$`);
    await q.query(`REVOKE EXECUTE ON FUNCTION base.enable_tenant_rls(regclass, name), base.disable_tenant_rls(regclass), base.grant_app_access(regclass, text) FROM PUBLIC`);

    await q.query(`
      CREATE TABLE "base"."organizations" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "name" character varying(255) NOT NULL,
        "slug" character varying(100) NOT NULL,
        "settings" jsonb NOT NULL DEFAULT '{}'::jsonb,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "deleted_at" TIMESTAMP WITH TIME ZONE,
        CONSTRAINT "organizations_slug_key" UNIQUE ("slug"),
        CONSTRAINT "organizations_slug_check" CHECK ("slug" ~ '^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$'),
        CONSTRAINT "organizations_pkey" PRIMARY KEY ("id"))`);
    await q.query(`
      CREATE TABLE "base"."users" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "email" character varying(320) NOT NULL,
        "name" character varying(255) NOT NULL,
        "preferences" jsonb NOT NULL DEFAULT '{}'::jsonb,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "users_email_key" UNIQUE ("email"),
        CONSTRAINT "users_email_check" CHECK ("email" = lower("email") AND "email" LIKE '%_@_%'),
        CONSTRAINT "users_pkey" PRIMARY KEY ("id"))`);
    await q.query(`
      CREATE TABLE "base"."organization_memberships" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "organization_id" uuid NOT NULL,
        "user_id" uuid NOT NULL,
        "role" character varying(16) NOT NULL DEFAULT 'member',
        "permissions" jsonb NOT NULL DEFAULT '{}'::jsonb,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "organization_memberships_organization_id_user_id_key" UNIQUE ("organization_id", "user_id"),
        CONSTRAINT "organization_memberships_role_check" CHECK ("role" IN ('owner', 'admin', 'member', 'viewer')),
        CONSTRAINT "organization_memberships_pkey" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "organization_memberships_user_id_idx" ON "base"."organization_memberships" ("user_id")`);
    await q.query(`ALTER TABLE "base"."organization_memberships" ADD CONSTRAINT "organization_memberships_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "base"."organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    await q.query(`ALTER TABLE "base"."organization_memberships" ADD CONSTRAINT "organization_memberships_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "base"."users"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);

    // An organization is its own tenant row: its key column is "id".
    await q.query(`SELECT base.enable_tenant_rls('base.organizations', 'id')`);
    await q.query(`SELECT base.enable_tenant_rls('base.organization_memberships')`);
    // Users belong to several organizations, so they are not tenant rows.
    await q.query(`SELECT base.grant_app_access('base.users')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`SELECT base.disable_tenant_rls('base.organization_memberships')`);
    await q.query(`SELECT base.disable_tenant_rls('base.organizations')`);
    await q.query(`REVOKE ALL ON "base"."users" FROM strata_app`);
    await q.query(`DROP TABLE "base"."organization_memberships"`);
    await q.query(`DROP TABLE "base"."users"`);
    await q.query(`DROP TABLE "base"."organizations"`);
    await q.query(`DROP FUNCTION base.grant_app_access(regclass, text)`);
    await q.query(`DROP FUNCTION base.disable_tenant_rls(regclass)`);
    await q.query(`DROP FUNCTION base.enable_tenant_rls(regclass, name)`);
    await q.query(`DROP FUNCTION base.current_organization_id()`);
    await q.query(`REVOKE USAGE ON SCHEMA base FROM strata_app`);
    // The role is cluster-wide and may serve other databases: it stays.
  }
}
