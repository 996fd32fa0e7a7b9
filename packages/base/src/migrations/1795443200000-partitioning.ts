import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Time-based range partitioning for high-volume tables (task executions, audit log, events).
 *
 * A module declares its table `PARTITION BY RANGE (<time column>)` in its own migration and
 * registers it here with `base.register_partitioned_table(...)`. From then on
 * `base.run_maintenance()` keeps it healthy:
 *   - partitions exist for the current period and `premake` periods ahead;
 *   - a DEFAULT partition catches any out-of-range row, so an INSERT is never refused,
 *     and maintenance moves such rows into their proper partition (Postgres refuses to
 *     create a partition whose range overlaps rows sitting in DEFAULT, so rows go first);
 *   - retention drops or detaches whole partitions, never DELETEs row by row.
 *
 * Period boundaries are UTC calendar boundaries (day, ISO week from Monday, month) whatever
 * the session TimeZone. Partition names: `<table>_p<YYYYMMDD of range start>`, DEFAULT
 * `<table>_default`, both in the parent's schema.
 *
 * Public functions (SECURITY DEFINER, so an application role can run maintenance without
 * owning the tables; register/unregister stay with the migration owner):
 *   base.register_partitioned_table(text, text, text, integer, interval, text) -> void
 *   base.unregister_partitioned_table(text) -> void
 *   base.create_partitions(text) -> integer                       (granted to strata_app)
 *   base.run_maintenance(text DEFAULT NULL) -> jsonb              (granted to strata_app)
 *   base.partition_bounds(regclass) -> table of partitions and their bounds (read-only helper)
 * Internal helpers (EXECUTE revoked from PUBLIC): partition_open_default,
 * partition_suspend_triggers, partition_resume_triggers, partition_fill_range,
 * partition_maintain_table.
 */

/**
 * Every function pins its environment: a fixed search_path (every name below is
 * schema-qualified, pg_temp last so a caller cannot shadow anything), and UTC / ISO so that
 * timestamp arithmetic, to_char and the text of partition bounds never depend on the
 * caller's session settings.
 */
const FN_SETTINGS = `SET search_path = pg_catalog, pg_temp
  SET TimeZone = 'UTC'
  SET DateStyle = 'ISO, YMD'`;

const UP: string[] = [
  // ---------------------------------------------------------------- policies
  `CREATE TABLE base.partition_policies (
    parent_table text NOT NULL,
    control_column text NOT NULL,
    partition_interval text NOT NULL,
    premake integer NOT NULL DEFAULT 4,
    retention interval NULL,
    retention_mode text NOT NULL DEFAULT 'drop',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_maintained_at timestamptz NULL,
    CONSTRAINT partition_policies_pkey PRIMARY KEY (parent_table),
    -- Same constraints as entities/partition-policy.entity.ts (no table comment either):
    -- the schema-drift check compares the two. Lower-case schema.table, exactly as
    -- to_regclass() resolves it.
    CONSTRAINT partition_policies_parent_table_check
      CHECK (parent_table ~ '^[a-z_][a-z0-9_]*\\.[a-z_][a-z0-9_]*$'),
    CONSTRAINT partition_policies_partition_interval_check
      CHECK (partition_interval IN ('day', 'week', 'month')),
    CONSTRAINT partition_policies_premake_check CHECK (premake BETWEEN 1 AND 366),
    CONSTRAINT partition_policies_retention_mode_check CHECK (retention_mode IN ('drop', 'detach'))
  )`,

  // ---------------------------------------------------------------- partition_bounds
  `CREATE FUNCTION base.partition_bounds(p_parent regclass)
  RETURNS TABLE (partition regclass, partition_name text, is_default boolean,
                 lower_bound timestamptz, upper_bound timestamptz)
  LANGUAGE sql STABLE
  ${FN_SETTINGS}
  AS $fn$
    -- The catalog keeps bounds as an expression tree; pg_get_expr renders it with the
    -- session TimeZone/DateStyle, which the function's SET clauses pin, so the literal
    -- parses back to the exact instant. MINVALUE/MAXVALUE (hand-made partitions) become
    -- -infinity/infinity; the DEFAULT partition has no bounds.
    SELECT c.oid::regclass,
           c.relname::text,
           c.oid = pt.partdefid,
           CASE WHEN b.m IS NULL THEN NULL
                WHEN b.m[1] = 'MINVALUE' THEN '-infinity'::timestamptz
                ELSE btrim(b.m[1], '''')::timestamptz END,
           CASE WHEN b.m IS NULL THEN NULL
                WHEN b.m[2] = 'MAXVALUE' THEN 'infinity'::timestamptz
                ELSE btrim(b.m[2], '''')::timestamptz END
      FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
      JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = i.inhparent
     CROSS JOIN LATERAL pg_catalog.regexp_match(pg_catalog.pg_get_expr(c.relpartbound, c.oid),
                                                '^FOR VALUES FROM [(](.+)[)] TO [(](.+)[)]$') AS b(m)
     WHERE i.inhparent = p_parent
     ORDER BY 4 NULLS FIRST, 2
  $fn$`,
  `COMMENT ON FUNCTION base.partition_bounds(regclass) IS
    'Direct partitions of a range-partitioned table with their bounds (NULL bounds = DEFAULT).'`,

  // ---------------------------------------------------------------- partition_open_default
  `CREATE FUNCTION base.partition_open_default(p_parent regclass)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
  ${FN_SETTINGS}
  AS $fn$
  -- Returns the DEFAULT partition of p_parent (NULL if none), readable by the current role.
  -- Partitions of an RLS table carry FORCE ROW LEVEL SECURITY and no policies of their own,
  -- so they hide every row even from their owner. A superuser or BYPASSRLS role reads them
  -- anyway; for any other owner FORCE is lifted on DEFAULT for the rest of the transaction
  -- (partition_maintain_table puts it back before it returns).
  DECLARE
    v_default regclass;
    v_hidden boolean;
  BEGIN
    SELECT nullif(pt.partdefid, 0)::regclass INTO v_default
      FROM pg_catalog.pg_partitioned_table pt WHERE pt.partrelid = p_parent;
    IF v_default IS NULL THEN
      RETURN NULL;
    END IF;

    SELECT p.relrowsecurity AND d.relrowsecurity AND d.relforcerowsecurity
           AND NOT (r.rolsuper OR r.rolbypassrls)
           AND pg_catalog.pg_relation_size(d.oid) > 0   -- no pages: no rows to hide
      INTO v_hidden
      FROM pg_catalog.pg_class p, pg_catalog.pg_class d, pg_catalog.pg_roles r
     WHERE p.oid = p_parent AND d.oid = v_default AND r.rolname = current_user;

    IF v_hidden THEN
      -- Parent first, as writers lock it, so this cannot deadlock with them.
      EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', p_parent);
      EXECUTE pg_catalog.format('ALTER TABLE %s NO FORCE ROW LEVEL SECURITY', v_default);
    END IF;
    RETURN v_default;
  END
  $fn$`,

  // ---------------------------------------------------------------- triggers
  `CREATE FUNCTION base.partition_suspend_triggers(p_rel regclass)
  RETURNS jsonb
  LANGUAGE plpgsql VOLATILE
  ${FN_SETTINGS}
  AS $fn$
  -- Moving a row between partitions is bookkeeping, not a change of data: user triggers
  -- (audit, notify, a BEFORE INSERT that rewrites a column or drops the row) must not see
  -- it. Disables the enabled ones and returns {name: state} for partition_resume_triggers.
  -- Internal (foreign-key) triggers stay on.
  DECLARE
    v_states jsonb;
  BEGIN
    SELECT coalesce(pg_catalog.jsonb_object_agg(t.tgname, t.tgenabled::text), '{}'::jsonb)
      INTO v_states
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = p_rel AND NOT t.tgisinternal AND t.tgenabled <> 'D';
    IF v_states <> '{}'::jsonb THEN
      EXECUTE pg_catalog.format('ALTER TABLE %s DISABLE TRIGGER USER', p_rel);
    END IF;
    RETURN v_states;
  END
  $fn$`,

  `CREATE FUNCTION base.partition_resume_triggers(p_rel regclass, p_states jsonb)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  ${FN_SETTINGS}
  AS $fn$
  -- Puts back exactly the states partition_suspend_triggers saw (O = origin, A = always,
  -- R = replica).
  DECLARE
    v_trigger record;
  BEGIN
    FOR v_trigger IN SELECT key, value FROM pg_catalog.jsonb_each_text(p_states) LOOP
      EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE %s TRIGGER %I', p_rel,
        CASE v_trigger.value WHEN 'A' THEN 'ALWAYS' WHEN 'R' THEN 'REPLICA' ELSE '' END,
        v_trigger.key);
    END LOOP;
  END
  $fn$`,

  // ---------------------------------------------------------------- partition_fill_range
  `CREATE FUNCTION base.partition_fill_range(p_parent regclass, p_control_column text,
                                             p_lower timestamptz, p_upper timestamptz)
  RETURNS TABLE (partition_name text, moved_rows bigint)
  LANGUAGE plpgsql VOLATILE
  ${FN_SETTINGS}
  AS $fn$
  -- Creates a partition for every stretch of [p_lower, p_upper) that no partition covers
  -- (normally the whole range, or nothing), moving the rows DEFAULT holds for that stretch
  -- into it. Caller holds the maintenance advisory lock.
  DECLARE
    v_gap record;
    v_schema name;
    v_schema_oid oid;
    v_table name;
    v_rls boolean;
    v_locked boolean := false;
    v_default regclass;
    v_default_triggers jsonb;      -- NULL until DEFAULT's triggers are suspended
    v_child_triggers jsonb;
    v_columns text;
    v_has_rows boolean;
    v_moved bigint;
    v_name text;
    v_suffix integer;
    v_child regclass;
    v_maintenance_flag text := coalesce(pg_catalog.current_setting('strata.partition_maintenance', true), '');
  BEGIN
    SELECT n.nspname, n.oid, c.relname, c.relrowsecurity
      INTO v_schema, v_schema_oid, v_table, v_rls
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = p_parent;

    FOR v_gap IN
      -- Partitions never overlap, so the uncovered stretches lie between consecutive
      -- partitions clipped to the range (plus before the first and after the last).
      WITH covered AS (
        SELECT GREATEST(b.lower_bound, p_lower) AS lo,
               LEAST(b.upper_bound, p_upper) AS hi
          FROM base.partition_bounds(p_parent) b
         WHERE NOT b.is_default AND b.lower_bound < p_upper AND b.upper_bound > p_lower
      ), gaps AS (
        SELECT coalesce(pg_catalog.lag(cv.hi) OVER (ORDER BY cv.lo), p_lower) AS lo, cv.lo AS hi
          FROM covered cv
        UNION ALL
        SELECT coalesce(pg_catalog.max(cv.hi), p_lower), p_upper FROM covered cv
      )
      SELECT g.lo, g.hi FROM gaps g WHERE g.lo < g.hi ORDER BY g.lo
    LOOP
      IF NOT v_locked THEN
        -- CREATE TABLE ... PARTITION OF takes this lock anyway; taking it before DEFAULT is
        -- read means no row can slip into DEFAULT between moving rows out and creating the
        -- partition, and the lock order (parent, then partitions) is the writers' order.
        EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', p_parent);
        v_default := base.partition_open_default(p_parent);
        -- Columns to copy back; generated columns are recomputed on insert.
        SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
          INTO v_columns
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = p_parent AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
        v_locked := true;
      END IF;

      -- 1. Postgres refuses to create a partition whose range has rows in DEFAULT: set
      --    those rows aside in a temp table (same transaction, so nothing is lost on error).
      v_moved := 0;
      v_has_rows := false;
      IF v_default IS NOT NULL THEN
        EXECUTE pg_catalog.format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I >= $1 AND %I < $2)',
                                  v_default, p_control_column, p_control_column)
           INTO v_has_rows USING v_gap.lo, v_gap.hi;
      END IF;
      IF v_has_rows THEN
        -- Deleting a referenced row would fire ON DELETE actions (CASCADE would delete the
        -- referencing rows): refuse rather than risk it.
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                    WHERE k.contype = 'f' AND k.confrelid = p_parent) THEN
          RAISE EXCEPTION 'cannot move rows out of the DEFAULT partition of %: other tables reference it by foreign key', p_parent
            USING ERRCODE = 'object_in_use',
                  HINT = 'Create the partition for these rows by hand, or drop the foreign key.';
        END IF;
        IF v_default_triggers IS NULL THEN
          v_default_triggers := base.partition_suspend_triggers(v_default);
        END IF;
        -- Also say so to any trigger that would still run (base.audit_log's append-only
        -- trigger lets maintenance delete when this is on). set_config, not a SET clause
        -- on the function: only a superuser may attach an unknown parameter to a function.
        PERFORM pg_catalog.set_config('strata.partition_maintenance', 'on', true);
        EXECUTE pg_catalog.format('CREATE TEMPORARY TABLE strata_partition_move (LIKE %s) ON COMMIT DROP', v_default);
        EXECUTE pg_catalog.format(
          'WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING *)
           INSERT INTO pg_temp.strata_partition_move SELECT * FROM moved',
          v_default, p_control_column, p_control_column) USING v_gap.lo, v_gap.hi;
        GET DIAGNOSTICS v_moved = ROW_COUNT;
      END IF;

      -- 2. <table>_p<YYYYMMDD>; a suffix only if that name is taken (e.g. by a partition
      --    detached by retention whose period received rows again).
      v_name := v_table || '_p' || pg_catalog.to_char(v_gap.lo AT TIME ZONE 'UTC', 'YYYYMMDD');
      v_suffix := 0;
      WHILE EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                     WHERE c.relnamespace = v_schema_oid
                       AND c.relname = (CASE WHEN v_suffix = 0 THEN v_name ELSE v_name || '_' || v_suffix END)) LOOP
        v_suffix := v_suffix + 1;
      END LOOP;
      IF v_suffix > 0 THEN
        v_name := v_name || '_' || v_suffix;
      END IF;

      -- 3. Bounds written as UTC literals, which read the same for timestamptz, timestamp
      --    (UTC wall clock) and date columns.
      EXECUTE pg_catalog.format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
        v_schema, v_name, p_parent,
        pg_catalog.to_char(v_gap.lo AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00',
        pg_catalog.to_char(v_gap.hi AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00');
      v_child := pg_catalog.format('%I.%I', v_schema, v_name)::regclass;

      -- 4. Rows go straight into the new partition: its partition constraint checks every
      --    row, and the parent's RLS policies (which could hide or reject rows for a
      --    non-superuser owner) are not in the way. Identity values are kept as they were.
      IF v_has_rows THEN
        v_child_triggers := base.partition_suspend_triggers(v_child);
        EXECUTE pg_catalog.format(
          'INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM pg_temp.strata_partition_move',
          v_child, v_columns, v_columns);
        PERFORM base.partition_resume_triggers(v_child, v_child_triggers);
        DROP TABLE pg_temp.strata_partition_move;
        PERFORM pg_catalog.set_config('strata.partition_maintenance', v_maintenance_flag, true);
      END IF;

      -- 5. Keep direct access to the partition as closed as the parent: queries through the
      --    parent use the parent's policies, a partition has none, so FORCE denies all.
      IF v_rls THEN
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', v_child);
      END IF;

      partition_name := v_name;
      moved_rows := v_moved;
      RETURN NEXT;
    END LOOP;

    IF v_default_triggers IS NOT NULL THEN
      PERFORM base.partition_resume_triggers(v_default, v_default_triggers);
    END IF;
  END
  $fn$`,

  // ---------------------------------------------------------------- partition_maintain_table
  `CREATE FUNCTION base.partition_maintain_table(p_parent_table text, p_full boolean)
  RETURNS jsonb
  LANGUAGE plpgsql VOLATILE
  ${FN_SETTINGS}
  AS $fn$
  -- One table: (a) current period through premake periods ahead; when p_full also
  -- (b) empty DEFAULT into proper partitions, (c) retention, (d) last_maintained_at.
  -- Returns {"table", "created", "moved_rows", "dropped", "detached"}.
  -- Caller holds the maintenance advisory lock.
  DECLARE
    v_policy base.partition_policies;
    v_parent regclass;
    v_step interval;
    v_start timestamp;             -- start of the current period, UTC wall clock
    v_default regclass;
    v_periods timestamptz[];
    v_period timestamptz;
    v_cutoff timestamptz;
    v_fill record;
    v_part record;
    v_created text[] := '{}';
    v_dropped text[] := '{}';
    v_detached text[] := '{}';
    v_moved bigint := 0;
  BEGIN
    SELECT * INTO v_policy FROM base.partition_policies p WHERE p.parent_table = p_parent_table;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'table % is not registered for partition maintenance', p_parent_table
        USING ERRCODE = 'undefined_object',
              HINT = 'Register it with base.register_partitioned_table(...).';
    END IF;
    v_parent := pg_catalog.to_regclass(v_policy.parent_table);
    IF v_parent IS NULL THEN
      RAISE EXCEPTION 'registered table % no longer exists', v_policy.parent_table
        USING ERRCODE = 'undefined_table',
              HINT = 'Remove its policy with base.unregister_partitioned_table(...).';
    END IF;
    v_step := ('1 ' || v_policy.partition_interval)::interval;

    -- (a) Periods are computed on the UTC wall clock (timestamp without time zone), so
    --     adding a month never drifts with a daylight-saving change; 'week' truncates to
    --     the ISO Monday.
    v_start := pg_catalog.date_trunc(v_policy.partition_interval, now() AT TIME ZONE 'UTC');
    FOR i IN 0 .. v_policy.premake LOOP
      FOR v_fill IN
        SELECT * FROM base.partition_fill_range(v_parent, v_policy.control_column,
                                                (v_start + i * v_step) AT TIME ZONE 'UTC',
                                                (v_start + (i + 1) * v_step) AT TIME ZONE 'UTC')
      LOOP
        v_created := v_created || v_fill.partition_name;
        v_moved := v_moved + v_fill.moved_rows;
      END LOOP;
    END LOOP;

    IF p_full THEN
      -- (b) Every period that still has rows in DEFAULT gets its partition; fill_range
      --     moves the rows (a period partly covered by hand-made partitions gets its gaps).
      v_default := base.partition_open_default(v_parent);
      IF v_default IS NOT NULL THEN
        EXECUTE pg_catalog.format(
          'SELECT coalesce(pg_catalog.array_agg(DISTINCT pg_catalog.date_trunc(%L, (%I)::pg_catalog.timestamptz, ''UTC'')), ''{}'') FROM %s',
          v_policy.partition_interval, v_policy.control_column, v_default)
          INTO v_periods;
        FOREACH v_period IN ARRAY v_periods LOOP
          FOR v_fill IN
            SELECT * FROM base.partition_fill_range(v_parent, v_policy.control_column, v_period,
                                                    (v_period AT TIME ZONE 'UTC' + v_step) AT TIME ZONE 'UTC')
          LOOP
            v_created := v_created || v_fill.partition_name;
            v_moved := v_moved + v_fill.moved_rows;
          END LOOP;
        END LOOP;
      END IF;

      -- (c) Retention: only partitions wholly older than the cutoff (upper bound <= cutoff);
      --     the one straddling it stays, DEFAULT (no bounds) is never touched.
      IF v_policy.retention IS NOT NULL THEN
        v_cutoff := now() - v_policy.retention;
        FOR v_part IN
          SELECT b.partition, b.partition_name FROM base.partition_bounds(v_parent) b
           WHERE NOT b.is_default AND b.upper_bound <= v_cutoff
           ORDER BY b.lower_bound
        LOOP
          EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', v_parent);
          IF v_policy.retention_mode = 'drop' THEN
            EXECUTE pg_catalog.format('DROP TABLE %s', v_part.partition);
            v_dropped := v_dropped || v_part.partition_name;
          ELSE
            -- Left as a standalone table (same name, same RLS flags) for archiving.
            EXECUTE pg_catalog.format('ALTER TABLE %s DETACH PARTITION %s', v_parent, v_part.partition);
            v_detached := v_detached || v_part.partition_name;
          END IF;
        END LOOP;
      END IF;

      -- (d)
      UPDATE base.partition_policies p SET last_maintained_at = now()
       WHERE p.parent_table = v_policy.parent_table;
    END IF;

    -- Every partition of an RLS parent ends ENABLE + FORCE: puts back FORCE lifted by
    -- partition_open_default, and covers a parent that gained RLS after its partitions.
    FOR v_part IN
      SELECT c.oid::regclass AS rel
        FROM pg_catalog.pg_inherits i
        JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
        JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
       WHERE i.inhparent = v_parent AND p.relrowsecurity
         AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
    LOOP
      EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', v_parent);
      EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', v_part.rel);
    END LOOP;

    RETURN pg_catalog.jsonb_build_object(
      'table', v_policy.parent_table,
      'created', pg_catalog.to_jsonb(v_created),
      'moved_rows', v_moved,
      'dropped', pg_catalog.to_jsonb(v_dropped),
      'detached', pg_catalog.to_jsonb(v_detached));
  END
  $fn$`,

  // ---------------------------------------------------------------- register
  `CREATE FUNCTION base.register_partitioned_table(
    p_parent_table text,
    p_control_column text,
    p_interval text,
    p_premake integer DEFAULT 4,
    p_retention interval DEFAULT NULL,
    p_retention_mode text DEFAULT 'drop')
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  ${FN_SETTINGS}
  AS $fn$
  DECLARE
    v_parent regclass;
    v_kind "char";
    v_table name;
    v_schema name;
    v_strategy "char";
    v_key_count smallint;
    v_key_attnum smallint;
    v_key_type regtype;
    v_has_default boolean;
    v_default_name text;
  BEGIN
    -- Serialises with run_maintenance / create_partitions.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('strata.partition_maintenance'));

    IF p_parent_table IS NULL OR p_parent_table !~ '^[a-z_][a-z0-9_]*[.][a-z_][a-z0-9_]*$' THEN
      RAISE EXCEPTION 'parent table must be a lower-case schema-qualified name such as tasks.task_executions, got %',
        coalesce(pg_catalog.quote_literal(p_parent_table), 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_interval IS NULL OR p_interval NOT IN ('day', 'week', 'month') THEN
      RAISE EXCEPTION 'partition interval must be day, week or month, got %',
        coalesce(pg_catalog.quote_literal(p_interval), 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_premake IS NULL OR p_premake NOT BETWEEN 1 AND 366 THEN
      RAISE EXCEPTION 'premake must be between 1 and 366, got %', coalesce(p_premake::text, 'NULL')
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_retention <= interval '0' THEN
      RAISE EXCEPTION 'retention must be a positive interval or NULL (keep forever), got %', p_retention
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_retention_mode IS NULL OR p_retention_mode NOT IN ('drop', 'detach') THEN
      RAISE EXCEPTION 'retention mode must be drop or detach, got %',
        coalesce(pg_catalog.quote_literal(p_retention_mode), 'NULL') USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_parent := pg_catalog.to_regclass(p_parent_table);
    IF v_parent IS NULL THEN
      RAISE EXCEPTION 'table % does not exist', p_parent_table USING ERRCODE = 'undefined_table';
    END IF;
    SELECT c.relkind, c.relname, n.nspname INTO v_kind, v_table, v_schema
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = v_parent;
    IF v_kind <> 'p' THEN
      RAISE EXCEPTION 'table % is not partitioned', p_parent_table
        USING ERRCODE = 'wrong_object_type',
              HINT = pg_catalog.format('Declare it with PARTITION BY RANGE (%I).', p_control_column);
    END IF;

    SELECT pt.partstrat, pt.partnatts, pt.partattrs[0] INTO v_strategy, v_key_count, v_key_attnum
      FROM pg_catalog.pg_partitioned_table pt WHERE pt.partrelid = v_parent;
    -- Exactly one plain column (attnum 0 would be an expression) named p_control_column.
    IF v_strategy <> 'r' OR v_key_count <> 1 OR v_key_attnum = 0
       OR NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = v_parent AND a.attnum = v_key_attnum
                         AND a.attname = p_control_column) THEN
      RAISE EXCEPTION 'table % is partitioned by %, not by RANGE (%)',
        p_parent_table, pg_catalog.pg_get_partkeydef(v_parent), p_control_column
        USING ERRCODE = 'wrong_object_type';
    END IF;
    SELECT a.atttypid::regtype INTO v_key_type
      FROM pg_catalog.pg_attribute a WHERE a.attrelid = v_parent AND a.attnum = v_key_attnum;
    IF v_key_type NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
      RAISE EXCEPTION 'partition key %.% has type %; only timestamptz, timestamp and date are supported',
        p_parent_table, p_control_column, v_key_type USING ERRCODE = 'datatype_mismatch';
    END IF;
    -- Identifiers are cut at 63 bytes; leave room for "_pYYYYMMDD" and a "_N" suffix.
    IF pg_catalog.octet_length(v_table) > 50 THEN
      RAISE EXCEPTION 'table name % is too long for partition names <table>_pYYYYMMDD (at most 50 bytes)', v_table
        USING ERRCODE = 'name_too_long';
    END IF;

    INSERT INTO base.partition_policies AS p
           (parent_table, control_column, partition_interval, premake, retention, retention_mode)
    VALUES (p_parent_table, p_control_column, p_interval, p_premake, p_retention, p_retention_mode)
    ON CONFLICT (parent_table) DO UPDATE
       SET control_column = excluded.control_column,
           partition_interval = excluded.partition_interval,
           premake = excluded.premake,
           retention = excluded.retention,
           retention_mode = excluded.retention_mode,
           updated_at = now();

    -- DEFAULT first, so no INSERT is ever refused; a module's own DEFAULT is kept.
    SELECT pt.partdefid <> 0 INTO v_has_default
      FROM pg_catalog.pg_partitioned_table pt WHERE pt.partrelid = v_parent;
    IF NOT v_has_default THEN
      v_default_name := v_table || '_default';
      EXECUTE pg_catalog.format('CREATE TABLE %I.%I PARTITION OF %s DEFAULT', v_schema, v_default_name, v_parent);
      -- RLS flags are copied at the end of partition_maintain_table.
    END IF;

    PERFORM base.partition_maintain_table(p_parent_table, false);
  END
  $fn$`,
  `COMMENT ON FUNCTION base.register_partitioned_table(text, text, text, integer, interval, text) IS
    'Registers (or updates) a table declared PARTITION BY RANGE (control column): policy, DEFAULT partition, current + premake partitions.'`,

  // ---------------------------------------------------------------- unregister
  `CREATE FUNCTION base.unregister_partitioned_table(p_parent_table text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  ${FN_SETTINGS}
  AS $fn$
  BEGIN
    -- Only the policy goes; the partitions go when the module drops its table.
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('strata.partition_maintenance'));
    DELETE FROM base.partition_policies p WHERE p.parent_table = p_parent_table;
  END
  $fn$`,
  `COMMENT ON FUNCTION base.unregister_partitioned_table(text) IS
    'Removes a table''s partition policy (down migrations); partitions are left alone.'`,

  // ---------------------------------------------------------------- create_partitions
  `CREATE FUNCTION base.create_partitions(p_parent_table text)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  ${FN_SETTINGS}
  AS $fn$
  BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('strata.partition_maintenance'));
    RETURN pg_catalog.jsonb_array_length(base.partition_maintain_table(p_parent_table, false) -> 'created');
  END
  $fn$`,
  `COMMENT ON FUNCTION base.create_partitions(text) IS
    'Creates the missing partitions from the current period through premake periods ahead (moving any DEFAULT rows of those ranges); returns how many were created.'`,

  // ---------------------------------------------------------------- run_maintenance
  `CREATE FUNCTION base.run_maintenance(p_parent_table text DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  ${FN_SETTINGS}
  AS $fn$
  DECLARE
    v_tables jsonb := '[]'::jsonb;
    v_table text;
    v_error text;
  BEGIN
    -- A concurrent caller waits here, then finds nothing left to do (each statement after
    -- the lock sees what the first caller committed, under READ COMMITTED).
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('strata.partition_maintenance'));

    IF p_parent_table IS NOT NULL THEN
      -- One named table: its errors are the caller's.
      RETURN pg_catalog.jsonb_build_object('tables',
        pg_catalog.jsonb_build_array(base.partition_maintain_table(p_parent_table, true)));
    END IF;

    -- Sweep: one table's failure (e.g. a lock it cannot get) must not stop retention and
    -- premake on the others; it is reported in its entry and as a WARNING.
    FOR v_table IN SELECT p.parent_table FROM base.partition_policies p ORDER BY p.parent_table LOOP
      BEGIN
        v_tables := v_tables || base.partition_maintain_table(v_table, true);
      EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS v_error = MESSAGE_TEXT;
        RAISE WARNING 'partition maintenance of % failed: %', v_table, v_error;
        v_tables := v_tables || pg_catalog.jsonb_build_object(
          'table', v_table, 'created', '[]'::jsonb, 'moved_rows', 0,
          'dropped', '[]'::jsonb, 'detached', '[]'::jsonb, 'error', v_error);
      END;
    END LOOP;
    RETURN pg_catalog.jsonb_build_object('tables', v_tables);
  END
  $fn$`,
  `COMMENT ON FUNCTION base.run_maintenance(text) IS
    'Premakes partitions, moves DEFAULT rows into proper partitions, applies retention; for one table or all. Returns {"tables":[{"table","created","moved_rows","dropped","detached"[,"error"]}]}.'`,

  // ---------------------------------------------------------------- privileges
  // SECURITY DEFINER functions run as the migration owner: nobody else gets them by default.
  `REVOKE EXECUTE ON FUNCTION base.register_partitioned_table(text, text, text, integer, interval, text) FROM PUBLIC`,
  `REVOKE EXECUTE ON FUNCTION base.unregister_partitioned_table(text) FROM PUBLIC`,
  `REVOKE EXECUTE ON FUNCTION base.create_partitions(text) FROM PUBLIC`,
  `REVOKE EXECUTE ON FUNCTION base.run_maintenance(text) FROM PUBLIC`,
  // Internal helpers are only called by the functions above (as the owner).
  `REVOKE EXECUTE ON FUNCTION base.partition_open_default(regclass) FROM PUBLIC`,
  `REVOKE EXECUTE ON FUNCTION base.partition_suspend_triggers(regclass) FROM PUBLIC`,
  `REVOKE EXECUTE ON FUNCTION base.partition_resume_triggers(regclass, jsonb) FROM PUBLIC`,
  `REVOKE EXECUTE ON FUNCTION base.partition_fill_range(regclass, text, timestamptz, timestamptz) FROM PUBLIC`,
  `REVOKE EXECUTE ON FUNCTION base.partition_maintain_table(text, boolean) FROM PUBLIC`,
  // The application may keep its own partitions healthy (e.g. from a scheduled job).
  `GRANT EXECUTE ON FUNCTION base.create_partitions(text) TO strata_app`,
  `GRANT EXECUTE ON FUNCTION base.run_maintenance(text) TO strata_app`,
];

// Exact reverse of UP; grants and comments go with their objects.
const DOWN: string[] = [
  `DROP FUNCTION base.run_maintenance(text)`,
  `DROP FUNCTION base.create_partitions(text)`,
  `DROP FUNCTION base.unregister_partitioned_table(text)`,
  `DROP FUNCTION base.register_partitioned_table(text, text, text, integer, interval, text)`,
  `DROP FUNCTION base.partition_maintain_table(text, boolean)`,
  `DROP FUNCTION base.partition_fill_range(regclass, text, timestamptz, timestamptz)`,
  `DROP FUNCTION base.partition_resume_triggers(regclass, jsonb)`,
  `DROP FUNCTION base.partition_suspend_triggers(regclass)`,
  `DROP FUNCTION base.partition_open_default(regclass)`,
  `DROP FUNCTION base.partition_bounds(regclass)`,
  `DROP TABLE base.partition_policies`,
];

export class Partitioning1795443200000 implements MigrationInterface {
  name = 'Partitioning1795443200000';

  async up(q: QueryRunner): Promise<void> {
    for (const sql of UP) await q.query(sql);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const sql of DOWN) await q.query(sql);
  }
}
