import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `base.validate_integrity()`: the structural rules of DESIGN.md §4–§5 checked
 * against the live catalog, callable from psql. Each check lists what breaks it:
 * - tenant tables without forced row-level security, or with RLS but no policy;
 * - references between two tenant tables that are not composite on
 *   organization_id (a row could point at another organization's row);
 * - tenant tables without ON DELETE CASCADE to base.organizations (erasure
 *   would be refused or leave rows behind);
 * - partitioned tables without a policy, policies without their table, rows in
 *   DEFAULT partitions;
 * - constraints not validated, invalid indexes.
 */
export class CreateValidateIntegrity1795443500000 implements MigrationInterface {
  name = 'CreateValidateIntegrity1795443500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION base.validate_integrity() RETURNS jsonb
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_checks jsonb := '[]'::jsonb;
        v_found text[];
        v_policy record;
        v_rows bigint;
      BEGIN
        -- Tables of the Strata schemas: every schema with a module history table.
        CREATE TEMP TABLE IF NOT EXISTS pg_temp.strata_tables ON COMMIT DROP AS
          SELECT c.oid, n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
                 EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped) AS is_tenant
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'migrations'
            AND EXISTS (SELECT 1 FROM pg_class h WHERE h.relnamespace = n.oid AND h.relname = 'migrations' AND h.relkind = 'r');

        SELECT coalesce(array_agg(format('%I.%I', nspname, relname) ORDER BY 1), '{}') INTO v_found
        FROM pg_temp.strata_tables WHERE (is_tenant OR (nspname, relname) = ('base', 'organizations'))
          AND NOT (relrowsecurity AND relforcerowsecurity);
        v_checks := v_checks || jsonb_build_object('check', 'tenant tables force row-level security', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I.%I', t.nspname, t.relname) ORDER BY 1), '{}') INTO v_found
        FROM pg_temp.strata_tables t WHERE t.relrowsecurity AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.oid);
        v_checks := v_checks || jsonb_build_object('check', 'tables with row-level security have a policy', 'violations', to_jsonb(v_found));

        -- A foreign key from one tenant table to another must include organization_id on both sides.
        SELECT coalesce(array_agg(format('%I.%I.%I', src.nspname, src.relname, con.conname) ORDER BY 1), '{}') INTO v_found
        FROM pg_constraint con
        JOIN pg_temp.strata_tables src ON src.oid = con.conrelid
        JOIN pg_temp.strata_tables dst ON dst.oid = con.confrelid
        WHERE con.contype = 'f' AND src.is_tenant AND dst.is_tenant
          AND NOT EXISTS (
            SELECT 1 FROM unnest(con.conkey, con.confkey) AS k(src_col, dst_col)
            JOIN pg_attribute sa ON sa.attrelid = con.conrelid AND sa.attnum = k.src_col
            JOIN pg_attribute da ON da.attrelid = con.confrelid AND da.attnum = k.dst_col
            WHERE sa.attname = 'organization_id' AND da.attname = 'organization_id');
        v_checks := v_checks || jsonb_build_object('check', 'references between tenant tables are tenant-consistent', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I.%I', t.nspname, t.relname) ORDER BY 1), '{}') INTO v_found
        FROM pg_temp.strata_tables t
        WHERE t.is_tenant AND NOT EXISTS (
          SELECT 1 FROM pg_constraint con
          WHERE con.conrelid = t.oid AND con.contype = 'f' AND con.confdeltype = 'c'
            AND (con.confrelid = 'base.organizations'::regclass
                 OR EXISTS (SELECT 1 FROM pg_temp.strata_tables d WHERE d.oid = con.confrelid AND d.is_tenant)));
        v_checks := v_checks || jsonb_build_object('check', 'tenant rows are erased with their organization (ON DELETE CASCADE)', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I.%I', t.nspname, t.relname) ORDER BY 1), '{}') INTO v_found
        FROM pg_temp.strata_tables t
        WHERE t.relkind = 'p' AND NOT EXISTS (SELECT 1 FROM base.partition_policies p WHERE p.parent_table = format('%s.%s', t.nspname, t.relname));
        v_checks := v_checks || jsonb_build_object('check', 'partitioned tables have a partition policy', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(p.parent_table ORDER BY 1), '{}') INTO v_found
        FROM base.partition_policies p WHERE to_regclass(p.parent_table) IS NULL;
        v_checks := v_checks || jsonb_build_object('check', 'partition policies name existing tables', 'violations', to_jsonb(v_found));

        v_found := '{}';
        FOR v_policy IN SELECT parent_table FROM base.partition_policies WHERE to_regclass(parent_table || '_default') IS NOT NULL ORDER BY 1 LOOP
          EXECUTE format('SELECT count(*) FROM %s', v_policy.parent_table || '_default') INTO v_rows;
          IF v_rows > 0 THEN v_found := v_found || format('%s: %s row(s)', v_policy.parent_table, v_rows); END IF;
        END LOOP;
        v_checks := v_checks || jsonb_build_object('check', 'DEFAULT partitions are empty', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I.%I.%I', t.nspname, t.relname, con.conname) ORDER BY 1), '{}') INTO v_found
        FROM pg_constraint con JOIN pg_temp.strata_tables t ON t.oid = con.conrelid WHERE NOT con.convalidated;
        v_checks := v_checks || jsonb_build_object('check', 'constraints are validated', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I', c.relname) ORDER BY 1), '{}') INTO v_found
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_temp.strata_tables t ON t.oid = i.indrelid
        WHERE NOT i.indisvalid;
        v_checks := v_checks || jsonb_build_object('check', 'indexes are valid', 'violations', to_jsonb(v_found));

        DROP TABLE pg_temp.strata_tables;
        RETURN jsonb_build_object(
          'ok', NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_checks) c WHERE jsonb_array_length(c -> 'violations') > 0),
          'checked_at', now(),
          'checks', v_checks);
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION base.validate_integrity()`);
  }
}
