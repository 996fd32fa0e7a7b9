import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `base.validate_integrity()` learns the rules of keys that scale out:
 * - every tenant table's primary key, and every unique constraint or unique
 *   index, includes organization_id (a distributed PostgreSQL such as Citus
 *   shards tenant tables by it and can only enforce keys that contain it);
 * - a table that partition retention detached is an archive, not a tenant
 *   table: it is recognised by its name (`<parent>_p<YYYYMMDD>[_<n>]` beside a
 *   registered parent), must keep row-level security forced, and is left out of
 *   the rules for live tables (it has no policy of its own on purpose), so
 *   `strata validate` keeps passing after retention detaches a partition;
 * - no reference sets a column list on delete (`ON DELETE SET NULL (col)`),
 *   which Citus refuses on distributed tables;
 * - a foreign key added NOT VALID is reported until it is validated, and
 *   accepted from then on (unchanged, now said in the function).
 * Violations are now listed sorted: `ORDER BY 1` inside an aggregate sorts by
 * the constant 1, so the lists came in whatever order the catalog gave.
 */
export class ValidateTenantKeys1796203200000 implements MigrationInterface {
  name = 'ValidateTenantKeys1796203200000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION base.validate_integrity() RETURNS jsonb
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_checks jsonb := '[]'::jsonb;
        v_found text[];
        v_policy record;
        v_rows bigint;
      BEGIN
        -- Tables of the Strata schemas: every schema with a module history table. A table that
        -- retention detached from a registered parent (named <parent>_p<YYYYMMDD>[_<n>] in the
        -- parent's schema) is an archive: it keeps the rows and forced row-level security, has no
        -- policy of its own (so only the owner's superuser or BYPASSRLS role reads it), and is
        -- checked by the archive rule instead of the tenant-table rules.
        CREATE TEMP TABLE IF NOT EXISTS pg_temp.strata_tables ON COMMIT DROP AS
          SELECT c.oid, n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
                 a.attnum AS organization_attnum,
                 a.attnum IS NOT NULL AND archive.parent_table IS NULL AS is_tenant,
                 archive.parent_table AS archive_of
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
          LEFT JOIN LATERAL (
            SELECT p.parent_table FROM base.partition_policies p
             WHERE c.relkind = 'r' AND split_part(p.parent_table, '.', 1) = n.nspname
               AND c.relname ~ ('^' || split_part(p.parent_table, '.', 2) || '_p[0-9]{8}(_[0-9]+)?$')
             LIMIT 1) archive ON true
          WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relname <> 'migrations'
            AND EXISTS (SELECT 1 FROM pg_class h WHERE h.relnamespace = n.oid AND h.relname = 'migrations' AND h.relkind = 'r');

        SELECT coalesce(array_agg(format('%I.%I', nspname, relname) ORDER BY format('%I.%I', nspname, relname)), '{}') INTO v_found
        FROM pg_temp.strata_tables WHERE (is_tenant OR (nspname, relname) = ('base', 'organizations'))
          AND NOT (relrowsecurity AND relforcerowsecurity);
        v_checks := v_checks || jsonb_build_object('check', 'tenant tables force row-level security', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I.%I', t.nspname, t.relname) ORDER BY format('%I.%I', t.nspname, t.relname)), '{}') INTO v_found
        FROM pg_temp.strata_tables t WHERE t.relrowsecurity AND t.archive_of IS NULL AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = t.oid);
        v_checks := v_checks || jsonb_build_object('check', 'tables with row-level security have a policy', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I.%I (detached from %s)', t.nspname, t.relname, t.archive_of) ORDER BY format('%I.%I (detached from %s)', t.nspname, t.relname, t.archive_of)), '{}') INTO v_found
        FROM pg_temp.strata_tables t WHERE t.archive_of IS NOT NULL AND t.organization_attnum IS NOT NULL
          AND NOT (t.relrowsecurity AND t.relforcerowsecurity);
        v_checks := v_checks || jsonb_build_object('check', 'detached partitions keep row-level security forced', 'violations', to_jsonb(v_found));

        -- A distributed PostgreSQL (Citus) shards tenant tables by organization_id, and a shard can
        -- only enforce a key that contains it: the primary key and every unique index must.
        SELECT coalesce(array_agg(format('%I.%I', t.nspname, t.relname) ORDER BY format('%I.%I', t.nspname, t.relname)), '{}') INTO v_found
        FROM pg_temp.strata_tables t
        WHERE t.is_tenant AND NOT EXISTS (
          SELECT 1 FROM pg_index i WHERE i.indrelid = t.oid AND i.indisprimary AND t.organization_attnum = ANY (i.indkey::smallint[]));
        v_checks := v_checks || jsonb_build_object('check', 'tenant tables have a primary key that includes organization_id', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I.%I', t.nspname, c.relname) ORDER BY format('%I.%I', t.nspname, c.relname)), '{}') INTO v_found
        FROM pg_temp.strata_tables t
        JOIN pg_index i ON i.indrelid = t.oid AND i.indisunique AND NOT i.indisprimary
        JOIN pg_class c ON c.oid = i.indexrelid
        WHERE t.is_tenant AND NOT t.organization_attnum = ANY (i.indkey::smallint[]);
        v_checks := v_checks || jsonb_build_object('check', 'unique constraints of tenant tables include organization_id', 'violations', to_jsonb(v_found));

        -- A foreign key from one tenant table to another must include organization_id on both sides.
        SELECT coalesce(array_agg(format('%I.%I.%I', src.nspname, src.relname, con.conname) ORDER BY format('%I.%I.%I', src.nspname, src.relname, con.conname)), '{}') INTO v_found
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

        -- Citus refuses ON DELETE SET NULL / SET DEFAULT with a column list on distributed tables.
        SELECT coalesce(array_agg(format('%I.%I.%I', t.nspname, t.relname, con.conname) ORDER BY format('%I.%I.%I', t.nspname, t.relname, con.conname)), '{}') INTO v_found
        FROM pg_constraint con JOIN pg_temp.strata_tables t ON t.oid = con.conrelid
        WHERE con.contype = 'f' AND cardinality(coalesce(con.confdelsetcols, '{}')) > 0;
        v_checks := v_checks || jsonb_build_object('check', 'references clear no column list on delete (SET NULL (col) is refused by Citus)', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I.%I', t.nspname, t.relname) ORDER BY format('%I.%I', t.nspname, t.relname)), '{}') INTO v_found
        FROM pg_temp.strata_tables t
        WHERE t.is_tenant AND NOT EXISTS (
          SELECT 1 FROM pg_constraint con
          WHERE con.conrelid = t.oid AND con.contype = 'f' AND con.confdeltype = 'c'
            AND (con.confrelid = 'base.organizations'::regclass
                 OR EXISTS (SELECT 1 FROM pg_temp.strata_tables d WHERE d.oid = con.confrelid AND d.is_tenant)));
        v_checks := v_checks || jsonb_build_object('check', 'tenant rows are erased with their organization (ON DELETE CASCADE)', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I.%I', t.nspname, t.relname) ORDER BY format('%I.%I', t.nspname, t.relname)), '{}') INTO v_found
        FROM pg_temp.strata_tables t
        WHERE t.relkind = 'p' AND NOT EXISTS (SELECT 1 FROM base.partition_policies p WHERE p.parent_table = format('%s.%s', t.nspname, t.relname));
        v_checks := v_checks || jsonb_build_object('check', 'partitioned tables have a partition policy', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(p.parent_table ORDER BY p.parent_table), '{}') INTO v_found
        FROM base.partition_policies p WHERE to_regclass(p.parent_table) IS NULL;
        v_checks := v_checks || jsonb_build_object('check', 'partition policies name existing tables', 'violations', to_jsonb(v_found));

        v_found := '{}';
        FOR v_policy IN SELECT parent_table FROM base.partition_policies WHERE to_regclass(parent_table || '_default') IS NOT NULL ORDER BY 1 LOOP
          EXECUTE format('SELECT count(*) FROM %s', v_policy.parent_table || '_default') INTO v_rows;
          IF v_rows > 0 THEN v_found := v_found || format('%s: %s row(s)', v_policy.parent_table, v_rows); END IF;
        END LOOP;
        v_checks := v_checks || jsonb_build_object('check', 'DEFAULT partitions are empty', 'violations', to_jsonb(v_found));

        -- A key added NOT VALID (so a large table is not write-locked while it is checked) is
        -- reported until VALIDATE CONSTRAINT has checked the rows already there.
        SELECT coalesce(array_agg(format('%I.%I.%I', t.nspname, t.relname, con.conname) ORDER BY format('%I.%I.%I', t.nspname, t.relname, con.conname)), '{}') INTO v_found
        FROM pg_constraint con JOIN pg_temp.strata_tables t ON t.oid = con.conrelid WHERE NOT con.convalidated;
        v_checks := v_checks || jsonb_build_object('check', 'constraints are validated', 'violations', to_jsonb(v_found));

        SELECT coalesce(array_agg(format('%I', c.relname) ORDER BY format('%I', c.relname)), '{}') INTO v_found
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
    // The definition of CreateValidateIntegrity1795443500000, word for word.
    await q.query(`
      CREATE OR REPLACE FUNCTION base.validate_integrity() RETURNS jsonb
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
}
