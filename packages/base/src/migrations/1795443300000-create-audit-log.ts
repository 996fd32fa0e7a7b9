import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `base.audit_log`: who changed what, partitioned monthly on created_at and
 * append-only. The database itself refuses UPDATE and DELETE; the only ways rows
 * leave are retention (whole partitions), partition maintenance moving rows out
 * of the DEFAULT partition, and the erasure of their organization (cascade).
 */
export class CreateAuditLog1795443300000 implements MigrationInterface {
  name = 'CreateAuditLog1795443300000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "base"."audit_log" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "organization_id" uuid,
        "actor_user_id" uuid,
        "actor" character varying(255),
        "action" character varying(32) NOT NULL,
        "table_name" character varying(127) NOT NULL,
        "row_id" character varying(255),
        "old_values" jsonb,
        "new_values" jsonb,
        "context" jsonb NOT NULL DEFAULT '{}'::jsonb,
        CONSTRAINT "audit_log_pkey" PRIMARY KEY ("id", "created_at")
      ) PARTITION BY RANGE ("created_at")`);
    await q.query(`CREATE INDEX "audit_log_organization_id_created_at_idx" ON "base"."audit_log" ("organization_id", "created_at")`);
    await q.query(`CREATE INDEX "audit_log_table_name_row_id_idx" ON "base"."audit_log" ("table_name", "row_id")`);
    await q.query(`ALTER TABLE "base"."audit_log" ADD CONSTRAINT "audit_log_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "base"."organizations"("id") ON DELETE CASCADE ON UPDATE NO ACTION`);

    await q.query(`
      CREATE FUNCTION base.audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND (
             current_setting('strata.partition_maintenance', true) = 'on'
             OR NOT EXISTS (SELECT 1 FROM base.organizations o WHERE o.id = OLD.organization_id)) THEN
          RETURN OLD; -- maintenance moving the row, or its organization being erased
        END IF;
        RAISE EXCEPTION 'base.audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
      END $$`);
    await q.query(`CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON "base"."audit_log" FOR EACH ROW EXECUTE FUNCTION base.audit_log_refuse_change()`);
    await q.query(`
      CREATE FUNCTION base.audit_log_refuse_truncate() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN RAISE EXCEPTION 'base.audit_log is append-only: TRUNCATE refused' USING ERRCODE = 'insufficient_privilege'; END $$`);
    await q.query(`CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON "base"."audit_log" FOR EACH STATEMENT EXECUTE FUNCTION base.audit_log_refuse_truncate()`);

    // Row-change auditing that modules attach with base.enable_audit('schema.table').
    // Actor comes from the transaction settings strata.user_id / strata.actor.
    await q.query(`
      CREATE FUNCTION base.audit_row_change() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_row jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
        v_org uuid := coalesce(v_row ->> 'organization_id', CASE WHEN TG_TABLE_NAME = 'organizations' AND TG_TABLE_SCHEMA = 'base' THEN v_row ->> 'id' END)::uuid;
      BEGIN
        -- A row leaving with its organization is not audited: the organization is being forgotten.
        IF v_org IS NULL OR NOT EXISTS (SELECT 1 FROM base.organizations o WHERE o.id = v_org) THEN
          RETURN NULL;
        END IF;
        INSERT INTO base.audit_log (organization_id, actor_user_id, actor, action, table_name, row_id, old_values, new_values)
        VALUES (
          v_org,
          nullif(current_setting('strata.user_id', true), '')::uuid,
          nullif(current_setting('strata.actor', true), ''),
          lower(TG_OP),
          TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
          v_row ->> 'id',
          CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
          CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE FUNCTION base.enable_audit(p_table regclass) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        EXECUTE format('CREATE TRIGGER audit_row_change AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION base.audit_row_change()', p_table);
      END $$`);
    await q.query(`
      CREATE FUNCTION base.disable_audit(p_table regclass) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        EXECUTE format('DROP TRIGGER IF EXISTS audit_row_change ON %s', p_table);
      END $$`);
    await q.query(`REVOKE EXECUTE ON FUNCTION base.enable_audit(regclass), base.disable_audit(regclass) FROM PUBLIC`);

    await q.query(`SELECT base.enable_tenant_rls('base.audit_log')`);
    await q.query(`REVOKE UPDATE, DELETE ON "base"."audit_log" FROM strata_app`);
    await q.query(`SELECT base.register_partitioned_table('base.audit_log', 'created_at', 'month', 3, NULL, 'drop')`);
    await q.query(`SELECT base.enable_audit('base.organizations')`);
    await q.query(`SELECT base.enable_audit('base.organization_memberships')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`SELECT base.disable_audit('base.organization_memberships')`);
    await q.query(`SELECT base.disable_audit('base.organizations')`);
    await q.query(`SELECT base.unregister_partitioned_table('base.audit_log')`);
    await q.query(`DROP TABLE "base"."audit_log"`);
    await q.query(`DROP FUNCTION base.disable_audit(regclass)`);
    await q.query(`DROP FUNCTION base.enable_audit(regclass)`);
    await q.query(`DROP FUNCTION base.audit_row_change()`);
    await q.query(`DROP FUNCTION base.audit_log_refuse_truncate()`);
    await q.query(`DROP FUNCTION base.audit_log_refuse_change()`);
  }
}
