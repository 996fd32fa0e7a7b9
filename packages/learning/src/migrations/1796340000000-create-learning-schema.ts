import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

const TIMESTAMPS = {
  created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  updated_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
};

const MODEL_TYPES =
  "'pattern_recognition', 'optimization', 'prediction', 'classification', 'regression', 'ranking', 'generation', 'embedding', 'other'";

const models: TenantTable = {
  table: 'learning.ml_models',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    name: 'character varying(255) NOT NULL',
    type: 'character varying(32) NOT NULL',
    framework: 'character varying(64)',
    description: 'text',
    tags: "text[] NOT NULL DEFAULT '{}'",
    latest_version: 'integer NOT NULL DEFAULT 0',
    created_by: 'uuid',
    ...TIMESTAMPS,
  },
  constraints: [
    `CONSTRAINT "ml_models_organization_id_name_key" UNIQUE ("organization_id", "name")`,
    `CONSTRAINT "ml_models_name_check" CHECK ("name" <> '')`,
    `CONSTRAINT "ml_models_type_check" CHECK ("type" IN (${MODEL_TYPES}))`,
    `CONSTRAINT "ml_models_latest_version_check" CHECK ("latest_version" >= 0)`,
  ],
  audit: true,
};

const versions: TenantTable = {
  table: 'learning.model_versions',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    model_id: 'uuid NOT NULL',
    version: 'integer NOT NULL',
    status: "character varying(16) NOT NULL DEFAULT 'training'",
    hyperparameters: "jsonb NOT NULL DEFAULT '{}'",
    training_config: "jsonb NOT NULL DEFAULT '{}'",
    metrics: "jsonb NOT NULL DEFAULT '{}'",
    source: "character varying(32) NOT NULL DEFAULT 'upload'",
    source_id: 'uuid',
    parent_version_id: 'uuid',
    description: 'text',
    created_by: 'uuid',
    status_changed_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
    ...TIMESTAMPS,
  },
  constraints: [
    `CONSTRAINT "model_versions_organization_id_model_id_version_key" UNIQUE ("organization_id", "model_id", "version")`,
    `CONSTRAINT "model_versions_organization_id_model_id_id_key" UNIQUE ("organization_id", "model_id", "id")`,
    `CONSTRAINT "model_versions_version_check" CHECK ("version" >= 1)`,
    `CONSTRAINT "model_versions_status_check" CHECK ("status" IN ('training', 'active', 'deprecated', 'archived'))`,
    `CONSTRAINT "model_versions_source_check" CHECK ("source" IN ('training_session', 'fine_tuning_job', 'upload'))`,
    `CONSTRAINT "model_versions_parent_version_id_check" CHECK ("parent_version_id" <> "id")`,
    `CONSTRAINT "model_versions_organization_id_model_id_fkey" FOREIGN KEY ("organization_id", "model_id")
       REFERENCES "learning"."ml_models" ("organization_id", "id") ON DELETE CASCADE`,
    `CONSTRAINT "model_versions_organization_id_parent_version_id_fkey" FOREIGN KEY ("organization_id", "parent_version_id")
       REFERENCES "learning"."model_versions" ("organization_id", "id")`,
  ],
  audit: true,
};

const aliases: TenantTable = {
  table: 'learning.model_aliases',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    model_id: 'uuid NOT NULL',
    alias: 'character varying(64) NOT NULL',
    version_id: 'uuid NOT NULL',
    moved_by: 'uuid',
    ...TIMESTAMPS,
  },
  constraints: [
    `CONSTRAINT "model_aliases_organization_id_model_id_alias_key" UNIQUE ("organization_id", "model_id", "alias")`,
    `CONSTRAINT "model_aliases_alias_check" CHECK ("alias" ~ '^[a-z][a-z0-9_-]{0,63}$')`,
    `CONSTRAINT "model_aliases_organization_id_model_id_fkey" FOREIGN KEY ("organization_id", "model_id")
       REFERENCES "learning"."ml_models" ("organization_id", "id") ON DELETE CASCADE`,
    `CONSTRAINT "model_aliases_organization_id_model_id_version_id_fkey" FOREIGN KEY ("organization_id", "model_id", "version_id")
       REFERENCES "learning"."model_versions" ("organization_id", "model_id", "id")`,
  ],
  audit: true,
};

const aliasHistory: TenantTable = {
  table: 'learning.model_alias_history',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    model_id: 'uuid NOT NULL',
    alias: 'character varying(64) NOT NULL',
    version_id: 'uuid',
    previous_version_id: 'uuid',
    moved_by: 'uuid',
    ...TIMESTAMPS,
  },
  constraints: [
    `CONSTRAINT "model_alias_history_organization_id_model_id_fkey" FOREIGN KEY ("organization_id", "model_id")
       REFERENCES "learning"."ml_models" ("organization_id", "id") ON DELETE CASCADE`,
    `CONSTRAINT "model_alias_history_organization_id_model_id_version_id_fkey" FOREIGN KEY ("organization_id", "model_id", "version_id")
       REFERENCES "learning"."model_versions" ("organization_id", "model_id", "id") ON DELETE CASCADE`,
    `CONSTRAINT "model_alias_history_previous_version_id_fkey" FOREIGN KEY ("organization_id", "model_id", "previous_version_id")
       REFERENCES "learning"."model_versions" ("organization_id", "model_id", "id") ON DELETE CASCADE`,
  ],
};

const artifacts: TenantTable = {
  table: 'learning.artifacts',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    sha256: 'character varying(64) NOT NULL',
    size_bytes: 'bigint NOT NULL',
    media_type: "character varying(255) NOT NULL DEFAULT 'application/octet-stream'",
    storage: 'character varying(16) NOT NULL',
    location: 'text',
    created_by: 'uuid',
    ...TIMESTAMPS,
  },
  constraints: [
    `CONSTRAINT "artifacts_organization_id_sha256_key" UNIQUE ("organization_id", "sha256")`,
    `CONSTRAINT "artifacts_sha256_check" CHECK ("sha256" ~ '^[0-9a-f]{64}$')`,
    `CONSTRAINT "artifacts_size_bytes_check" CHECK ("size_bytes" >= 0)`,
    `CONSTRAINT "artifacts_storage_check" CHECK ("storage" IN ('filesystem', 'database'))`,
    `CONSTRAINT "artifacts_location_check" CHECK (("storage" = 'filesystem') = ("location" IS NOT NULL))`,
  ],
};

const blobs: TenantTable = {
  table: 'learning.artifact_blobs',
  columns: { artifact_id: 'uuid NOT NULL', content: 'bytea NOT NULL' },
  key: ['artifact_id'],
  constraints: [
    `CONSTRAINT "artifact_blobs_content_check" CHECK (octet_length("content") <= 1048576)`,
    `CONSTRAINT "artifact_blobs_organization_id_artifact_id_fkey" FOREIGN KEY ("organization_id", "artifact_id")
       REFERENCES "learning"."artifacts" ("organization_id", "id") ON DELETE CASCADE`,
  ],
};

const versionArtifacts: TenantTable = {
  table: 'learning.model_version_artifacts',
  columns: {
    version_id: 'uuid NOT NULL',
    name: 'character varying(255) NOT NULL',
    artifact_id: 'uuid NOT NULL',
    created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
  key: ['version_id', 'name'],
  constraints: [
    `CONSTRAINT "model_version_artifacts_name_check" CHECK ("name" <> '')`,
    `CONSTRAINT "model_version_artifacts_organization_id_version_id_fkey" FOREIGN KEY ("organization_id", "version_id")
       REFERENCES "learning"."model_versions" ("organization_id", "id") ON DELETE CASCADE`,
    // No cascade: garbage collection cannot take an artifact a version still uses.
    `CONSTRAINT "model_version_artifacts_organization_id_artifact_id_fkey" FOREIGN KEY ("organization_id", "artifact_id")
       REFERENCES "learning"."artifacts" ("organization_id", "id")`,
  ],
};

const TABLES = [models, versions, aliases, aliasHistory, artifacts, blobs, versionArtifacts];

/**
 * Schema `learning` (created by the migration runner), part 1: the model
 * registry (models, versions with lineage, aliases and their history) and
 * content-addressed artifacts. Every table is made by base's tenant-table helper.
 */
export class CreateLearningSchema1796340000000 implements MigrationInterface {
  name = 'CreateLearningSchema1796340000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of TABLES) await createTenantTable(q, table);
    await q.query(
      `CREATE INDEX "model_versions_organization_id_parent_version_id_idx" ON "learning"."model_versions" ("organization_id", "parent_version_id")`,
    );
    await q.query(
      `CREATE INDEX "model_alias_history_model_id_alias_idx" ON "learning"."model_alias_history" ("organization_id", "model_id", "alias", "created_at")`,
    );
    await q.query(
      `CREATE INDEX "model_version_artifacts_organization_id_artifact_id_idx" ON "learning"."model_version_artifacts" ("organization_id", "artifact_id")`,
    );
    // A version's place in the registry and its lineage are fixed at insert: a parent
    // exists before its child, so lineage can never close a cycle.
    await q.query(`
      CREATE FUNCTION learning.model_versions_keep_identity() RETURNS trigger LANGUAGE plpgsql
      SET search_path = pg_catalog, pg_temp AS $$
      BEGIN
        IF NEW.model_id IS DISTINCT FROM OLD.model_id OR NEW.version IS DISTINCT FROM OLD.version
           OR NEW.parent_version_id IS DISTINCT FROM OLD.parent_version_id THEN
          RAISE EXCEPTION 'a model version keeps its model, number and parent'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'model_versions_identity_check';
        END IF;
        RETURN NEW;
      END $$`);
    await q.query(`
      CREATE TRIGGER model_versions_keep_identity BEFORE UPDATE OF model_id, version, parent_version_id ON learning.model_versions
      FOR EACH ROW EXECUTE FUNCTION learning.model_versions_keep_identity()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER model_versions_keep_identity ON learning.model_versions`);
    await q.query(`DROP FUNCTION learning.model_versions_keep_identity()`);
    for (const table of [...TABLES].reverse()) await dropTenantTable(q, table);
    await q.query(`REVOKE USAGE ON SCHEMA "learning" FROM strata_app`);
  }
}
