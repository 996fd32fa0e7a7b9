import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

/**
 * Schema `prompts`: templates, their immutable numbered versions, movable
 * labels with their move history, the shared price list, and the execution /
 * LLM call / usage ledger (partitioned monthly). Every table but the price
 * list is a tenant table made by base's helper.
 */
const TS = 'TIMESTAMP WITH TIME ZONE';

const templates: TenantTable = {
  table: 'prompts.prompt_templates',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    name: 'character varying(255) NOT NULL',
    project_id: 'uuid',
    description: 'text',
    type: `character varying(8) NOT NULL DEFAULT 'text'`,
    tags: `text array NOT NULL DEFAULT '{}'`,
    latest_version: `integer NOT NULL DEFAULT '0'`,
    deleted_at: TS,
    created_at: `${TS} NOT NULL DEFAULT now()`,
    updated_at: `${TS} NOT NULL DEFAULT now()`,
  },
  constraints: [
    `CONSTRAINT "prompt_templates_name_check" CHECK ("name" ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$')`,
    `CONSTRAINT "prompt_templates_type_check" CHECK ("type" IN ('text', 'chat'))`,
    `CONSTRAINT "prompt_templates_latest_version_check" CHECK ("latest_version" >= 0)`,
  ],
  audit: true,
};

const versions: TenantTable = {
  table: 'prompts.prompt_versions',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    template_id: 'uuid NOT NULL',
    version: 'integer NOT NULL',
    content: 'jsonb NOT NULL',
    model_config: `jsonb NOT NULL DEFAULT '{}'`,
    variables_schema: `jsonb NOT NULL DEFAULT '{}'`,
    commit_message: 'text',
    author_id: 'uuid',
    content_hash: 'character varying(64) NOT NULL',
    created_at: `${TS} NOT NULL DEFAULT now()`,
  },
  constraints: [
    `CONSTRAINT "prompt_versions_organization_id_template_id_version_key" UNIQUE ("organization_id", "template_id", "version")`,
    `CONSTRAINT "prompt_versions_version_check" CHECK ("version" > 0)`,
    `CONSTRAINT "prompt_versions_content_check" CHECK (jsonb_typeof("content") IN ('string', 'array'))`,
    `CONSTRAINT "prompt_versions_content_hash_check" CHECK ("content_hash" ~ '^[0-9a-f]{64}$')`,
    `CONSTRAINT "prompt_versions_organization_id_template_id_fkey" FOREIGN KEY ("organization_id", "template_id")
       REFERENCES "prompts"."prompt_templates" ("organization_id", "id") ON DELETE CASCADE`,
  ],
  audit: true,
};

const labels: TenantTable = {
  table: 'prompts.prompt_labels',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    template_id: 'uuid NOT NULL',
    name: 'character varying(64) NOT NULL',
    version: 'integer NOT NULL',
    protected: 'boolean NOT NULL DEFAULT false',
    created_at: `${TS} NOT NULL DEFAULT now()`,
    updated_at: `${TS} NOT NULL DEFAULT now()`,
  },
  constraints: [
    `CONSTRAINT "prompt_labels_organization_id_template_id_name_key" UNIQUE ("organization_id", "template_id", "name")`,
    `CONSTRAINT "prompt_labels_name_check" CHECK ("name" ~ '^[a-z0-9][a-z0-9_.-]{0,63}$')`,
    `CONSTRAINT "prompt_labels_protected_check" CHECK ("name" <> 'latest' OR NOT "protected")`,
    `CONSTRAINT "prompt_labels_organization_id_template_id_version_fkey" FOREIGN KEY ("organization_id", "template_id", "version")
       REFERENCES "prompts"."prompt_versions" ("organization_id", "template_id", "version") ON DELETE CASCADE`,
  ],
  audit: true,
};

const labelMoves: TenantTable = {
  table: 'prompts.prompt_label_moves',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    template_id: 'uuid NOT NULL',
    label: 'character varying(64) NOT NULL',
    from_version: 'integer',
    to_version: 'integer NOT NULL',
    moved_by: 'uuid',
    moved_at: `${TS} NOT NULL DEFAULT clock_timestamp()`,
  },
  constraints: [
    `CONSTRAINT "prompt_label_moves_organization_id_template_id_fkey" FOREIGN KEY ("organization_id", "template_id")
       REFERENCES "prompts"."prompt_templates" ("organization_id", "id") ON DELETE CASCADE`,
  ],
};

const MONTHLY = { interval: 'month', premake: 3, retention: '13 months' } as const;

const executions: TenantTable = {
  table: 'prompts.prompt_executions',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    started_at: `${TS} NOT NULL DEFAULT now()`,
    template_id: 'uuid NOT NULL',
    version: 'integer NOT NULL',
    label: 'character varying(64)',
    unit_id: 'character varying(255)',
    task_id: 'uuid',
    variables: `jsonb NOT NULL DEFAULT '{}'`,
    rendered_input_hash: 'character varying(64)',
    output: 'jsonb',
    status: `character varying(16) NOT NULL DEFAULT 'running'`,
    error: 'text',
    finished_at: TS,
    latency_ms: 'integer',
    time_to_first_token_ms: 'integer',
  },
  constraints: [
    `CONSTRAINT "prompt_executions_status_check" CHECK ("status" IN ('running', 'succeeded', 'failed', 'cancelled'))`,
    `CONSTRAINT "prompt_executions_latency_check" CHECK ("latency_ms" >= 0 AND "time_to_first_token_ms" >= 0)`,
    `CONSTRAINT "prompt_executions_organization_id_template_id_version_fkey" FOREIGN KEY ("organization_id", "template_id", "version")
       REFERENCES "prompts"."prompt_versions" ("organization_id", "template_id", "version") ON DELETE CASCADE`,
  ],
  partition: { column: 'started_at', ...MONTHLY },
};

const interactions: TenantTable = {
  table: 'prompts.llm_interactions',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    started_at: `${TS} NOT NULL DEFAULT now()`,
    execution_id: 'uuid',
    execution_started_at: TS,
    template_id: 'uuid',
    version: 'integer',
    provider: 'character varying(32) NOT NULL',
    requested_model: 'character varying(255) NOT NULL',
    served_model: 'character varying(255)',
    request_id: 'character varying(255)',
    finished_at: TS,
    latency_ms: 'integer',
    status: 'character varying(16) NOT NULL',
    finish_reason: 'character varying(64)',
    error: 'text',
    raw_usage: 'jsonb',
    usage: `jsonb NOT NULL DEFAULT '{}'`,
    cost: 'numeric(20,10)',
    currency: `character varying(3) NOT NULL DEFAULT 'USD'`,
  },
  constraints: [
    `CONSTRAINT "llm_interactions_status_check" CHECK ("status" IN ('succeeded', 'failed', 'cancelled'))`,
    `CONSTRAINT "llm_interactions_latency_ms_check" CHECK ("latency_ms" >= 0)`,
    `CONSTRAINT "llm_interactions_execution_check" CHECK (("execution_id" IS NULL) = ("execution_started_at" IS NULL))`,
    `CONSTRAINT "llm_interactions_organization_id_execution_id_fkey" FOREIGN KEY ("organization_id", "execution_id", "execution_started_at")
       REFERENCES "prompts"."prompt_executions" ("organization_id", "id", "started_at") ON DELETE CASCADE`,
  ],
  partition: { column: 'started_at', ...MONTHLY },
};

const usage: TenantTable = {
  table: 'prompts.llm_usage',
  columns: {
    interaction_id: 'uuid NOT NULL',
    usage_type: 'character varying(32) NOT NULL',
    started_at: `${TS} NOT NULL`,
    tokens: 'bigint NOT NULL',
    price_id: 'uuid',
    price_per_million: 'numeric(20,10)',
    cost: 'numeric(20,10)',
    currency: `character varying(3) NOT NULL DEFAULT 'USD'`,
  },
  key: ['interaction_id', 'usage_type'],
  constraints: [
    `CONSTRAINT "llm_usage_usage_type_check" CHECK ("usage_type" ~ '^[a-z][a-z0-9_]{0,31}$')`,
    `CONSTRAINT "llm_usage_tokens_check" CHECK ("tokens" >= 0)`,
    `CONSTRAINT "llm_usage_organization_id_interaction_id_fkey" FOREIGN KEY ("organization_id", "interaction_id", "started_at")
       REFERENCES "prompts"."llm_interactions" ("organization_id", "id", "started_at") ON DELETE CASCADE`,
    `CONSTRAINT "llm_usage_price_id_fkey" FOREIGN KEY ("price_id") REFERENCES "prompts"."model_prices" ("id")`,
  ],
  partition: { column: 'started_at', ...MONTHLY },
};

const TENANT_TABLES = [templates, versions, labels, labelMoves, executions, interactions, usage];

export class CreatePromptsSchema1796310000000 implements MigrationInterface {
  name = 'CreatePromptsSchema1796310000000';

  async up(q: QueryRunner): Promise<void> {
    // The shared price list: not a tenant table; the application reads it, operators write it.
    await q.query(`
      CREATE TABLE "prompts"."model_prices" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "provider" character varying(32) NOT NULL,
        "model_pattern" character varying(255) NOT NULL,
        "match_kind" character varying(8) NOT NULL DEFAULT 'exact',
        "usage_type" character varying(32) NOT NULL,
        "price_per_million" numeric(20,10) NOT NULL,
        "currency" character varying(3) NOT NULL DEFAULT 'USD',
        "effective_from" ${TS} NOT NULL,
        "effective_to" ${TS},
        "created_at" ${TS} NOT NULL DEFAULT now(),
        CONSTRAINT "model_prices_pkey" PRIMARY KEY ("id"),
        CONSTRAINT "model_prices_match_kind_check" CHECK ("match_kind" IN ('exact', 'like')),
        CONSTRAINT "model_prices_usage_type_check" CHECK ("usage_type" ~ '^[a-z][a-z0-9_]{0,31}$'),
        CONSTRAINT "model_prices_price_per_million_check" CHECK ("price_per_million" >= 0),
        CONSTRAINT "model_prices_effective_check" CHECK ("effective_to" > "effective_from"))`);
    await q.query(
      `CREATE INDEX "model_prices_provider_usage_type_effective_from_idx" ON "prompts"."model_prices" ("provider", "usage_type", "effective_from")`,
    );
    // No two prices of one model and usage type in effect at once. An exclusion constraint would need btree_gist,
    // which the embedded database lacks: a trigger serialized per key does it instead.
    await q.query(`
      CREATE FUNCTION prompts.refuse_overlapping_prices() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended('prompts.model_prices:' || NEW.provider || ':' || NEW.model_pattern || ':' || NEW.usage_type, 0));
        IF EXISTS (SELECT 1 FROM prompts.model_prices p
                    WHERE p.provider = NEW.provider AND p.model_pattern = NEW.model_pattern AND p.match_kind = NEW.match_kind
                      AND p.usage_type = NEW.usage_type AND p.id <> NEW.id
                      AND tstzrange(p.effective_from, p.effective_to) && tstzrange(NEW.effective_from, NEW.effective_to)) THEN
          RAISE EXCEPTION 'a price for % % % is already in effect in that period', NEW.provider, NEW.model_pattern, NEW.usage_type
            USING ERRCODE = 'exclusion_violation', CONSTRAINT = 'model_prices_no_overlap';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER model_prices_no_overlap BEFORE INSERT OR UPDATE ON prompts.model_prices
                   FOR EACH ROW EXECUTE FUNCTION prompts.refuse_overlapping_prices()`);
    await q.query(`SELECT base.grant_app_access('prompts.model_prices', 'SELECT')`);

    for (const table of TENANT_TABLES) await createTenantTable(q, table);
    // Live templates by name, whatever its case; a soft-deleted template frees its name.
    await q.query(
      `CREATE UNIQUE INDEX "prompt_templates_organization_id_name_key" ON "prompts"."prompt_templates" ("organization_id", lower("name")) WHERE "deleted_at" IS NULL`,
    );
    await q.query(`CREATE INDEX "prompt_templates_tags_idx" ON "prompts"."prompt_templates" USING gin ("tags")`);
    for (const [index, why] of [
      ['prompt_templates_organization_id_name_key', 'unique on lower(name) of live templates: an expression index'],
      ['prompt_templates_tags_idx', 'GIN on tags'],
    ]) {
      await q.query(`COMMENT ON INDEX "prompts"."${index}" IS 'strata:manual ${why}: TypeORM cannot express it'`);
    }
    await q.query(
      `CREATE INDEX "prompt_templates_organization_id_project_id_idx" ON "prompts"."prompt_templates" ("organization_id", "project_id")`,
    );
    await q.query(
      `CREATE INDEX "prompt_label_moves_organization_id_template_id_label_idx" ON "prompts"."prompt_label_moves" ("organization_id", "template_id", "label", "moved_at")`,
    );
    await q.query(
      `CREATE INDEX "prompt_executions_organization_id_template_id_version_idx" ON "prompts"."prompt_executions" ("organization_id", "template_id", "version", "started_at")`,
    );
    await q.query(
      `CREATE INDEX "prompt_executions_organization_id_task_id_idx" ON "prompts"."prompt_executions" ("organization_id", "task_id")`,
    );
    await q.query(
      `CREATE INDEX "llm_interactions_organization_id_started_at_idx" ON "prompts"."llm_interactions" ("organization_id", "started_at")`,
    );
    await q.query(
      `CREATE INDEX "llm_interactions_organization_id_execution_id_idx" ON "prompts"."llm_interactions" ("organization_id", "execution_id")`,
    );

    // Version numbers 1, 2, 3… per template: taken from the template's counter under its row lock, so concurrent
    // creates queue on the template and a rolled-back create gives its number back. A deleted template takes none.
    await q.query(`
      CREATE FUNCTION prompts.number_version() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        UPDATE prompts.prompt_templates t SET latest_version = t.latest_version + 1
         WHERE t.organization_id = NEW.organization_id AND t.id = NEW.template_id AND t.deleted_at IS NULL
        RETURNING t.latest_version INTO NEW.version;
        IF NOT FOUND THEN
          RAISE EXCEPTION 'prompt template % does not exist or is deleted', NEW.template_id
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'prompt_versions_organization_id_template_id_fkey';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER prompt_versions_number BEFORE INSERT ON prompts.prompt_versions
                   FOR EACH ROW EXECUTE FUNCTION prompts.number_version()`);
    // Versions are immutable: no UPDATE, and no DELETE but the cascade from their template (erasing an organization).
    await q.query(`
      CREATE FUNCTION prompts.refuse_version_change() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN RETURN OLD; END IF;
        RAISE EXCEPTION 'prompt versions are immutable: create a new version instead' USING ERRCODE = 'object_not_in_prerequisite_state';
      END $$`);
    await q.query(`CREATE TRIGGER prompt_versions_immutable BEFORE UPDATE OR DELETE ON prompts.prompt_versions
                   FOR EACH ROW EXECUTE FUNCTION prompts.refuse_version_change()`);
    // The label latest follows the newest version.
    await q.query(`
      CREATE FUNCTION prompts.move_latest() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        INSERT INTO prompts.prompt_labels (organization_id, template_id, name, version)
        VALUES (NEW.organization_id, NEW.template_id, 'latest', NEW.version)
        ON CONFLICT (organization_id, template_id, name) DO UPDATE SET version = EXCLUDED.version, updated_at = now();
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER prompt_versions_latest AFTER INSERT ON prompts.prompt_versions
                   FOR EACH ROW EXECUTE FUNCTION prompts.move_latest()`);
    // A protected label is moved, protected or unprotected only by an owner or admin of the organization.
    await q.query(`
      CREATE FUNCTION prompts.guard_protected_label() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      DECLARE
        v_user uuid := nullif(current_setting('strata.user_id', true), '')::uuid;
      BEGIN
        IF (TG_OP = 'INSERT' AND NEW.protected) OR (TG_OP = 'UPDATE' AND (OLD.protected OR NEW.protected)) THEN
          IF NOT EXISTS (SELECT 1 FROM base.organization_memberships m
                          WHERE m.organization_id = NEW.organization_id AND m.user_id = v_user AND m.role IN ('owner', 'admin')) THEN
            RAISE EXCEPTION 'label % is protected: only an owner or admin may change it', NEW.name USING ERRCODE = 'insufficient_privilege';
          END IF;
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`CREATE TRIGGER prompt_labels_protected BEFORE INSERT OR UPDATE ON prompts.prompt_labels
                   FOR EACH ROW EXECUTE FUNCTION prompts.guard_protected_label()`);
    // Every move is recorded (who, when, from, to): a rollback is a move back.
    await q.query(`
      CREATE FUNCTION prompts.record_label_move() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        IF TG_OP = 'INSERT' OR OLD.version IS DISTINCT FROM NEW.version THEN
          INSERT INTO prompts.prompt_label_moves (organization_id, template_id, label, from_version, to_version, moved_by)
          VALUES (NEW.organization_id, NEW.template_id, NEW.name, CASE WHEN TG_OP = 'UPDATE' THEN OLD.version END, NEW.version,
                  nullif(current_setting('strata.user_id', true), '')::uuid);
        END IF;
        RETURN NULL;
      END $$`);
    await q.query(`CREATE TRIGGER prompt_labels_history AFTER INSERT OR UPDATE OF version ON prompts.prompt_labels
                   FOR EACH ROW EXECUTE FUNCTION prompts.record_label_move()`);

    // History is append-only for the application; templates are soft deleted.
    await q.query(`REVOKE UPDATE, DELETE ON "prompts"."prompt_versions" FROM strata_app`);
    await q.query(`REVOKE UPDATE, DELETE ON "prompts"."prompt_label_moves" FROM strata_app`);
    await q.query(`REVOKE DELETE ON "prompts"."prompt_templates", "prompts"."prompt_labels" FROM strata_app`);
    await q.query(`REVOKE DELETE ON "prompts"."prompt_executions", "prompts"."llm_interactions", "prompts"."llm_usage" FROM strata_app`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [...TENANT_TABLES].reverse()) await dropTenantTable(q, table);
    for (const fn of ['record_label_move', 'guard_protected_label', 'move_latest', 'refuse_version_change', 'number_version']) {
      await q.query(`DROP FUNCTION prompts.${fn}()`);
    }
    await q.query(`DROP TABLE "prompts"."model_prices"`);
    await q.query(`DROP FUNCTION prompts.refuse_overlapping_prices()`);
    await q.query(`REVOKE USAGE ON SCHEMA "prompts" FROM strata_app`);
  }
}
