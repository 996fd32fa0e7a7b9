import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tenant SQL a distributed planner can route: every statement inside the
 * queue's functions and the DAG cycle check filters on organization_id
 * itself, instead of leaving it to row-level security (which a single server
 * applies, but which Citus cannot use to pick a shard: it refused these
 * statements with "complex table expressions" / "could not create distributed
 * plan"). The functions that take no organization (`promote_dependents`,
 * `block_dependents`, `release_expired_leases`) use the transaction's, as
 * row-level security already did: called outside a tenant they touch nothing.
 * The cycle check reads the added edges into arrays per organization, so no
 * statement joins the transition table with a tenant table.
 * `claim`, `complete` and `complete_and_claim` already named the organization
 * in every statement of their own; `fail` now also names it for the
 * definition it reads. The plans are the same index scans as before (row-level
 * security put the same condition there).
 */
export class RoutableTenantFunctions1796203500000 implements MigrationInterface {
  name = 'RoutableTenantFunctions1796203500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.block_dependents(p_task_ids uuid[]) RETURNS SETOF uuid
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        -- The transaction's organization: every statement names it, so each reaches one tenant's rows.
        v_organization uuid := base.current_organization_id();
      BEGIN
        RETURN QUERY
          WITH RECURSIVE downstream (id) AS (
            SELECT d.task_id FROM tasks.task_dependencies d WHERE d.organization_id = v_organization AND d.depends_on_task_id = ANY (p_task_ids)
            UNION
            SELECT d.task_id FROM tasks.task_dependencies d JOIN downstream s ON d.organization_id = v_organization AND d.depends_on_task_id = s.id
          )
          UPDATE tasks.tasks t SET status = 'blocked', updated_at = now()
            FROM downstream s
           WHERE t.organization_id = v_organization AND t.id = s.id AND t.status IN ('pending', 'ready')
          RETURNING t.id;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.promote_dependents(p_task_ids uuid[]) RETURNS integer
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        -- The transaction's organization: every statement names it, so each reaches one tenant's rows.
        v_organization uuid := base.current_organization_id();
        v_candidates uuid[];
        v_promoted integer;
      BEGIN
        -- Dependents first, then their rows by primary key: a plan that stays
        -- right on freshly filled tables, before any statistics exist.
        SELECT array_agg(DISTINCT d.task_id) INTO v_candidates
          FROM tasks.task_dependencies d WHERE d.organization_id = v_organization AND d.depends_on_task_id = ANY (p_task_ids);
        SELECT array_agg(t.id ORDER BY t.id) INTO v_candidates FROM (
          SELECT t.id FROM tasks.tasks t
           WHERE t.organization_id = v_organization AND t.id = ANY (v_candidates) AND t.status = 'pending'
           ORDER BY t.id
             FOR NO KEY UPDATE OF t) t;
        IF v_candidates IS NULL THEN
          RETURN 0;
        END IF;
        UPDATE tasks.tasks t SET status = 'ready', updated_at = now()
         WHERE t.organization_id = v_organization AND t.id = ANY (v_candidates) AND t.status = 'pending'
           AND NOT EXISTS (
             SELECT 1 FROM tasks.task_dependencies d
               JOIN tasks.tasks p ON p.organization_id = v_organization AND p.id = d.depends_on_task_id
              WHERE d.organization_id = v_organization AND d.task_id = t.id AND p.status <> 'succeeded');
        GET DIAGNOSTICS v_promoted = ROW_COUNT;
        RETURN v_promoted;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.release_expired_leases(p_limit integer DEFAULT 100) RETURNS integer
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        -- The transaction's organization: every statement names it, so each reaches one tenant's rows.
        v_organization uuid := base.current_organization_id();
        v_ids uuid[];
        v_failed uuid[];
      BEGIN
        SELECT array_agg(e.id) INTO v_ids FROM (
          SELECT t.id FROM tasks.tasks t
           WHERE t.organization_id = v_organization AND t.status = 'running' AND t.lease_expires_at < now()
           ORDER BY t.lease_expires_at
           LIMIT p_limit
             FOR UPDATE SKIP LOCKED) e;
        IF v_ids IS NULL THEN
          RETURN 0;
        END IF;
        -- Each open execution: its started_at is the task's locked_at (the partition key).
        UPDATE tasks.task_executions x
           SET status = 'lost', finished_at = now(), duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer,
               error = 'lease expired: worker ' || t.locked_by || ' stopped reporting'
          FROM tasks.tasks t
         WHERE t.organization_id = v_organization AND t.id = ANY (v_ids)
           AND x.organization_id = v_organization AND x.task_id = t.id AND x.started_at = t.locked_at AND x.attempt = t.attempts
           AND x.status = 'running';
        WITH released AS (
          UPDATE tasks.tasks t
             SET status = CASE WHEN t.attempts >= t.max_attempts THEN 'failed' ELSE 'ready' END,
                 finished_at = CASE WHEN t.attempts >= t.max_attempts THEN now() END,
                 run_after = now(), updated_at = now(),
                 last_error = 'lease expired: worker ' || t.locked_by || ' stopped reporting',
                 locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
           WHERE t.organization_id = v_organization AND t.id = ANY (v_ids)
          RETURNING t.id, t.status
        )
        SELECT array_agg(r.id) FILTER (WHERE r.status = 'failed') INTO v_failed FROM released r;
        IF v_failed IS NOT NULL THEN
          PERFORM tasks.block_dependents(v_failed);
        END IF;
        RETURN cardinality(v_ids);
      END $$`);
    await q.query(`

      CREATE OR REPLACE FUNCTION tasks.fail(p_organization_id uuid, p_task_id uuid, p_worker_id text, p_error text, p_retryable boolean, p_usage jsonb,
                                 p_default_backoff_base_seconds integer, p_default_backoff_factor double precision, p_default_backoff_max_seconds integer)
      RETURNS SETOF tasks.tasks LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        v_locked_at timestamptz;
        v_attempt integer;
        v_retry boolean;
        v_delay_seconds double precision;
        v_task tasks.tasks;
      BEGIN
        PERFORM base.enter_tenant(p_organization_id, NULL, p_worker_id);
        SELECT t.locked_at, t.attempts, p_retryable AND t.attempts < t.max_attempts,
               least(coalesce(d.backoff_max_seconds, p_default_backoff_max_seconds),
                     coalesce(d.backoff_base_seconds, p_default_backoff_base_seconds) * power(coalesce(d.backoff_factor, p_default_backoff_factor), t.attempts - 1))
          INTO v_locked_at, v_attempt, v_retry, v_delay_seconds
          FROM tasks.tasks t
          LEFT JOIN tasks.task_definitions d ON d.organization_id = p_organization_id AND d.id = t.definition_id
         WHERE t.organization_id = p_organization_id AND t.id = p_task_id AND t.status = 'running' AND t.locked_by = p_worker_id
           FOR UPDATE OF t;
        IF NOT FOUND THEN
          RETURN;
        END IF;
        UPDATE tasks.task_executions x
           SET status = 'failed', finished_at = now(), duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer,
               error = p_error, cpu_ms = (p_usage ->> 'cpu_ms')::bigint, peak_memory_bytes = (p_usage ->> 'peak_memory_bytes')::bigint,
               input_tokens = (p_usage ->> 'input_tokens')::integer, output_tokens = (p_usage ->> 'output_tokens')::integer,
               metadata = x.metadata || coalesce(p_usage -> 'metadata', '{}')
         WHERE x.organization_id = p_organization_id AND x.task_id = p_task_id AND x.started_at = v_locked_at AND x.attempt = v_attempt
           AND x.status = 'running';
        UPDATE tasks.tasks t
           SET status = CASE WHEN v_retry THEN 'ready' ELSE 'failed' END,
               run_after = CASE WHEN v_retry THEN now() + make_interval(secs => v_delay_seconds) ELSE t.run_after END,
               finished_at = CASE WHEN v_retry THEN NULL ELSE now() END,
               last_error = p_error, updated_at = now(), locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
         WHERE t.organization_id = p_organization_id AND t.id = p_task_id
        RETURNING t.* INTO v_task;
        IF NOT v_retry THEN
          PERFORM tasks.block_dependents(ARRAY[p_task_id]);
        END IF;
        RETURN NEXT v_task;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.refuse_dependency_cycles() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_organization uuid;
        v_task_ids uuid[];
        v_dependency_ids uuid[];
        v_edge record;
        v_frontier uuid[];
      BEGIN
        FOR v_organization IN SELECT DISTINCT a.organization_id FROM added a ORDER BY 1 LOOP
          PERFORM pg_advisory_xact_lock(hashtext('tasks.task_dependencies'), hashtext(v_organization::text));
        END LOOP;
        -- One organization at a time, every statement on tables filtered by it (a distributed
        -- planner routes each to the organization's shard); the added edges are read from the
        -- transition table into arrays first, so no statement joins it with a tenant table.
        FOR v_organization, v_task_ids, v_dependency_ids IN
            SELECT a.organization_id, array_agg(a.task_id), array_agg(a.depends_on_task_id) FROM added a GROUP BY a.organization_id LOOP
          -- Some edge of any cycle must go against the order, so searching from the
          -- edges against it finds every cycle the statement closed. All of them are
          -- searched before any re-ranking: re-ranking walks the graph and must
          -- only ever see a DAG.
          FOR v_edge IN SELECT e.task_id, e.depends_on_task_id
              FROM unnest(v_task_ids, v_dependency_ids) AS e (task_id, depends_on_task_id)
              JOIN tasks.tasks t ON t.organization_id = v_organization AND t.id = e.task_id
              JOIN tasks.tasks d ON d.organization_id = v_organization AND d.id = e.depends_on_task_id
             WHERE t.dag_rank <= d.dag_rank LOOP
            IF EXISTS (
              WITH RECURSIVE reach (node) AS (
                SELECT v_edge.depends_on_task_id
                UNION
                SELECT e.depends_on_task_id FROM reach r
                  JOIN tasks.task_dependencies e ON e.organization_id = v_organization AND e.task_id = r.node
              )
              SELECT 1 FROM reach WHERE node = v_edge.task_id
            ) THEN
              RAISE EXCEPTION 'task % cannot depend on task %: the dependency would close a cycle', v_edge.task_id, v_edge.depends_on_task_id
                USING ERRCODE = 'check_violation', SCHEMA = 'tasks', TABLE = 'task_dependencies', CONSTRAINT = 'task_dependencies_acyclic';
            END IF;
          END LOOP;
          -- No cycle: raise each such task above its dependencies, then its dependents, until every edge follows the order.
          -- (The same edges as above: nothing has changed ranks yet.)
          FOR v_edge IN SELECT e.task_id, e.depends_on_task_id
              FROM unnest(v_task_ids, v_dependency_ids) AS e (task_id, depends_on_task_id)
              JOIN tasks.tasks t ON t.organization_id = v_organization AND t.id = e.task_id
              JOIN tasks.tasks d ON d.organization_id = v_organization AND d.id = e.depends_on_task_id
             WHERE t.dag_rank <= d.dag_rank LOOP
            v_frontier := ARRAY[v_edge.task_id];
            WHILE v_frontier IS NOT NULL LOOP
              WITH raised AS (
                UPDATE tasks.tasks c SET dag_rank = need.rank
                  FROM (SELECT e.task_id, max(p.dag_rank) + 1 AS rank
                          FROM tasks.task_dependencies e
                          JOIN tasks.tasks p ON p.organization_id = v_organization AND p.id = e.depends_on_task_id
                         WHERE e.organization_id = v_organization AND e.task_id = ANY (v_frontier)
                         GROUP BY e.task_id) need
                 WHERE c.organization_id = v_organization AND c.id = need.task_id AND c.dag_rank < need.rank
                RETURNING c.id)
              SELECT array_agg(DISTINCT e.task_id) INTO v_frontier
                FROM raised r JOIN tasks.task_dependencies e ON e.organization_id = v_organization AND e.depends_on_task_id = r.id;
            END LOOP;
          END LOOP;
        END LOOP;
        RETURN NULL;
      END $$`);
  }

  async down(q: QueryRunner): Promise<void> {
    // The previous definitions, word for word: refuse_dependency_cycles, promote_dependents and
    // block_dependents from CreateTasksSchema1795447506106, the others from ReusableQueuePlans1796115320111.
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.refuse_dependency_cycles() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_organization uuid;
        v_edge record;
        v_frontier uuid[];
      BEGIN
        FOR v_organization IN SELECT DISTINCT a.organization_id FROM added a ORDER BY 1 LOOP
          PERFORM pg_advisory_xact_lock(hashtext('tasks.task_dependencies'), hashtext(v_organization::text));
        END LOOP;
        -- Some edge of any cycle must go against the order, so searching from the
        -- edges against it finds every cycle the statement closed. All of them are
        -- searched before any re-ranking: re-ranking walks the graph and must
        -- only ever see a DAG.
        FOR v_edge IN SELECT a.organization_id, a.task_id, a.depends_on_task_id
            FROM added a
            JOIN tasks.tasks t ON t.organization_id = a.organization_id AND t.id = a.task_id
            JOIN tasks.tasks d ON d.organization_id = a.organization_id AND d.id = a.depends_on_task_id
           WHERE t.dag_rank <= d.dag_rank LOOP
          IF EXISTS (
            WITH RECURSIVE reach (node) AS (
              SELECT v_edge.depends_on_task_id
              UNION
              SELECT e.depends_on_task_id FROM reach r
                JOIN tasks.task_dependencies e ON e.organization_id = v_edge.organization_id AND e.task_id = r.node
            )
            SELECT 1 FROM reach WHERE node = v_edge.task_id
          ) THEN
            RAISE EXCEPTION 'task % cannot depend on task %: the dependency would close a cycle', v_edge.task_id, v_edge.depends_on_task_id
              USING ERRCODE = 'check_violation', SCHEMA = 'tasks', TABLE = 'task_dependencies', CONSTRAINT = 'task_dependencies_acyclic';
          END IF;
        END LOOP;
        -- No cycle: raise each such task above its dependencies, then its dependents, until every edge follows the order.
        -- (The same edges as above: nothing has changed ranks yet.)
        FOR v_edge IN SELECT a.organization_id, a.task_id, a.depends_on_task_id
            FROM added a
            JOIN tasks.tasks t ON t.organization_id = a.organization_id AND t.id = a.task_id
            JOIN tasks.tasks d ON d.organization_id = a.organization_id AND d.id = a.depends_on_task_id
           WHERE t.dag_rank <= d.dag_rank LOOP
          v_frontier := ARRAY[v_edge.task_id];
          WHILE v_frontier IS NOT NULL LOOP
            WITH raised AS (
              UPDATE tasks.tasks c SET dag_rank = need.rank
                FROM (SELECT e.task_id, max(p.dag_rank) + 1 AS rank
                        FROM tasks.task_dependencies e
                        JOIN tasks.tasks p ON p.organization_id = e.organization_id AND p.id = e.depends_on_task_id
                       WHERE e.organization_id = v_edge.organization_id AND e.task_id = ANY (v_frontier)
                       GROUP BY e.task_id) need
               WHERE c.organization_id = v_edge.organization_id AND c.id = need.task_id AND c.dag_rank < need.rank
              RETURNING c.id)
            SELECT array_agg(DISTINCT e.task_id) INTO v_frontier
              FROM raised r JOIN tasks.task_dependencies e ON e.organization_id = v_edge.organization_id AND e.depends_on_task_id = r.id;
          END LOOP;
        END LOOP;
        RETURN NULL;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.fail(p_organization_id uuid, p_task_id uuid, p_worker_id text, p_error text, p_retryable boolean, p_usage jsonb,
                                 p_default_backoff_base_seconds integer, p_default_backoff_factor double precision, p_default_backoff_max_seconds integer)
      RETURNS SETOF tasks.tasks LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        v_locked_at timestamptz;
        v_attempt integer;
        v_retry boolean;
        v_delay_seconds double precision;
        v_task tasks.tasks;
      BEGIN
        PERFORM base.enter_tenant(p_organization_id, NULL, p_worker_id);
        SELECT t.locked_at, t.attempts, p_retryable AND t.attempts < t.max_attempts,
               least(coalesce(d.backoff_max_seconds, p_default_backoff_max_seconds),
                     coalesce(d.backoff_base_seconds, p_default_backoff_base_seconds) * power(coalesce(d.backoff_factor, p_default_backoff_factor), t.attempts - 1))
          INTO v_locked_at, v_attempt, v_retry, v_delay_seconds
          FROM tasks.tasks t
          LEFT JOIN tasks.task_definitions d ON d.organization_id = t.organization_id AND d.id = t.definition_id
         WHERE t.organization_id = p_organization_id AND t.id = p_task_id AND t.status = 'running' AND t.locked_by = p_worker_id
           FOR UPDATE OF t;
        IF NOT FOUND THEN
          RETURN;
        END IF;
        UPDATE tasks.task_executions x
           SET status = 'failed', finished_at = now(), duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer,
               error = p_error, cpu_ms = (p_usage ->> 'cpu_ms')::bigint, peak_memory_bytes = (p_usage ->> 'peak_memory_bytes')::bigint,
               input_tokens = (p_usage ->> 'input_tokens')::integer, output_tokens = (p_usage ->> 'output_tokens')::integer,
               metadata = x.metadata || coalesce(p_usage -> 'metadata', '{}')
         WHERE x.organization_id = p_organization_id AND x.task_id = p_task_id AND x.started_at = v_locked_at AND x.attempt = v_attempt
           AND x.status = 'running';
        UPDATE tasks.tasks t
           SET status = CASE WHEN v_retry THEN 'ready' ELSE 'failed' END,
               run_after = CASE WHEN v_retry THEN now() + make_interval(secs => v_delay_seconds) ELSE t.run_after END,
               finished_at = CASE WHEN v_retry THEN NULL ELSE now() END,
               last_error = p_error, updated_at = now(), locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
         WHERE t.organization_id = p_organization_id AND t.id = p_task_id
        RETURNING t.* INTO v_task;
        IF NOT v_retry THEN
          PERFORM tasks.block_dependents(ARRAY[p_task_id]);
        END IF;
        RETURN NEXT v_task;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.release_expired_leases(p_limit integer DEFAULT 100) RETURNS integer
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        v_ids uuid[];
        v_failed uuid[];
      BEGIN
        SELECT array_agg(e.id) INTO v_ids FROM (
          SELECT t.id FROM tasks.tasks t
           WHERE t.status = 'running' AND t.lease_expires_at < now()
           ORDER BY t.lease_expires_at
           LIMIT p_limit
             FOR UPDATE SKIP LOCKED) e;
        IF v_ids IS NULL THEN
          RETURN 0;
        END IF;
        -- Each open execution: its started_at is the task's locked_at (the partition key).
        UPDATE tasks.task_executions x
           SET status = 'lost', finished_at = now(), duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer,
               error = 'lease expired: worker ' || t.locked_by || ' stopped reporting'
          FROM tasks.tasks t
         WHERE t.id = ANY (v_ids)
           AND x.organization_id = t.organization_id AND x.task_id = t.id AND x.started_at = t.locked_at AND x.attempt = t.attempts
           AND x.status = 'running';
        WITH released AS (
          UPDATE tasks.tasks t
             SET status = CASE WHEN t.attempts >= t.max_attempts THEN 'failed' ELSE 'ready' END,
                 finished_at = CASE WHEN t.attempts >= t.max_attempts THEN now() END,
                 run_after = now(), updated_at = now(),
                 last_error = 'lease expired: worker ' || t.locked_by || ' stopped reporting',
                 locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
           WHERE t.id = ANY (v_ids)
          RETURNING t.id, t.status
        )
        SELECT array_agg(r.id) FILTER (WHERE r.status = 'failed') INTO v_failed FROM released r;
        IF v_failed IS NOT NULL THEN
          PERFORM tasks.block_dependents(v_failed);
        END IF;
        RETURN cardinality(v_ids);
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.promote_dependents(p_task_ids uuid[]) RETURNS integer
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_candidates uuid[];
        v_promoted integer;
      BEGIN
        -- Dependents first, then their rows by primary key: a plan that stays
        -- right on freshly filled tables, before any statistics exist.
        SELECT array_agg(DISTINCT d.task_id) INTO v_candidates
          FROM tasks.task_dependencies d WHERE d.depends_on_task_id = ANY (p_task_ids);
        SELECT array_agg(t.id ORDER BY t.id) INTO v_candidates FROM (
          SELECT t.id FROM tasks.tasks t
           WHERE t.id = ANY (v_candidates) AND t.status = 'pending'
           ORDER BY t.id
             FOR NO KEY UPDATE OF t) t;
        IF v_candidates IS NULL THEN
          RETURN 0;
        END IF;
        UPDATE tasks.tasks t SET status = 'ready', updated_at = now()
         WHERE t.id = ANY (v_candidates) AND t.status = 'pending'
           AND NOT EXISTS (
             SELECT 1 FROM tasks.task_dependencies d
               JOIN tasks.tasks p ON p.organization_id = d.organization_id AND p.id = d.depends_on_task_id
              WHERE d.organization_id = t.organization_id AND d.task_id = t.id AND p.status <> 'succeeded');
        GET DIAGNOSTICS v_promoted = ROW_COUNT;
        RETURN v_promoted;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.block_dependents(p_task_ids uuid[]) RETURNS SETOF uuid
      LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
        WITH RECURSIVE downstream (id) AS (
          SELECT d.task_id FROM tasks.task_dependencies d WHERE d.depends_on_task_id = ANY (p_task_ids)
          UNION
          SELECT d.task_id FROM tasks.task_dependencies d JOIN downstream s ON d.depends_on_task_id = s.id
        )
        UPDATE tasks.tasks t SET status = 'blocked', updated_at = now()
          FROM downstream s
         WHERE t.id = s.id AND t.status IN ('pending', 'ready')
        RETURNING t.id
      $$`);
  }
}
