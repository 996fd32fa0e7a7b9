import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Schema `tasks`: task definitions, workflow DAGs, tasks with their dependency
 * DAG (cycles refused by the database), and task_executions partitioned monthly.
 * Every table is tenant-scoped; references between them are composite
 * (organization_id, id) so a row can never point at another organization's row.
 */
export class CreateTasksSchema1795447506106 implements MigrationInterface {
  name = 'CreateTasksSchema1795447506106';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "tasks"."task_definitions" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "organization_id" uuid NOT NULL,
        "name" character varying(255) NOT NULL,
        "kind" character varying(64) NOT NULL,
        "description" text,
        "input_schema" jsonb NOT NULL DEFAULT '{}',
        "timeout_seconds" integer NOT NULL DEFAULT '3600',
        "max_attempts" integer NOT NULL DEFAULT '3',
        "backoff_base_seconds" integer NOT NULL DEFAULT '10',
        "backoff_factor" double precision NOT NULL DEFAULT '2',
        "backoff_max_seconds" integer NOT NULL DEFAULT '3600',
        "metadata" jsonb NOT NULL DEFAULT '{}',
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "task_definitions_organization_id_name_key" UNIQUE ("organization_id", "name"),
        CONSTRAINT "task_definitions_organization_id_id_key" UNIQUE ("organization_id", "id"),
        CONSTRAINT "task_definitions_backoff_check" CHECK ("backoff_base_seconds" >= 0 AND "backoff_factor" >= 1 AND "backoff_max_seconds" >= "backoff_base_seconds"),
        CONSTRAINT "task_definitions_max_attempts_check" CHECK ("max_attempts" BETWEEN 1 AND 100),
        CONSTRAINT "task_definitions_timeout_seconds_check" CHECK ("timeout_seconds" > 0),
        CONSTRAINT "task_definitions_pkey" PRIMARY KEY ("id"))`);

    await q.query(`
      CREATE TABLE "tasks"."workflows" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "organization_id" uuid NOT NULL,
        "project_id" uuid,
        "name" character varying(255) NOT NULL,
        "version" integer NOT NULL DEFAULT '1',
        "description" text,
        "definition" jsonb NOT NULL,
        "status" character varying(16) NOT NULL DEFAULT 'draft',
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "workflows_organization_id_name_version_key" UNIQUE ("organization_id", "name", "version"),
        CONSTRAINT "workflows_organization_id_id_key" UNIQUE ("organization_id", "id"),
        CONSTRAINT "workflows_version_check" CHECK ("version" >= 1),
        CONSTRAINT "workflows_status_check" CHECK ("status" IN ('draft', 'active', 'retired')),
        CONSTRAINT "workflows_pkey" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "workflows_organization_id_project_id_idx" ON "tasks"."workflows" ("organization_id", "project_id")`);

    await q.query(`
      CREATE TABLE "tasks"."tasks" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "organization_id" uuid NOT NULL,
        "project_id" uuid,
        "workflow_id" uuid,
        "workflow_run_id" uuid,
        "workflow_step" character varying(255),
        "definition_id" uuid,
        "parent_task_id" uuid,
        "dag_rank" integer NOT NULL DEFAULT '0',
        "title" character varying(500) NOT NULL,
        "status" character varying(16) NOT NULL DEFAULT 'pending',
        "priority" integer NOT NULL DEFAULT '0',
        "input" jsonb NOT NULL DEFAULT '{}',
        "output" jsonb,
        "run_after" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "attempts" integer NOT NULL DEFAULT '0',
        "max_attempts" integer NOT NULL DEFAULT '3',
        "locked_by" character varying(255),
        "locked_at" TIMESTAMP WITH TIME ZONE,
        "lease_expires_at" TIMESTAMP WITH TIME ZONE,
        "last_error" text,
        "idempotency_key" character varying(255),
        "started_at" TIMESTAMP WITH TIME ZONE,
        "finished_at" TIMESTAMP WITH TIME ZONE,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "deleted_at" TIMESTAMP WITH TIME ZONE,
        CONSTRAINT "tasks_organization_id_workflow_run_id_workflow_step_key" UNIQUE ("organization_id", "workflow_run_id", "workflow_step"),
        CONSTRAINT "tasks_organization_id_idempotency_key_key" UNIQUE ("organization_id", "idempotency_key"),
        CONSTRAINT "tasks_organization_id_id_key" UNIQUE ("organization_id", "id"),
        CONSTRAINT "tasks_workflow_step_check" CHECK (("workflow_run_id" IS NULL) = ("workflow_step" IS NULL)),
        CONSTRAINT "tasks_finished_at_check" CHECK (("status" IN ('succeeded', 'failed', 'cancelled')) = ("finished_at" IS NOT NULL)),
        CONSTRAINT "tasks_lease_check" CHECK (("status" = 'running') = ("locked_by" IS NOT NULL AND "lease_expires_at" IS NOT NULL)),
        CONSTRAINT "tasks_attempts_check" CHECK ("attempts" >= 0 AND "attempts" <= "max_attempts" AND "max_attempts" BETWEEN 1 AND 100),
        CONSTRAINT "tasks_status_check" CHECK ("status" IN ('pending', 'ready', 'running', 'succeeded', 'failed', 'cancelled', 'blocked')),
        CONSTRAINT "tasks_pkey" PRIMARY KEY ("id"))`);
    await q.query(`CREATE INDEX "tasks_organization_id_parent_task_id_idx" ON "tasks"."tasks" ("organization_id", "parent_task_id")`);
    await q.query(`CREATE INDEX "tasks_organization_id_project_id_idx" ON "tasks"."tasks" ("organization_id", "project_id")`);
    await q.query(`CREATE INDEX "tasks_organization_id_status_priority_idx" ON "tasks"."tasks" ("organization_id", "status", "priority")`);
    // The work queue: claim() walks this index in claim order and stops after n rows.
    await q.query(`CREATE INDEX "tasks_ready_queue_idx" ON "tasks"."tasks" ("organization_id", "priority" DESC, "created_at", "id") WHERE "status" = 'ready'`);
    await q.query(`COMMENT ON INDEX "tasks"."tasks_ready_queue_idx" IS 'strata:manual claim order (priority DESC is not expressible in TypeORM)'`);
    // Expired leases are found without scanning the running tasks' rows.
    await q.query(`CREATE INDEX "tasks_lease_expires_at_idx" ON "tasks"."tasks" ("organization_id", "lease_expires_at") WHERE "status" = 'running'`);
    await q.query(`COMMENT ON INDEX "tasks"."tasks_lease_expires_at_idx" IS 'strata:manual partial index for lease expiry'`);

    await q.query(`
      CREATE TABLE "tasks"."task_dependencies" (
        "organization_id" uuid NOT NULL,
        "task_id" uuid NOT NULL,
        "depends_on_task_id" uuid NOT NULL,
        "created_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        CONSTRAINT "task_dependencies_depends_on_task_id_check" CHECK ("task_id" <> "depends_on_task_id"),
        CONSTRAINT "task_dependencies_pkey" PRIMARY KEY ("organization_id", "task_id", "depends_on_task_id"))`);
    await q.query(`CREATE INDEX "task_dependencies_organization_id_depends_on_task_id_idx" ON "tasks"."task_dependencies" ("organization_id", "depends_on_task_id")`);

    await q.query(`
      CREATE TABLE "tasks"."task_executions" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "started_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
        "organization_id" uuid NOT NULL,
        "task_id" uuid NOT NULL,
        "attempt" integer NOT NULL,
        "worker_id" character varying(255) NOT NULL,
        "status" character varying(16) NOT NULL DEFAULT 'running',
        "finished_at" TIMESTAMP WITH TIME ZONE,
        "duration_ms" integer,
        "cpu_ms" bigint,
        "peak_memory_bytes" bigint,
        "input_tokens" integer,
        "output_tokens" integer,
        "error" text,
        "metadata" jsonb NOT NULL DEFAULT '{}',
        CONSTRAINT "task_executions_finished_at_check" CHECK (("status" = 'running') = ("finished_at" IS NULL)),
        CONSTRAINT "task_executions_status_check" CHECK ("status" IN ('running', 'succeeded', 'failed', 'lost', 'cancelled')),
        CONSTRAINT "task_executions_pkey" PRIMARY KEY ("id", "started_at")
      ) PARTITION BY RANGE ("started_at")`);
    await q.query(`CREATE INDEX "task_executions_organization_id_worker_id_started_at_idx" ON "tasks"."task_executions" ("organization_id", "worker_id", "started_at")`);
    await q.query(`CREATE INDEX "task_executions_organization_id_task_id_attempt_idx" ON "tasks"."task_executions" ("organization_id", "task_id", "attempt")`);

    // Foreign keys: to organizations (erasure cascades), and composite within the
    // tenant. Dependencies and executions reach their organization through their
    // task (the composite key includes organization_id and cascades): a key of
    // their own to organizations would only add a check to every hot insert.
    const foreignKeys: [table: string, name: string, definition: string][] = [
      ['task_definitions', 'task_definitions_organization_id_fkey', `("organization_id") REFERENCES "base"."organizations"("id") ON DELETE CASCADE`],
      ['workflows', 'workflows_organization_id_fkey', `("organization_id") REFERENCES "base"."organizations"("id") ON DELETE CASCADE`],
      ['tasks', 'tasks_organization_id_fkey', `("organization_id") REFERENCES "base"."organizations"("id") ON DELETE CASCADE`],
      ['tasks', 'tasks_workflow_id_organization_id_fkey', `("workflow_id", "organization_id") REFERENCES "tasks"."workflows"("id", "organization_id") ON DELETE NO ACTION`],
      ['tasks', 'tasks_definition_id_organization_id_fkey', `("definition_id", "organization_id") REFERENCES "tasks"."task_definitions"("id", "organization_id") ON DELETE NO ACTION`],
      ['tasks', 'tasks_parent_task_id_organization_id_fkey', `("parent_task_id", "organization_id") REFERENCES "tasks"."tasks"("id", "organization_id") ON DELETE CASCADE`],
      ['task_dependencies', 'task_dependencies_task_id_organization_id_fkey', `("task_id", "organization_id") REFERENCES "tasks"."tasks"("id", "organization_id") ON DELETE CASCADE`],
      ['task_dependencies', 'task_dependencies_depends_on_task_id_organization_id_fkey', `("depends_on_task_id", "organization_id") REFERENCES "tasks"."tasks"("id", "organization_id") ON DELETE CASCADE`],
      ['task_executions', 'task_executions_task_id_organization_id_fkey', `("task_id", "organization_id") REFERENCES "tasks"."tasks"("id", "organization_id") ON DELETE CASCADE`],
    ];
    for (const [table, name, definition] of foreignKeys) {
      await q.query(`ALTER TABLE "tasks"."${table}" ADD CONSTRAINT "${name}" FOREIGN KEY ${definition} ON UPDATE NO ACTION`);
    }

    // The dependency graph stays a DAG, decided by the database. Edges are
    // checked after they are written, with one writer per organization at a
    // time (an advisory lock), so a concurrent session's edges are committed and
    // visible before ours are examined (each statement of this volatile function
    // takes a fresh snapshot under READ COMMITTED).
    // Every task carries dag_rank, greater than the rank of everything it
    // depends on. An edge task → dependency whose ranks already agree cannot
    // close a cycle (ranks fall strictly along every path), so a whole workflow
    // is checked with one join. Only an edge against the order is searched
    // exactly; if it closes no cycle, the task and its dependents are re-ranked.
    // SECURITY DEFINER: the application role may not write dag_rank itself.
    await q.query(`
      CREATE FUNCTION tasks.refuse_dependency_cycles() RETURNS trigger
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
    await q.query(`CREATE TRIGGER task_dependencies_acyclic_insert AFTER INSERT ON "tasks"."task_dependencies" REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tasks.refuse_dependency_cycles()`);
    await q.query(`CREATE TRIGGER task_dependencies_acyclic_update AFTER UPDATE ON "tasks"."task_dependencies" REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tasks.refuse_dependency_cycles()`);

    // Status propagation along the DAG, used by the services and usable from psql.
    // Both run as the caller, so row-level security keeps them inside one organization.
    //
    // Promotion is two statements on purpose: the pending dependents are locked
    // first, then checked in a new statement (a fresh snapshot). Two sessions
    // finishing the last two dependencies of a task at once serialize on the
    // dependent's row lock, and the second one sees the first one's commit, so a
    // task whose dependencies all succeeded is never left pending. The lock is
    // NO KEY UPDATE, which does not conflict with the KEY SHARE locks that
    // enqueue / addDependency hold on dependencies (no deadlock between them).
    await q.query(`
      CREATE FUNCTION tasks.promote_dependents(p_task_ids uuid[]) RETURNS integer
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
    await q.query(`COMMENT ON FUNCTION tasks.promote_dependents(uuid[]) IS 'Moves pending dependents of the given tasks to ready once all their dependencies succeeded; returns how many moved.'`);
    // A failed or cancelled task blocks everything downstream of it that has not started.
    await q.query(`
      CREATE FUNCTION tasks.block_dependents(p_task_ids uuid[]) RETURNS SETOF uuid
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
    await q.query(`COMMENT ON FUNCTION tasks.block_dependents(uuid[]) IS 'Marks every not-yet-started task downstream of the given (failed or cancelled) tasks as blocked; returns their ids.'`);

    // The work queue's hot paths, each one statement for the caller (one round
    // trip, its own transaction) and plans PL/pgSQL keeps between calls. Each
    // step inside is a statement of its own, so it sees what the steps before it
    // committed to the transaction and what other sessions committed meanwhile.
    //
    // Release: expired leases are handed back (their execution closed as lost),
    // or failed for good when no attempt is left. The execution's started_at is
    // the task's locked_at, so the open execution is found by its partition key.
    await q.query(`
      CREATE FUNCTION tasks.release_expired_leases(p_limit integer DEFAULT 100) RETURNS integer
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
    // Claim: release expired leases, then lock the best ready tasks skipping
    // rows other workers hold, mark them running under the lease and open one
    // execution row each.
    await q.query(`
      CREATE FUNCTION tasks.claim(p_organization_id uuid, p_worker_id text, p_count integer, p_lease_seconds integer)
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
    // Complete: only the holder may; the execution is closed with what it used;
    // then (a new statement, see promote_dependents) dependents may become ready.
    // No row back = the worker does not hold the task.
    await q.query(`
      CREATE FUNCTION tasks.complete(p_organization_id uuid, p_task_id uuid, p_worker_id text, p_output jsonb, p_usage jsonb)
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
    // Fail: with attempts left (and retryable) the task is ready again after
    // base × factor^(attempt − 1) seconds, capped (its definition's policy, else
    // the defaults given); otherwise it fails for good and blocks what is downstream.
    await q.query(`
      CREATE FUNCTION tasks.fail(p_organization_id uuid, p_task_id uuid, p_worker_id text, p_error text, p_retryable boolean, p_usage jsonb,
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

    for (const table of ['task_definitions', 'workflows', 'tasks', 'task_dependencies', 'task_executions']) {
      await q.query(`SELECT base.enable_tenant_rls('tasks.${table}')`);
    }
    // dag_rank is the cycle check's bookkeeping: the application role may set it
    // on a new task (a task without edges can have any rank) but never change it.
    await q.query(`REVOKE UPDATE ON "tasks"."tasks" FROM strata_app`);
    await q.query(`
      DO $$ BEGIN
        EXECUTE (SELECT format('GRANT UPDATE (%s) ON tasks.tasks TO strata_app', string_agg(quote_ident(attname), ', '))
                   FROM pg_attribute WHERE attrelid = 'tasks.tasks'::regclass AND attnum > 0 AND NOT attisdropped
                    AND attname NOT IN ('id', 'organization_id', 'dag_rank'));
      END $$`);
    // Execution history is appended and closed, never deleted by the application.
    await q.query(`REVOKE DELETE ON "tasks"."task_executions" FROM strata_app`);
    await q.query(`SELECT base.register_partitioned_table('tasks.task_executions', 'started_at', 'month', 3, '13 months', 'drop')`);
    // Definitions and workflows are configuration: who changed them is worth keeping.
    await q.query(`SELECT base.enable_audit('tasks.task_definitions')`);
    await q.query(`SELECT base.enable_audit('tasks.workflows')`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`SELECT base.disable_audit('tasks.workflows')`);
    await q.query(`SELECT base.disable_audit('tasks.task_definitions')`);
    await q.query(`SELECT base.unregister_partitioned_table('tasks.task_executions')`);
    for (const table of ['task_executions', 'task_dependencies', 'tasks', 'workflows', 'task_definitions']) {
      await q.query(`SELECT base.disable_tenant_rls('tasks.${table}')`);
    }
    await q.query(`DROP TABLE "tasks"."task_executions"`);
    await q.query(`DROP TABLE "tasks"."task_dependencies"`);
    await q.query(`DROP FUNCTION tasks.fail(uuid, uuid, text, text, boolean, jsonb, integer, double precision, integer)`);
    await q.query(`DROP FUNCTION tasks.complete(uuid, uuid, text, jsonb, jsonb)`);
    await q.query(`DROP FUNCTION tasks.claim(uuid, text, integer, integer)`);
    await q.query(`DROP FUNCTION tasks.release_expired_leases(integer)`);
    await q.query(`DROP FUNCTION tasks.block_dependents(uuid[])`);
    await q.query(`DROP FUNCTION tasks.promote_dependents(uuid[])`);
    await q.query(`DROP FUNCTION tasks.refuse_dependency_cycles()`);
    await q.query(`DROP TABLE "tasks"."tasks"`);
    await q.query(`DROP TABLE "tasks"."workflows"`);
    await q.query(`DROP TABLE "tasks"."task_definitions"`);
    await q.query(`REVOKE USAGE ON SCHEMA tasks FROM strata_app`);
  }
}
