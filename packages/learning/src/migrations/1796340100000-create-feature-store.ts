import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

const views: TenantTable = {
  table: 'learning.feature_views',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    name: 'character varying(255) NOT NULL',
    entity_keys: 'text[] NOT NULL',
    features: 'jsonb NOT NULL',
    ttl_seconds: 'integer',
    description: 'text',
    materialized_through: 'TIMESTAMP WITH TIME ZONE',
    created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
    updated_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
  constraints: [
    `CONSTRAINT "feature_views_organization_id_name_key" UNIQUE ("organization_id", "name")`,
    `CONSTRAINT "feature_views_name_check" CHECK ("name" <> '')`,
    `CONSTRAINT "feature_views_entity_keys_check" CHECK (cardinality("entity_keys") BETWEEN 1 AND 8)`,
    `CONSTRAINT "feature_views_ttl_seconds_check" CHECK ("ttl_seconds" > 0)`,
  ],
  audit: true,
};

const rows: TenantTable = {
  table: 'learning.feature_rows',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    view_id: 'uuid NOT NULL',
    entity_key: 'text NOT NULL',
    event_timestamp: 'TIMESTAMP WITH TIME ZONE NOT NULL',
    created_timestamp: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
    values: 'jsonb NOT NULL',
  },
  constraints: [
    `CONSTRAINT "feature_rows_organization_id_view_id_fkey" FOREIGN KEY ("organization_id", "view_id")
       REFERENCES "learning"."feature_views" ("organization_id", "id") ON DELETE CASCADE`,
  ],
};

const online: TenantTable = {
  table: 'learning.online_features',
  columns: {
    view_id: 'uuid NOT NULL',
    entity_key: 'text NOT NULL',
    event_timestamp: 'TIMESTAMP WITH TIME ZONE NOT NULL',
    created_timestamp: 'TIMESTAMP WITH TIME ZONE NOT NULL',
    values: 'jsonb NOT NULL',
    materialized_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  },
  key: ['view_id', 'entity_key'],
  constraints: [
    `CONSTRAINT "online_features_organization_id_view_id_fkey" FOREIGN KEY ("organization_id", "view_id")
       REFERENCES "learning"."feature_views" ("organization_id", "id") ON DELETE CASCADE`,
  ],
};

const TABLES = [views, rows, online];

/** The feature store: feature views, offline feature rows (point-in-time lookups) and the online table. */
export class CreateFeatureStore1796340100000 implements MigrationInterface {
  name = 'CreateFeatureStore1796340100000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of TABLES) await createTenantTable(q, table);
    await q.query(
      `CREATE INDEX "feature_rows_as_of_idx" ON "learning"."feature_rows" ("organization_id", "view_id", "entity_key", "event_timestamp", "created_timestamp")`,
    );
    await q.query(
      `CREATE INDEX "feature_rows_created_idx" ON "learning"."feature_rows" ("organization_id", "view_id", "created_timestamp")`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [...TABLES].reverse()) await dropTenantTable(q, table);
  }
}
