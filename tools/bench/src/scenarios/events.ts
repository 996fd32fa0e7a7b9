import { createHmac, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { MigrationRunner, OrganizationsService, baseModule, createDataSource } from '@strata/base';
import {
  DeliveryWorker,
  EventsService,
  IngestInput,
  SubscriptionsService,
  WebhookEndpointsService,
  WebhookReceiver,
  eventsModule,
} from '@strata/events';
import { Result, Scenario, Target, median, scratch, timed } from '../harness';

const MODULES = [baseModule, eventsModule];
/** The seeds' target: 10,000 events a minute. */
const SEEDS_PER_SECOND = 10_000 / 60;

interface EventsDatabase {
  url: string;
  organizationId: string;
  dataSource: DataSource;
  dispose(): Promise<void>;
}

async function eventsDatabase(target: Target, poolSize: number): Promise<EventsDatabase> {
  const db = await scratch(target);
  await new MigrationRunner({ url: db.url }).up(MODULES);
  const dataSource = await createDataSource({ url: db.url, poolSize: target === 'embedded' ? 1 : poolSize, modules: MODULES }).initialize();
  const organization = await new OrganizationsService(dataSource).create({ name: 'Bench', slug: 'bench' });
  return {
    url: db.url,
    organizationId: organization.id,
    dataSource,
    dispose: async () => {
      await dataSource.destroy();
      await db.dispose();
    },
  };
}

function payload(i: number) {
  return {
    action: 'opened',
    number: i,
    pull_request: { number: i, title: `Change ${i}`, body: 'x'.repeat(400) },
    repository: { id: 1296269, full_name: 'octo/hello' },
    sender: { login: 'octocat' },
  };
}

/**
 * The rows one event makes (receipt, event, hourly and daily counters), written
 * by raw pg as multi-row INSERTs (unnest) in one transaction per batch: the
 * limit the receiver and the batch ingest are measured against.
 */
async function insertByHand(url: string, organizationId: string, count: number, batch: number): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      const ids = Array.from({ length: n }, () => randomUUID());
      const deliveries = ids.map((_, i) => `raw-${start + i}`);
      const payloads = ids.map((_, i) => JSON.stringify(payload(start + i)));
      await client.query('BEGIN');
      await client.query(`SELECT set_config('strata.organization_id', $1, true)`, [organizationId]);
      await client.query(
        `INSERT INTO events.event_receipts (organization_id, source, delivery_id, event_id, event_occurred_at)
         SELECT $1, 'github', d, i, now() FROM unnest($2::uuid[], $3::text[]) AS u(i, d)`,
        [organizationId, ids, deliveries],
      );
      await client.query(
        `INSERT INTO events.events (organization_id, id, occurred_at, source, delivery_id, event_type, action, repository_external_id,
                                    repository_full_name, actor, subject, summary, payload, headers)
         SELECT $1, i, now(), 'github', d, 'pull_request', 'opened', '1296269', 'octo/hello', 'octocat', 'pull_request#1', 'pull_request.opened', p::jsonb, '{}'
           FROM unnest($2::uuid[], $3::text[], $4::text[]) AS u(i, d, p)`,
        [organizationId, ids, deliveries, payloads],
      );
      await client.query(
        `INSERT INTO events.event_aggregations AS a (organization_id, granularity, bucket_start, source, event_type, action, repository, event_count, last_occurred_at)
         SELECT $1, g, date_trunc(g, now(), 'UTC'), 'github', 'pull_request', 'opened', 'octo/hello', $2, now() FROM unnest(ARRAY['day', 'hour']) AS g
         ON CONFLICT (organization_id, granularity, bucket_start, source, event_type, action, repository)
         DO UPDATE SET event_count = a.event_count + EXCLUDED.event_count`,
        [organizationId, n],
      );
      await client.query('COMMIT');
    }
  } finally {
    await client.end();
  }
}

async function eventCount(db: EventsDatabase): Promise<number> {
  return (await db.dataSource.query('SELECT count(*)::int AS n FROM events.events'))[0].n;
}

/** POSTs prepared, signed requests from `senders` concurrent loops; resolves with each request's latency. */
async function send(
  port: number,
  path: string,
  requests: { body: string; headers: Record<string, string> }[],
  senders: number,
): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (next < requests.length) {
        const request = requests[next++];
        const start = performance.now();
        const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: request.headers, body: request.body });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`receiver answered ${response.status}`);
        latencies.push(performance.now() - start);
      }
    }),
  );
  return latencies;
}

/**
 * The receiver end to end: signed GitHub pull_request webhooks POSTed over
 * loopback by 1 and 8 concurrent senders, each verified and stored (receipt,
 * event, counters) in its own transaction. The limit: the same rows by raw
 * multi-row INSERTs, in batches of the same size as the senders' concurrency.
 */
export const receiverEndToEnd: Scenario = {
  name: 'events: receiver end to end',
  async run(target, runs) {
    const count = target === 'server' ? 1000 : 300;
    const results: Result[] = [];
    for (const senders of [1, 8]) {
      const measured: number[] = [];
      const limit: number[] = [];
      const p95s: number[] = [];
      for (let run = 0; run < runs; run++) {
        const db = await eventsDatabase(target, 10);
        const receiver = new WebhookReceiver(db.dataSource);
        try {
          const { endpoint, secret } = await new WebhookEndpointsService(db.dataSource).create(db.organizationId, {
            source: 'github',
            name: 'bench',
            rateLimitPerMinute: 1_000_000,
          });
          const port = await receiver.listen(0);
          const requests = Array.from({ length: count }, (_, i) => {
            const body = JSON.stringify(payload(i));
            return {
              body,
              headers: {
                'content-type': 'application/json',
                'x-github-event': 'pull_request',
                'x-github-delivery': `bench-${run}-${i}`,
                'x-hub-signature-256': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`,
              },
            };
          });
          let latencies: number[] = [];
          measured.push(await timed(async () => void (latencies = await send(port, endpoint.path, requests, senders))));
          latencies.sort((a, b) => a - b);
          p95s.push(latencies[Math.floor(latencies.length * 0.95)]);
          if ((await eventCount(db)) !== count) throw new Error('the receiver did not store every event');
          limit.push(await timed(() => insertByHand(db.url, db.organizationId, count, senders)));
        } finally {
          await receiver.close();
          await db.dispose();
        }
      }
      const measuredMs = median(measured);
      const perSecond = count / (measuredMs / 1000);
      results.push({
        scenario: `${this.name}, ${senders} sender${senders > 1 ? 's' : ''}`,
        target,
        runs,
        limit: `same rows, multi-row INSERT ×${senders}/tx, raw pg`,
        measuredMs,
        limitMs: median(limit),
        ratio: median(limit) / measuredMs,
        note: `${count} events, ${perSecond.toFixed(0)} events/s (${(perSecond / SEEDS_PER_SECOND).toFixed(1)}× the seeds' 10,000/min), p95 ${median(p95s).toFixed(1)} ms`,
      });
    }
    return results;
  },
};

/**
 * ingestMany of 1,000 events a call (receipt, event, counters, subscription
 * fan-out in one statement), 5,000 events, against the same rows by raw
 * multi-row INSERTs of 1,000 (pg has no COPY without pg-copy-streams, and the
 * embedded database has no COPY over its socket).
 */
export const batchIngest: Scenario = {
  name: 'events: batch ingest (1000 per call)',
  async run(target, runs) {
    const count = 5000;
    const measured: number[] = [];
    const limit: number[] = [];
    for (let run = 0; run < runs; run++) {
      const db = await eventsDatabase(target, 2);
      try {
        const events = new EventsService(db.dataSource);
        const batches: IngestInput[][] = [];
        for (let start = 0; start < count; start += 1000) {
          batches.push(
            Array.from({ length: 1000 }, (_, i) => ({
              source: 'github' as const,
              deliveryId: `batch-${start + i}`,
              eventType: 'pull_request',
              action: 'opened',
              repository: { externalId: '1296269', fullName: 'octo/hello' },
              actor: 'octocat',
              subject: 'pull_request#1',
              summary: 'pull_request.opened',
              payload: payload(start + i),
            })),
          );
        }
        measured.push(await timed(async () => void (await Promise.all(batches.map((b) => events.ingestMany(db.organizationId, b))))));
        if ((await eventCount(db)) !== count) throw new Error('ingestMany did not store every event');
        limit.push(await timed(() => insertByHand(db.url, db.organizationId, count, 1000)));
      } finally {
        await db.dispose();
      }
    }
    return {
      scenario: this.name,
      target,
      runs,
      limit: 'same rows, multi-row INSERT ×1000/tx, raw pg',
      measuredMs: median(measured),
      limitMs: median(limit),
      ratio: median(limit) / median(measured),
      note: `${count} events`,
    };
  },
};

/**
 * Draining 1,000 deliveries to an internal subscriber that does nothing, with
 * 1 and 4 workers (claim 10, run each in its own transaction with the
 * completion). The limit: a bare SKIP LOCKED loop on the same table (claim
 * 10, mark them succeeded, one transaction per batch), as many loops.
 */
export const outboxDrain: Scenario = {
  name: 'events: outbox drain',
  async run(target, runs) {
    const count = target === 'server' ? 1000 : 300;
    const results: Result[] = [];
    for (const workers of [1, 4]) {
      const measured: number[] = [];
      const limit: number[] = [];
      for (let run = 0; run < runs; run++) {
        const db = await eventsDatabase(target, workers * 2);
        try {
          await new SubscriptionsService(db.dataSource).create(db.organizationId, { name: 'noop', kind: 'internal', handler: 'noop' });
          const fill = async () => {
            const events = new EventsService(db.dataSource);
            for (let start = 0; start < count; start += 500) {
              await events.ingestMany(
                db.organizationId,
                Array.from({ length: Math.min(500, count - start) }, (_, i) => ({
                  source: 'internal' as const,
                  deliveryId: `drain-${run}-${start + i}-${Math.random()}`,
                  eventType: 'tick',
                  payload: {},
                })),
              );
            }
          };
          await fill();
          const pool = Array.from(
            { length: workers },
            (_, i) =>
              new DeliveryWorker(db.dataSource, {
                organizations: [db.organizationId],
                handlers: { noop: async () => undefined },
                listen: false,
                workerId: `w${i}`,
              }),
          );
          measured.push(await timed(async () => void (await Promise.all(pool.map((w) => w.deliverDue(db.organizationId))))));
          await fill();
          limit.push(await timed(() => bareDrain(db.url, db.organizationId, workers)));
          const [{ left }] = await db.dataSource.query(`SELECT count(*)::int AS left FROM events.deliveries WHERE status <> 'succeeded'`);
          if (left !== 0) throw new Error(`${left} deliveries left undelivered`);
        } finally {
          await db.dispose();
        }
      }
      results.push({
        scenario: `${this.name}, ${workers} worker${workers > 1 ? 's' : ''}`,
        target,
        runs,
        limit: 'bare SKIP LOCKED claim+complete loop, raw pg',
        measuredMs: median(measured),
        limitMs: median(limit),
        ratio: median(limit) / median(measured),
        note: `${count} deliveries, ${(count / (median(measured) / 1000)).toFixed(0)}/s`,
      });
    }
    return results;
  },
};

async function bareDrain(url: string, organizationId: string, loops: number): Promise<void> {
  await Promise.all(
    Array.from({ length: loops }, async () => {
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        for (;;) {
          await client.query('BEGIN');
          await client.query(`SELECT set_config('strata.organization_id', $1, true)`, [organizationId]);
          const { rowCount } = await client.query(
            `WITH due AS (SELECT id FROM events.deliveries WHERE organization_id = $1 AND status = 'pending' ORDER BY next_attempt_at LIMIT 10 FOR UPDATE SKIP LOCKED)
             UPDATE events.deliveries d SET status = 'succeeded', attempts = d.attempts + 1, succeeded_at = now() FROM due WHERE d.organization_id = $1 AND d.id = due.id`,
            [organizationId],
          );
          await client.query('COMMIT');
          if (!rowCount) return;
        }
      } finally {
        await client.end();
      }
    }),
  );
}
