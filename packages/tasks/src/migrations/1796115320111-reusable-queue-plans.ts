import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The work queue's functions, rewritten for a plan that is made once per
 * session and reused (`plan_cache_mode = force_generic_plan`).
 *
 * The first versions were single statements whose plans depended on their
 * parameters (`LIMIT p_count`, a join to a CTE over the partitioned executions),
 * so PostgreSQL planned them afresh on every call: planning was a third of a
 * claim's time. Each step is now its own statement whose plan does not depend
 * on the values it gets: the queue is read through its ordered partial index,
 * rows are then touched by key (`id = ANY (ids)`), and an attempt's execution
 * row by its full key, partition column included. A session-long plan is only
 * as good as the statistics it was made from; AutoAnalyzeQueue1796119318452
 * keeps those following the queue's growth where no autovacuum runs. Expired
 * leases are released only when an index probe finds one. `complete_and_claim`
 * is a worker's report and its next claim in one call.
 */
export class ReusableQueuePlans1796115320111 implements MigrationInterface {
  name = 'ReusableQueuePlans1796115320111';

  async up(q: QueryRunner): Promise<void> {
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
    // Claim: release expired leases if there are any, lock the best ready tasks
    // skipping rows other workers hold, then mark them running under the lease
    // and open one execution row each.
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.claim(p_organization_id uuid, p_worker_id text, p_count integer, p_lease_seconds integer)
      RETURNS SETOF tasks.tasks LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        v_ids uuid[];
        v_claimed_at timestamptz;
      BEGIN
        PERFORM base.enter_tenant(p_organization_id, NULL, p_worker_id);
        IF EXISTS (SELECT 1 FROM tasks.tasks t
                    WHERE t.organization_id = p_organization_id AND t.status = 'running' AND t.lease_expires_at < now()) THEN
          PERFORM tasks.release_expired_leases();
        END IF;
        SELECT array_agg(p.id) INTO v_ids FROM (
          SELECT t.id FROM tasks.tasks t
           WHERE t.organization_id = p_organization_id AND t.status = 'ready' AND t.run_after <= now()
           ORDER BY t.priority DESC, t.created_at, t.id
           LIMIT p_count
             FOR UPDATE SKIP LOCKED) p;
        IF v_ids IS NULL THEN
          RETURN;
        END IF;
        -- The claim's own time, not the transaction's start: the claim may take
        -- work that became ready after this transaction began.
        v_claimed_at := clock_timestamp();
        RETURN QUERY
          WITH claimed AS (
            UPDATE tasks.tasks t
               SET status = 'running', attempts = t.attempts + 1, locked_by = p_worker_id, locked_at = v_claimed_at,
                   lease_expires_at = v_claimed_at + make_interval(secs => p_lease_seconds),
                   started_at = coalesce(t.started_at, v_claimed_at), updated_at = v_claimed_at
             WHERE t.organization_id = p_organization_id AND t.id = ANY (v_ids)
            RETURNING t.*
          ), opened AS (
            INSERT INTO tasks.task_executions (organization_id, task_id, attempt, worker_id, status, started_at)
            SELECT c.organization_id, c.id, c.attempts, p_worker_id, 'running', v_claimed_at FROM claimed c
          )
          SELECT c.* FROM claimed c ORDER BY c.priority DESC, c.created_at, c.id;
      END $$`);
    // Complete: only the holder may (no row back otherwise); the execution is
    // closed with what it used; then, in statements of their own (see
    // promote_dependents), dependents may become ready.
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.complete(p_organization_id uuid, p_task_id uuid, p_worker_id text, p_output jsonb, p_usage jsonb)
      RETURNS SETOF tasks.tasks LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET plan_cache_mode = force_generic_plan AS $$
      DECLARE
        v_locked_at timestamptz;
        v_attempt integer;
      BEGIN
        PERFORM base.enter_tenant(p_organization_id, NULL, p_worker_id);
        SELECT t.locked_at, t.attempts INTO v_locked_at, v_attempt FROM tasks.tasks t
         WHERE t.organization_id = p_organization_id AND t.id = p_task_id AND t.status = 'running' AND t.locked_by = p_worker_id
           FOR UPDATE;
        IF NOT FOUND THEN
          RETURN;
        END IF;
        UPDATE tasks.task_executions x
           SET status = 'succeeded', finished_at = now(), duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer,
               cpu_ms = (p_usage ->> 'cpu_ms')::bigint, peak_memory_bytes = (p_usage ->> 'peak_memory_bytes')::bigint,
               input_tokens = (p_usage ->> 'input_tokens')::integer, output_tokens = (p_usage ->> 'output_tokens')::integer,
               metadata = x.metadata || coalesce(p_usage -> 'metadata', '{}')
         WHERE x.organization_id = p_organization_id AND x.task_id = p_task_id AND x.started_at = v_locked_at AND x.attempt = v_attempt
           AND x.status = 'running';
        RETURN QUERY
          UPDATE tasks.tasks t
             SET status = 'succeeded', output = p_output, finished_at = now(), updated_at = now(),
                 locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
           WHERE t.organization_id = p_organization_id AND t.id = p_task_id
          RETURNING t.*;
        PERFORM tasks.promote_dependents(ARRAY[p_task_id]);
      END $$`);
    // Fail: with attempts left (and retryable) the task is ready again after
    // base × factor^(attempt − 1) seconds, capped (its definition's policy, else
    // the defaults given); otherwise it fails for good and blocks what is downstream.
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
    // A worker's loop in one call: the completed task first, then the tasks it
    // claimed (the completed one is succeeded, so never among them). Nothing is
    // claimed when the completion is refused.
    await q.query(`
      CREATE FUNCTION tasks.complete_and_claim(p_organization_id uuid, p_task_id uuid, p_worker_id text, p_output jsonb, p_usage jsonb,
                                               p_count integer, p_lease_seconds integer)
      RETURNS SETOF tasks.tasks LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        RETURN QUERY SELECT * FROM tasks.complete(p_organization_id, p_task_id, p_worker_id, p_output, p_usage);
        IF FOUND THEN
          RETURN QUERY SELECT * FROM tasks.claim(p_organization_id, p_worker_id, p_count, p_lease_seconds);
        END IF;
      END $$`);
    await q.query(`COMMENT ON FUNCTION tasks.complete_and_claim(uuid, uuid, text, jsonb, jsonb, integer, integer) IS 'Completes a task the worker holds and claims its next ones in one transaction; returns the completed task first, then the claimed ones (none if the completion was refused).'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP FUNCTION tasks.complete_and_claim(uuid, uuid, text, jsonb, jsonb, integer, integer)`);
    // The first versions, exactly as CreateTasksSchema1795447506106 wrote them.
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.fail(p_organization_id uuid, p_task_id uuid, p_worker_id text, p_error text, p_retryable boolean, p_usage jsonb,
                                 p_default_backoff_base_seconds integer, p_default_backoff_factor double precision, p_default_backoff_max_seconds integer)
      RETURNS SETOF tasks.tasks LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_task tasks.tasks;
      BEGIN
        PERFORM base.enter_tenant(p_organization_id, NULL, p_worker_id);
        WITH held AS MATERIALIZED (
          SELECT t.id, t.locked_at, t.attempts,
                 p_retryable AND t.attempts < t.max_attempts AS retry,
                 least(coalesce(d.backoff_max_seconds, p_default_backoff_max_seconds),
                       coalesce(d.backoff_base_seconds, p_default_backoff_base_seconds) * power(coalesce(d.backoff_factor, p_default_backoff_factor), t.attempts - 1)) AS delay_seconds
            FROM tasks.tasks t
            LEFT JOIN tasks.task_definitions d ON d.organization_id = t.organization_id AND d.id = t.definition_id
           WHERE t.id = p_task_id AND t.status = 'running' AND t.locked_by = p_worker_id
             FOR UPDATE OF t
        ), closed AS (
          UPDATE tasks.task_executions x
             SET status = 'failed', finished_at = now(), duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer,
                 error = p_error, cpu_ms = (p_usage ->> 'cpu_ms')::bigint, peak_memory_bytes = (p_usage ->> 'peak_memory_bytes')::bigint,
                 input_tokens = (p_usage ->> 'input_tokens')::integer, output_tokens = (p_usage ->> 'output_tokens')::integer,
                 metadata = x.metadata || coalesce(p_usage -> 'metadata', '{}')
            FROM held h
           WHERE x.task_id = h.id AND x.started_at = h.locked_at AND x.attempt = h.attempts AND x.status = 'running'
        )
        UPDATE tasks.tasks t
           SET status = CASE WHEN h.retry THEN 'ready' ELSE 'failed' END,
               run_after = CASE WHEN h.retry THEN now() + make_interval(secs => h.delay_seconds) ELSE t.run_after END,
               finished_at = CASE WHEN h.retry THEN NULL ELSE now() END,
               last_error = p_error, updated_at = now(), locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
          FROM held h
         WHERE t.id = h.id
        RETURNING t.* INTO v_task;
        IF v_task.id IS NULL THEN
          RETURN;
        END IF;
        IF v_task.status = 'failed' THEN
          PERFORM tasks.block_dependents(ARRAY[p_task_id]);
        END IF;
        RETURN NEXT v_task;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.complete(p_organization_id uuid, p_task_id uuid, p_worker_id text, p_output jsonb, p_usage jsonb)
      RETURNS SETOF tasks.tasks LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        PERFORM base.enter_tenant(p_organization_id, NULL, p_worker_id);
        RETURN QUERY
          WITH held AS MATERIALIZED (
            SELECT t.id, t.locked_at, t.attempts FROM tasks.tasks t
             WHERE t.id = p_task_id AND t.status = 'running' AND t.locked_by = p_worker_id
               FOR UPDATE
          ), closed AS (
            UPDATE tasks.task_executions x
               SET status = 'succeeded', finished_at = now(), duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer,
                   cpu_ms = (p_usage ->> 'cpu_ms')::bigint, peak_memory_bytes = (p_usage ->> 'peak_memory_bytes')::bigint,
                   input_tokens = (p_usage ->> 'input_tokens')::integer, output_tokens = (p_usage ->> 'output_tokens')::integer,
                   metadata = x.metadata || coalesce(p_usage -> 'metadata', '{}')
              FROM held h
             WHERE x.task_id = h.id AND x.started_at = h.locked_at AND x.attempt = h.attempts AND x.status = 'running'
          )
          UPDATE tasks.tasks t
             SET status = 'succeeded', output = p_output, finished_at = now(), updated_at = now(),
                 locked_by = NULL, locked_at = NULL, lease_expires_at = NULL
            FROM held h
           WHERE t.id = h.id
          RETURNING t.*;
        IF FOUND THEN
          PERFORM tasks.promote_dependents(ARRAY[p_task_id]);
        END IF;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.claim(p_organization_id uuid, p_worker_id text, p_count integer, p_lease_seconds integer)
      RETURNS SETOF tasks.tasks LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        PERFORM base.enter_tenant(p_organization_id, NULL, p_worker_id);
        PERFORM tasks.release_expired_leases();
        RETURN QUERY
          -- The claim's own time, not the transaction's start: the statement may
          -- see work that became ready after this transaction began.
          WITH picked AS MATERIALIZED (
            SELECT t.id, clock_timestamp() AS claimed_at FROM tasks.tasks t
             WHERE t.status = 'ready' AND t.run_after <= now()
             ORDER BY t.priority DESC, t.created_at, t.id
             LIMIT p_count
               FOR UPDATE SKIP LOCKED
          ), claimed AS (
            UPDATE tasks.tasks t
               SET status = 'running', attempts = t.attempts + 1, locked_by = p_worker_id, locked_at = p.claimed_at,
                   lease_expires_at = p.claimed_at + make_interval(secs => p_lease_seconds),
                   started_at = coalesce(t.started_at, p.claimed_at), updated_at = p.claimed_at
              FROM picked p
             WHERE t.id = p.id
            RETURNING t.*
          ), opened AS (
            INSERT INTO tasks.task_executions (organization_id, task_id, attempt, worker_id, status, started_at)
            SELECT c.organization_id, c.id, c.attempts, p_worker_id, 'running', c.locked_at FROM claimed c
          )
          SELECT c.* FROM claimed c ORDER BY c.priority DESC, c.created_at, c.id;
      END $$`);
    await q.query(`
      CREATE OR REPLACE FUNCTION tasks.release_expired_leases(p_limit integer DEFAULT 100) RETURNS integer
      LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_released integer;
        v_failed uuid[];
      BEGIN
        WITH expired AS MATERIALIZED (
          SELECT t.id, t.locked_at, t.attempts, t.max_attempts, t.locked_by
            FROM tasks.tasks t
           WHERE t.status = 'running' AND t.lease_expires_at < now()
           ORDER BY t.lease_expires_at
           LIMIT p_limit
             FOR UPDATE SKIP LOCKED
        ), lost AS (
          UPDATE tasks.task_executions x
             SET status = 'lost', finished_at = now(), duration_ms = (extract(epoch FROM now() - x.started_at) * 1000)::integer,
                 error = 'lease expired: worker ' || e.locked_by || ' stopped reporting'
            FROM expired e
           WHERE x.task_id = e.id AND x.started_at = e.locked_at AND x.attempt = e.attempts AND x.status = 'running'
        ), released AS (
          UPDATE tasks.tasks t
             SET status = CASE WHEN e.attempts >= e.max_attempts THEN 'failed' ELSE 'ready' END,
                 finished_at = CASE WHEN e.attempts >= e.max_attempts THEN now() END,
                 run_after = now(), locked_by = NULL, locked_at = NULL, lease_expires_at = NULL, updated_at = now(),
                 last_error = 'lease expired: worker ' || e.locked_by || ' stopped reporting'
            FROM expired e
           WHERE t.id = e.id
          RETURNING t.id, t.status
        )
        SELECT count(*), array_agg(r.id) FILTER (WHERE r.status = 'failed') INTO v_released, v_failed FROM released r;
        IF v_failed IS NOT NULL THEN
          PERFORM tasks.block_dependents(v_failed);
        END IF;
        RETURN v_released;
      END $$`);
  }
}
