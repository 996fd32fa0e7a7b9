import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, createTenantTable, dropTenantTable } from '@strata/base';

const TIMESTAMPS = {
  created_at: 'timestamptz NOT NULL DEFAULT now()',
  updated_at: 'timestamptz NOT NULL DEFAULT now()',
};

/** Where a webhook comes from; `internal` events are ingested by code, not received over HTTP. */
const SOURCES = `'github', 'linear', 'slack', 'generic', 'internal'`;

export const WEBHOOK_ENDPOINTS: TenantTable = {
  table: 'events.webhook_endpoints',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    source: 'text NOT NULL',
    name: 'character varying(255) NOT NULL',
    active: 'boolean NOT NULL DEFAULT true',
    secret: 'text NOT NULL',
    previous_secret: 'text',
    previous_secret_expires_at: 'timestamptz',
    rate_limit_per_minute: 'integer NOT NULL DEFAULT 600',
    ...TIMESTAMPS,
  },
  constraints: [
    `CONSTRAINT "webhook_endpoints_organization_id_name_key" UNIQUE ("organization_id", "name")`,
    `CONSTRAINT "webhook_endpoints_source_check" CHECK ("source" IN ('github', 'linear', 'slack', 'generic'))`,
    `CONSTRAINT "webhook_endpoints_secret_check" CHECK (length("secret") >= 16)`,
    `CONSTRAINT "webhook_endpoints_previous_secret_check" CHECK (("previous_secret" IS NULL) = ("previous_secret_expires_at" IS NULL))`,
    `CONSTRAINT "webhook_endpoints_rate_limit_per_minute_check" CHECK ("rate_limit_per_minute" > 0)`,
  ],
};

/** The normalized envelope and the raw payload; monthly partitions, kept 13 months. */
export const EVENTS: TenantTable = {
  table: 'events.events',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    occurred_at: 'timestamptz NOT NULL',
    received_at: 'timestamptz NOT NULL DEFAULT now()',
    source: 'text NOT NULL',
    endpoint_id: 'uuid',
    delivery_id: 'text NOT NULL',
    event_type: 'text NOT NULL',
    action: 'text',
    repository_external_id: 'text',
    repository_full_name: 'text',
    repository_id: 'uuid',
    project_id: 'uuid',
    actor: 'text',
    subject: 'text',
    summary: 'text NOT NULL',
    payload: 'jsonb NOT NULL',
    headers: `jsonb NOT NULL DEFAULT '{}'`,
  },
  constraints: [`CONSTRAINT "events_source_check" CHECK ("source" IN (${SOURCES}))`],
  partition: { column: 'occurred_at', interval: 'month', premake: 3, retention: '13 months' },
};

/**
 * One row per (source, delivery id) ever received: the dedupe horizon. Not
 * partitioned, and kept longer than the events (EventsService.expireReceipts), so a
 * redelivery after the event's partition was dropped is still recognised.
 * The event is named by id and occurred_at, without a foreign key: it outlives it.
 */
export const EVENT_RECEIPTS: TenantTable = {
  table: 'events.event_receipts',
  key: ['source', 'delivery_id'],
  columns: {
    source: 'text NOT NULL',
    delivery_id: 'text NOT NULL',
    event_id: 'uuid NOT NULL',
    event_occurred_at: 'timestamptz NOT NULL',
    first_received_at: 'timestamptz NOT NULL DEFAULT now()',
    last_received_at: 'timestamptz NOT NULL DEFAULT now()',
    received_count: 'integer NOT NULL DEFAULT 1',
  },
  constraints: [`CONSTRAINT "event_receipts_source_check" CHECK ("source" IN (${SOURCES}))`],
};

/** Counts per hour and per day, kept in the ingest transaction; monthly partitions, kept 25 months. */
export const EVENT_AGGREGATIONS: TenantTable = {
  table: 'events.event_aggregations',
  key: ['granularity', 'bucket_start', 'source', 'event_type', 'action', 'repository'],
  columns: {
    granularity: 'text NOT NULL',
    bucket_start: 'timestamptz NOT NULL',
    source: 'text NOT NULL',
    event_type: 'text NOT NULL',
    action: `text NOT NULL DEFAULT ''`,
    repository: `text NOT NULL DEFAULT ''`,
    event_count: 'bigint NOT NULL DEFAULT 0',
    last_occurred_at: 'timestamptz NOT NULL',
  },
  constraints: [`CONSTRAINT "event_aggregations_granularity_check" CHECK ("granularity" IN ('hour', 'day'))`],
  partition: { column: 'bucket_start', interval: 'month', premake: 3, retention: '25 months' },
};

export const SUBSCRIPTIONS: TenantTable = {
  table: 'events.subscriptions',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    name: 'character varying(255) NOT NULL',
    kind: 'text NOT NULL',
    url: 'text',
    signing_secret: 'text',
    handler: 'text',
    sources: 'text[]',
    event_types: 'text[]',
    actions: 'text[]',
    repository_full_name: 'text',
    max_attempts: 'integer NOT NULL DEFAULT 8',
    backoff_base_ms: 'integer NOT NULL DEFAULT 1000',
    backoff_cap_ms: 'integer NOT NULL DEFAULT 3600000',
    timeout_ms: 'integer NOT NULL DEFAULT 10000',
    active: 'boolean NOT NULL DEFAULT true',
    disabled_reason: 'text',
    ...TIMESTAMPS,
  },
  constraints: [
    `CONSTRAINT "subscriptions_organization_id_name_key" UNIQUE ("organization_id", "name")`,
    `CONSTRAINT "subscriptions_kind_check" CHECK (("kind" = 'http' AND "url" IS NOT NULL AND "signing_secret" IS NOT NULL AND "handler" IS NULL) OR ("kind" = 'internal' AND "handler" IS NOT NULL AND "url" IS NULL AND "signing_secret" IS NULL))`,
    `CONSTRAINT "subscriptions_retry_check" CHECK ("max_attempts" BETWEEN 1 AND 100 AND "backoff_base_ms" > 0 AND "backoff_cap_ms" >= "backoff_base_ms" AND "timeout_ms" > 0)`,
  ],
};

/** The outbox: one row per (event, subscription), written in the ingest transaction. */
export const DELIVERIES: TenantTable = {
  table: 'events.deliveries',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    subscription_id: 'uuid NOT NULL',
    event_id: 'uuid NOT NULL',
    event_occurred_at: 'timestamptz NOT NULL',
    status: `text NOT NULL DEFAULT 'pending'`,
    attempts: 'integer NOT NULL DEFAULT 0',
    next_attempt_at: 'timestamptz NOT NULL DEFAULT now()',
    locked_by: 'text',
    locked_until: 'timestamptz',
    last_response_status: 'integer',
    last_error: 'text',
    succeeded_at: 'timestamptz',
    ...TIMESTAMPS,
  },
  constraints: [
    `CONSTRAINT "deliveries_status_check" CHECK ("status" IN ('pending', 'delivering', 'succeeded', 'failed', 'dead'))`,
    `CONSTRAINT "deliveries_lock_check" CHECK (("status" = 'delivering') = ("locked_until" IS NOT NULL))`,
    `CONSTRAINT "deliveries_subscription_id_organization_id_fkey" FOREIGN KEY ("subscription_id", "organization_id") REFERENCES "events"."subscriptions" ("id", "organization_id") ON DELETE CASCADE`,
  ],
};

/** Every try of a delivery; monthly partitions, kept 3 months. */
export const DELIVERY_ATTEMPTS: TenantTable = {
  table: 'events.delivery_attempts',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    attempted_at: 'timestamptz NOT NULL DEFAULT now()',
    delivery_id: 'uuid NOT NULL',
    attempt: 'integer NOT NULL',
    outcome: 'text NOT NULL',
    response_status: 'integer',
    error: 'text',
    duration_ms: 'integer NOT NULL',
    retry_at: 'timestamptz',
  },
  constraints: [
    `CONSTRAINT "delivery_attempts_outcome_check" CHECK ("outcome" IN ('succeeded', 'failed', 'gone'))`,
    `CONSTRAINT "delivery_attempts_delivery_id_organization_id_fkey" FOREIGN KEY ("delivery_id", "organization_id") REFERENCES "events"."deliveries" ("id", "organization_id") ON DELETE CASCADE`,
  ],
  partition: { column: 'attempted_at', interval: 'month', premake: 3, retention: '3 months' },
};

const TABLES = [WEBHOOK_ENDPOINTS, EVENTS, EVENT_RECEIPTS, EVENT_AGGREGATIONS, SUBSCRIPTIONS, DELIVERIES, DELIVERY_ATTEMPTS];

const INDEXES = [
  `CREATE INDEX "events_organization_id_repository_id_occurred_at_idx" ON "events"."events" ("organization_id", "repository_id", "occurred_at")`,
  `CREATE INDEX "events_organization_id_repository_full_name_occurred_at_idx" ON "events"."events" ("organization_id", "repository_full_name", "occurred_at")`,
  `CREATE INDEX "events_organization_id_event_type_occurred_at_idx" ON "events"."events" ("organization_id", "event_type", "occurred_at")`,
  `CREATE INDEX "event_receipts_organization_id_last_received_at_idx" ON "events"."event_receipts" ("organization_id", "last_received_at")`,
  `CREATE INDEX "deliveries_organization_id_event_id_idx" ON "events"."deliveries" ("organization_id", "event_id")`,
  `CREATE INDEX "deliveries_organization_id_subscription_id_idx" ON "events"."deliveries" ("organization_id", "subscription_id")`,
  `CREATE INDEX "delivery_attempts_organization_id_delivery_id_attempt_idx" ON "events"."delivery_attempts" ("organization_id", "delivery_id", "attempt")`,
];

/** Partial indexes the claim reads (TypeORM cannot express a partial index's predicate in the drift check). */
const MANUAL_INDEXES: [name: string, definition: string, why: string][] = [
  [
    'deliveries_due_idx',
    `ON "events"."deliveries" ("organization_id", "next_attempt_at") WHERE "status" IN ('pending', 'failed')`,
    'strata:manual claim order: deliveries waiting for their next attempt',
  ],
  [
    'deliveries_lease_idx',
    `ON "events"."deliveries" ("organization_id", "locked_until") WHERE "status" = 'delivering'`,
    'strata:manual partial index for expired delivery leases',
  ],
];

/**
 * Schema `events` (created by the migration runner): webhook endpoints, the
 * partitioned events with their receipts (the dedupe horizon) and
 * aggregations, subscriptions, and the outbox with its attempts. Every table
 * is a standard tenant table (createTenantTable).
 */
export class CreateEventsSchema1796300000000 implements MigrationInterface {
  name = 'CreateEventsSchema1796300000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of TABLES) await createTenantTable(q, table);
    for (const index of INDEXES) await q.query(index);
    for (const [name, definition, why] of MANUAL_INDEXES) {
      await q.query(`CREATE INDEX "${name}" ${definition}`);
      await q.query(`COMMENT ON INDEX "events"."${name}" IS '${why}'`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [...TABLES].reverse()) await dropTenantTable(q, table);
    await q.query(`REVOKE USAGE ON SCHEMA "events" FROM strata_app`);
  }
}
