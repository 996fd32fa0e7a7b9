import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `base.health_check(expected jsonb)`: one jsonb report, callable from psql.
 * The database knows what it has applied; only the code knows what exists, so
 * callers may pass `{"<module>": ["Migration1…", …]}` to get pending migrations
 * too (the CLI does).
 */
export class CreateHealthCheck1795443400000 implements MigrationInterface {
  name = 'CreateHealthCheck1795443400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE FUNCTION base.health_check(p_expected_migrations jsonb DEFAULT NULL) RETURNS jsonb
      LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_modules jsonb := '[]'::jsonb;
        v_partitions jsonb := '[]'::jsonb;
        v_problems text[] := '{}';
        v_schema name;
        v_applied text[];
        v_expected text[];
        v_pending text[];
        v_policy record;
        v_ahead integer;
        v_default_rows bigint;
        v_unprotected text[];
        v_invalid text[];
      BEGIN
        -- Modules: every schema that has a history table.
        FOR v_schema IN
          SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relname = 'migrations' AND c.relkind = 'r'
            AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'public')
          UNION
          SELECT jsonb_object_keys(coalesce(p_expected_migrations, '{}'::jsonb))
          ORDER BY 1
        LOOP
          v_applied := '{}';
          IF to_regclass(format('%I.migrations', v_schema)) IS NOT NULL THEN
            EXECUTE format('SELECT coalesce(array_agg(name ORDER BY "timestamp"), ''{}'') FROM %I.migrations', v_schema) INTO v_applied;
          END IF;
          v_expected := ARRAY(SELECT jsonb_array_elements_text(p_expected_migrations -> v_schema));
          v_pending := ARRAY(SELECT unnest(v_expected) EXCEPT SELECT unnest(v_applied));
          IF cardinality(v_pending) > 0 THEN
            v_problems := v_problems || format('%s has %s pending migration(s)', v_schema, cardinality(v_pending));
          END IF;
          v_modules := v_modules || jsonb_build_object(
            'module', v_schema,
            'applied', cardinality(v_applied),
            'latest', v_applied[cardinality(v_applied)],
            'pending', CASE WHEN p_expected_migrations ? v_schema THEN to_jsonb(v_pending) END);
        END LOOP;

        -- Partitioned tables: how far ahead they are ready, and rows stuck in DEFAULT.
        IF to_regclass('base.partition_policies') IS NOT NULL THEN
          FOR v_policy IN SELECT * FROM base.partition_policies ORDER BY parent_table LOOP
            -- partition_bounds reads the bounds independent of this session's TimeZone / DateStyle
            SELECT count(*) INTO v_ahead
            FROM base.partition_bounds(v_policy.parent_table::regclass) b
            WHERE NOT b.is_default AND b.lower_bound > now();
            v_default_rows := 0;
            IF to_regclass(v_policy.parent_table || '_default') IS NOT NULL THEN
              EXECUTE format('SELECT count(*) FROM %s', v_policy.parent_table || '_default') INTO v_default_rows;
            END IF;
            IF v_ahead = 0 THEN
              v_problems := v_problems || format('%s has no partition ahead of now: run base.run_maintenance()', v_policy.parent_table);
            END IF;
            IF v_default_rows > 0 THEN
              v_problems := v_problems || format('%s has %s row(s) in its DEFAULT partition: run base.run_maintenance()', v_policy.parent_table, v_default_rows);
            END IF;
            v_partitions := v_partitions || jsonb_build_object(
              'table', v_policy.parent_table, 'interval', v_policy.partition_interval,
              'partitions_ahead', v_ahead, 'premake', v_policy.premake,
              'default_rows', v_default_rows, 'last_maintained_at', v_policy.last_maintained_at);
          END LOOP;
        END IF;

        -- Tenant tables (an organization_id column, not a partition) without forced RLS.
        SELECT coalesce(array_agg(format('%I.%I', n.nspname, c.relname) ORDER BY 1), '{}') INTO v_unprotected
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'organization_id' AND NOT a.attisdropped
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND NOT (c.relrowsecurity AND c.relforcerowsecurity);
        IF cardinality(v_unprotected) > 0 THEN
          v_problems := v_problems || format('tenant tables without forced row-level security: %s', array_to_string(v_unprotected, ', '));
        END IF;

        SELECT coalesce(array_agg(format('%I.%I', n.nspname, c.relname) ORDER BY 1), '{}') INTO v_invalid
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT i.indisvalid;
        IF cardinality(v_invalid) > 0 THEN
          v_problems := v_problems || format('invalid indexes: %s', array_to_string(v_invalid, ', '));
        END IF;

        RETURN jsonb_build_object(
          'status', CASE WHEN cardinality(v_problems) = 0 THEN 'healthy' ELSE 'degraded' END,
          'checked_at', now(),
          'server_version', current_setting('server_version'),
          'database', current_database(),
          'database_size_bytes', pg_database_size(current_database()),
          'extensions', (SELECT coalesce(jsonb_agg(jsonb_build_object('name', extname, 'version', extversion) ORDER BY extname), '[]') FROM pg_extension),
          'vector_available', EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector'),
          'modules', v_modules,
          'partitions', v_partitions,
          'tenant_tables_without_forced_rls', to_jsonb(v_unprotected),
          'invalid_indexes', to_jsonb(v_invalid),
          'problems', to_jsonb(v_problems));
      END $$`);
    await q.query(`GRANT EXECUTE ON FUNCTION base.health_check(jsonb) TO strata_app`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION base.health_check(jsonb)`);
  }
}
