import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { DataSource, EntityManager } from 'typeorm';
import type { PostgresDataSourceOptions } from 'typeorm/driver/postgres/PostgresDataSourceOptions';
import { withTenant } from '@strata/base';
import { DELIVERIES_CHANNEL } from '../services/events.service';
import { ClaimedDelivery, DeliveredEvent, OutboxService } from '../services/outbox.service';
import { signStandardWebhook } from '../signatures';

/**
 * An internal subscriber: runs in the delivery's tenant transaction, so what
 * it writes commits together with the delivery's success, or not at all
 * (then the delivery failed and is retried).
 */
export type InternalHandler = (transaction: EntityManager, event: DeliveredEvent, delivery: ClaimedDelivery) => Promise<void>;

export interface DeliveryWorkerOptions {
  /** The organizations this worker serves (row-level security: one at a time), or a function that lists them. */
  organizations: string[] | (() => Promise<string[]>);
  /** Internal subscribers by handler name. */
  handlers?: Record<string, InternalHandler>;
  workerId?: string;
  /** Deliveries claimed at once, and attempted side by side. */
  batchSize?: number;
  leaseSeconds?: number;
  /** The backstop: every organization is looked at this often even without a NOTIFY. */
  pollIntervalMs?: number;
  /**
   * LISTEN for the ingest's NOTIFY on a connection of its own (default true);
   * polling alone when false. On a server only: the embedded database has one
   * session that every client shares, so a notification goes to whichever
   * client is active, not to the listener. In one process, `wake()` does the same.
   */
  listen?: boolean;
  /** Called each time the worker has served what was due and starts waiting (for tests and metrics). */
  onPause?: () => void;
  log?: (line: string) => void;
}

/** The largest Retry-After honoured, in seconds. */
const MAX_RETRY_AFTER = 86_400;

/**
 * Drains the outbox: claims due deliveries (SKIP LOCKED, so any number of
 * workers share the work), POSTs them to HTTP subscribers signed with the
 * Standard Webhooks scheme, or runs internal handlers in the delivery's
 * transaction, and records each outcome. A NOTIFY from the ingest
 * transaction wakes it at once; polling catches whatever a lost notification
 * (or a retry coming due) leaves.
 */
export class DeliveryWorker {
  readonly workerId: string;
  private readonly outbox: OutboxService;
  private readonly handlers: Record<string, InternalHandler>;
  private readonly batchSize: number;
  private readonly leaseSeconds: number;
  private readonly pollIntervalMs: number;
  private readonly log: (line: string) => void;
  private running = false;
  private loop?: Promise<void>;
  private listener?: Client;
  private woken = new Set<string>();
  private resume?: () => void;

  constructor(
    private readonly dataSource: DataSource,
    private readonly options: DeliveryWorkerOptions,
  ) {
    this.workerId = options.workerId ?? `delivery-worker-${randomUUID().slice(0, 8)}`;
    this.outbox = new OutboxService(dataSource);
    this.handlers = options.handlers ?? {};
    this.batchSize = options.batchSize ?? 10;
    this.leaseSeconds = options.leaseSeconds ?? 60;
    this.pollIntervalMs = options.pollIntervalMs ?? 5000;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** Claims and attempts the organization's due deliveries until none is due; resolves with how many attempts were made. */
  async deliverDue(organizationId: string): Promise<number> {
    let attempts = 0;
    for (;;) {
      const batch = await this.outbox.claim(organizationId, {
        workerId: this.workerId,
        count: this.batchSize,
        leaseSeconds: this.leaseSeconds,
      });
      if (batch.length === 0) return attempts;
      await Promise.all(batch.map((delivery) => this.attempt(delivery)));
      attempts += batch.length;
    }
  }

  /** The hint NOTIFY gives, from this process (the receiver next to the worker): the organization has new deliveries. */
  wake(organizationId: string): void {
    this.woken.add(organizationId);
    this.resume?.();
  }

  /** Runs until stop(): wakes on NOTIFY (or wake()), and at least every pollIntervalMs. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (this.options.listen ?? true) await this.startListening();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.resume?.();
    await this.loop;
    await this.listener?.end().catch(() => undefined);
    this.listener = undefined;
  }

  private async run(): Promise<void> {
    let everyone = true;
    while (this.running) {
      const organizations = everyone
        ? await this.organizations().catch((error: unknown) => {
            this.log(`delivery worker ${this.workerId}: cannot list the organizations: ${(error as Error).message}`);
            return [...this.woken];
          })
        : [...this.woken];
      this.woken.clear();
      for (const organizationId of organizations) {
        if (!this.running) break;
        await this.deliverDue(organizationId).catch((error: unknown) =>
          this.log(`delivery worker ${this.workerId}: organization ${organizationId}: ${(error as Error).message}`),
        );
      }
      if (!this.running) break;
      // Woken with organizations to serve: serve those at once; otherwise wait for a NOTIFY or the poll.
      everyone = this.woken.size === 0 ? await this.pause() : false;
    }
  }

  /** true when the poll interval ran out (look at everyone), false when a NOTIFY came. */
  private pause(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.resume = undefined;
        resolve(true);
      }, this.pollIntervalMs);
      this.resume = () => {
        clearTimeout(timer);
        this.resume = undefined;
        resolve(false);
      };
      this.options.onPause?.();
    });
  }

  private async organizations(): Promise<string[]> {
    const { organizations } = this.options;
    return typeof organizations === 'function' ? organizations() : organizations;
  }

  private async startListening(): Promise<void> {
    const served = new Set(typeof this.options.organizations === 'function' ? [] : this.options.organizations);
    const client = new Client({ connectionString: (this.dataSource.options as PostgresDataSourceOptions).url });
    client.on('error', (error) => this.log(`delivery worker ${this.workerId}: notifications lost (${error.message}); polling goes on`));
    client.on('notification', (message) => {
      const organizationId = message.payload ?? '';
      if (served.size === 0 || served.has(organizationId)) this.wake(organizationId);
    });
    await client.connect();
    await client.query(`LISTEN ${DELIVERIES_CHANNEL}`);
    this.listener = client;
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const { organizationId, id } = delivery;
    try {
      if (delivery.event === null) {
        await this.outbox.fail(organizationId, id, {
          workerId: this.workerId,
          error: 'the event is no longer stored (retention)',
          durationMs: 0,
          gone: false,
        });
        return;
      }
      if (delivery.kind === 'internal') await this.runHandler(delivery, delivery.event, started);
      else await this.post(delivery, delivery.event, started);
    } catch (error) {
      await this.outbox
        .fail(organizationId, id, { workerId: this.workerId, error: describe(error), durationMs: elapsed() })
        .catch((failure: unknown) => this.log(`delivery worker ${this.workerId}: delivery ${id}: ${describe(failure)}`));
    }
  }

  private async runHandler(delivery: ClaimedDelivery, event: DeliveredEvent, started: number): Promise<void> {
    const handler = delivery.handler === null ? undefined : this.handlers[delivery.handler];
    if (!handler) throw new Error(`no internal handler named ${JSON.stringify(delivery.handler)} is registered with this worker`);
    await withTenant(this.dataSource, delivery.organizationId, async (tx) => {
      await handler(tx, event, delivery);
      await this.outbox
        .with(tx)
        .complete(delivery.organizationId, delivery.id, { workerId: this.workerId, durationMs: Math.round(performance.now() - started) });
    });
  }

  private async post(delivery: ClaimedDelivery, event: DeliveredEvent, started: number): Promise<void> {
    if (delivery.url === null || delivery.signingSecret === null) throw new Error('an http subscription without url or signing secret');
    const body = JSON.stringify(standardWebhookPayload(event));
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(delivery.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Strata-Webhooks',
        // The same id on every attempt: the subscriber can deduplicate retries.
        'webhook-id': delivery.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signStandardWebhook(delivery.signingSecret, delivery.id, timestamp, body),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(delivery.timeoutMs),
    });
    // The answer's body is not needed: dropped unread.
    await response.body?.cancel().catch(() => undefined);
    const durationMs = Math.round(performance.now() - started);
    const common = { workerId: this.workerId, responseStatus: response.status, durationMs };
    if (response.status >= 200 && response.status < 300) {
      await this.outbox.complete(delivery.organizationId, delivery.id, common);
      return;
    }
    await this.outbox.fail(delivery.organizationId, delivery.id, {
      ...common,
      error: `HTTP ${response.status} ${response.statusText}`.trim(),
      gone: response.status === 410,
      retryAfterSeconds: retryAfter(response.headers.get('retry-after')),
    });
  }
}

/** The Standard Webhooks payload shape: `{ type, timestamp, data }`. */
export function standardWebhookPayload(event: DeliveredEvent): { type: string; timestamp: string; data: Record<string, unknown> } {
  return {
    type: [event.source, event.eventType, event.action].filter((part) => part !== null).join('.'),
    timestamp: event.occurredAt.toISOString(),
    data: {
      eventId: event.id,
      source: event.source,
      eventType: event.eventType,
      action: event.action,
      deliveryId: event.deliveryId,
      occurredAt: event.occurredAt.toISOString(),
      repositoryFullName: event.repositoryFullName,
      repositoryId: event.repositoryId,
      projectId: event.projectId,
      actor: event.actor,
      subject: event.subject,
      summary: event.summary,
      payload: event.payload,
    },
  };
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
function retryAfter(value: string | null): number | undefined {
  if (value === null) return undefined;
  const seconds = /^\d+$/.test(value.trim()) ? Number(value) : Math.ceil((Date.parse(value) - Date.now()) / 1000);
  return Number.isFinite(seconds) ? Math.min(MAX_RETRY_AFTER, Math.max(0, seconds)) : undefined;
}

function describe(error: unknown): string {
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return message.slice(0, 2000);
}
