import { baseModule, checkSchemaDrift, runMaintenance, validateIntegrity, withTenant } from '@strata/base';
import { createTestDatabase, expectEachMigrationReverts, useTestDatabase } from '@strata/testing';
import { eventsModule } from '../src';
import { EVENT_TABLES, createOrganization } from './support';

const MANUAL_INDEXES = ['deliveries_due_idx', 'deliveries_lease_idx'];

describe('events schema', () => {
  const db = useTestDatabase({ modules: [baseModule, eventsModule] });

  beforeAll(async () => {
    await runMaintenance(db);
  });

  it('the migrated schema matches the entities: only the two partial strata:manual indexes are left to the migration', async () => {
    const report = await checkSchemaDrift(db.url, eventsModule, [baseModule, eventsModule]);
    expect(report.statements).toEqual([]);
    for (const statement of report.ignored) expect(MANUAL_INDEXES.filter((name) => statement.includes(name))).toHaveLength(1);
  });

  it('passes base.validate_integrity(): forced RLS, keys led by organization_id, tenant-consistent references, cascading erasure', async () => {
    const report = await validateIntegrity(db);
    expect(report.checks.filter((c) => c.violations.length > 0)).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('events, aggregations and attempts are partitioned with their policies; receipts are not partitioned and outlive the events', async () => {
    const policies = await db.query<{ table_name: string; interval: string; retention: string }>(
      `SELECT parent_table::text AS table_name, partition_interval AS interval, retention::text AS retention
         FROM base.partition_policies WHERE parent_table::text LIKE 'events.%' ORDER BY 1`,
    );
    expect(policies).toEqual([
      { table_name: 'events.delivery_attempts', interval: 'month', retention: '3 mons' },
      { table_name: 'events.event_aggregations', interval: 'month', retention: '2 years 1 mon' },
      { table_name: 'events.events', interval: 'month', retention: '1 year 1 mon' },
    ]);
    const kinds = await db.query<{ relname: string; relkind: string }>(
      `SELECT relname, relkind FROM pg_class WHERE relnamespace = 'events'::regnamespace AND relname = ANY ($1) ORDER BY 1`,
      [EVENT_TABLES.map((t) => t.split('.')[1])],
    );
    expect(Object.fromEntries(kinds.map((k) => [k.relname, k.relkind]))).toEqual({
      deliveries: 'r',
      delivery_attempts: 'p',
      event_aggregations: 'p',
      event_receipts: 'r',
      events: 'p',
      subscriptions: 'r',
      webhook_endpoints: 'r',
    });
  });

  it('an organization sees and writes only its own rows in every table (row-level security as strata_app)', async () => {
    const a = await createOrganization(db, 'schema-a');
    const b = await createOrganization(db, 'schema-b');
    for (const org of [a, b]) {
      await withTenant(db.dataSource, org, async (tx) => {
        const [endpoint] = await tx.query(
          `INSERT INTO events.webhook_endpoints (organization_id, source, name, secret) VALUES ($1, 'github', 'gh', repeat('s', 32)) RETURNING id`,
          [org],
        );
        const [event] = await tx.query(
          `INSERT INTO events.events (organization_id, occurred_at, source, endpoint_id, delivery_id, event_type, summary, payload)
           VALUES ($1, now(), 'github', $2, 'd-1', 'ping', 'ping', '{}') RETURNING id, occurred_at`,
          [org, endpoint.id],
        );
        await tx.query(
          `INSERT INTO events.event_receipts (organization_id, source, delivery_id, event_id, event_occurred_at) VALUES ($1, 'github', 'd-1', $2, $3)`,
          [org, event.id, event.occurred_at],
        );
        await tx.query(
          `INSERT INTO events.event_aggregations (organization_id, granularity, bucket_start, source, event_type, event_count, last_occurred_at)
           VALUES ($1, 'hour', date_trunc('hour', now()), 'github', 'ping', 1, now())`,
          [org],
        );
        const [subscription] = await tx.query(
          `INSERT INTO events.subscriptions (organization_id, name, kind, handler) VALUES ($1, 'log', 'internal', 'log') RETURNING id`,
          [org],
        );
        const [delivery] = await tx.query(
          `INSERT INTO events.deliveries (organization_id, subscription_id, event_id, event_occurred_at) VALUES ($1, $2, $3, $4) RETURNING id`,
          [org, subscription.id, event.id, event.occurred_at],
        );
        await tx.query(
          `INSERT INTO events.delivery_attempts (organization_id, delivery_id, attempt, outcome, duration_ms) VALUES ($1, $2, 1, 'succeeded', 3)`,
          [org, delivery.id],
        );
      });
    }
    for (const table of EVENT_TABLES) {
      const seen = await withTenant(db.dataSource, a, (tx) => tx.query(`SELECT DISTINCT organization_id FROM ${table}`));
      expect({ table, seen }).toEqual({ table, seen: [{ organization_id: a }] });
    }
    await expect(
      withTenant(db.dataSource, a, (tx) =>
        tx.query(`INSERT INTO events.subscriptions (organization_id, name, kind, handler) VALUES ($1, 'theirs', 'internal', 'log')`, [b]),
      ),
    ).rejects.toThrow(/row-level security/);
    // A delivery of a's cannot name b's subscription (the reference includes organization_id).
    const [theirs] = await db.query<{ id: string }>(`SELECT id FROM events.subscriptions WHERE organization_id = $1`, [b]);
    await expect(
      withTenant(db.dataSource, a, (tx) =>
        tx.query(
          `INSERT INTO events.deliveries (organization_id, subscription_id, event_id, event_occurred_at) VALUES ($1, $2, gen_random_uuid(), now())`,
          [a, theirs.id],
        ),
      ),
    ).rejects.toThrow(/foreign key/);
  });

  it("each migration's down restores exactly the catalog its up found", async () => {
    const stepwise = await createTestDatabase({ modules: [baseModule, eventsModule], migrate: false });
    try {
      await expectEachMigrationReverts(stepwise, eventsModule, { requires: [baseModule] });
    } finally {
      await stepwise.close();
    }
  });
});
