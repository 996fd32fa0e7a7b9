import { IsBoolean, IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import {
  NotFoundError,
  StateError,
  TenantConnection,
  TenantService,
  hydrate,
  queryPrepared,
  validateId,
  validateIds,
  validateInput,
} from '@strata/base';
import { Delivery, DeliveryAttempt } from '../entities';
import type { EventSource, SubscriberKind } from '../entities';
import { eventsModule } from '../events.module';
import { DELIVERIES_CHANNEL } from './events.service';

export class ClaimInput {
  @IsString() @Length(1, 255) workerId!: string;
  @IsOptional() @IsInt() @Min(1) @Max(1000) count?: number;
  /** How long the worker holds the deliveries before they can be claimed again (default 60 s). */
  @IsOptional() @IsInt() @Min(1) @Max(86_400) leaseSeconds?: number;
}

export class CompleteInput {
  @IsString() @Length(1, 255) workerId!: string;
  @IsOptional() @IsInt() @Min(100) @Max(599) responseStatus?: number;
  @IsInt() @Min(0) durationMs!: number;
}

export class FailInput {
  @IsString() @Length(1, 255) workerId!: string;
  @IsString() @Length(1, 2000) error!: string;
  @IsOptional() @IsInt() @Min(100) @Max(599) responseStatus?: number;
  @IsInt() @Min(0) durationMs!: number;
  /** The subscriber's Retry-After: the next attempt is no sooner (at most a day). */
  @IsOptional() @IsInt() @Min(0) @Max(86_400) retryAfterSeconds?: number;
  /** The subscriber is gone (HTTP 410): the delivery is dead and the subscription switched off. */
  @IsOptional() @IsBoolean() gone?: boolean;
}

/** The event as a delivery carries it. */
export interface DeliveredEvent {
  id: string;
  source: EventSource;
  eventType: string;
  action: string | null;
  deliveryId: string;
  occurredAt: Date;
  repositoryFullName: string | null;
  repositoryId: string | null;
  projectId: string | null;
  actor: string | null;
  subject: string | null;
  summary: string;
  payload: unknown;
}

/** A claimed delivery: what a worker needs to make the attempt. `signingSecret` is for signing only: never log it. */
export interface ClaimedDelivery {
  id: string;
  organizationId: string;
  subscriptionId: string;
  /** This attempt's number, 1 for the first. */
  attempt: number;
  kind: SubscriberKind;
  url: string | null;
  signingSecret: string | null;
  handler: string | null;
  timeoutMs: number;
  /** null when retention dropped the event before it could be delivered. */
  event: DeliveredEvent | null;
}

/** Leases that ran out: the worker never reported, so the attempt failed (or was the last). */
const RELEASE_EXPIRED = `
UPDATE events.deliveries d
   SET status = CASE WHEN d.attempts >= s.max_attempts THEN 'dead' ELSE 'failed' END,
       locked_by = NULL, locked_until = NULL, next_attempt_at = now(), updated_at = now(),
       last_error = 'lease expired: the worker did not report'
  FROM events.subscriptions s
 WHERE d.organization_id = $1 AND d.status = 'delivering' AND d.locked_until < now()
   AND s.organization_id = d.organization_id AND s.id = d.subscription_id`;

/** The due deliveries of active subscriptions, oldest due first, skipping those another worker holds. */
const CLAIM = `
WITH due AS (
  SELECT d.id, s.kind, s.url, s.signing_secret, s.handler, s.timeout_ms,
         e.id AS e_id, e.source AS e_source, e.event_type AS e_event_type, e.action AS e_action, e.delivery_id AS e_delivery_id,
         e.occurred_at AS e_occurred_at, e.repository_full_name AS e_repository_full_name, e.repository_id AS e_repository_id,
         e.project_id AS e_project_id, e.actor AS e_actor, e.subject AS e_subject, e.summary AS e_summary, e.payload AS e_payload
    FROM events.deliveries d
    JOIN events.subscriptions s ON s.organization_id = d.organization_id AND s.id = d.subscription_id AND s.active
    LEFT JOIN events.events e ON e.organization_id = d.organization_id AND e.id = d.event_id AND e.occurred_at = d.event_occurred_at
   WHERE d.organization_id = $1 AND d.status IN ('pending', 'failed') AND d.next_attempt_at <= now()
   ORDER BY d.next_attempt_at
   LIMIT $3
   FOR UPDATE OF d SKIP LOCKED
)
UPDATE events.deliveries d
   SET status = 'delivering', attempts = d.attempts + 1, locked_by = $2, locked_until = now() + make_interval(secs => $4::int), updated_at = now()
  FROM due
 WHERE d.organization_id = $1 AND d.id = due.id
RETURNING d.id, d.subscription_id, d.attempts, due.*`;

const COMPLETE = `
WITH changed AS (
  UPDATE events.deliveries d
     SET status = 'succeeded', succeeded_at = now(), locked_by = NULL, locked_until = NULL,
         last_response_status = $4::int, last_error = NULL, updated_at = now()
   WHERE d.organization_id = $1 AND d.id = $2 AND d.status = 'delivering' AND d.locked_by = $3
  RETURNING d.id, d.attempts
), recorded AS (
  INSERT INTO events.delivery_attempts (organization_id, delivery_id, attempt, outcome, response_status, duration_ms)
  SELECT $1, c.id, c.attempts, 'succeeded', $4::int, $5::int FROM changed c
)
SELECT id FROM changed`;

/**
 * A failed attempt: the next one waits min(cap, base × 2^(attempt−1)) with
 * "equal jitter" (half of it fixed, half random, so each wait is at least the
 * previous one's longest) and no less than Retry-After; after the last
 * attempt, or when the subscriber is gone, the delivery is dead.
 */
const FAIL = `
WITH target AS (
  SELECT d.id, d.subscription_id, d.attempts, s.max_attempts, s.backoff_base_ms, s.backoff_cap_ms
    FROM events.deliveries d
    JOIN events.subscriptions s ON s.organization_id = d.organization_id AND s.id = d.subscription_id
   WHERE d.organization_id = $1 AND d.id = $2 AND d.status = 'delivering' AND d.locked_by = $3
   FOR UPDATE OF d
), decided AS (
  SELECT t.id, t.subscription_id, t.attempts,
         CASE WHEN $6::boolean OR t.attempts >= t.max_attempts THEN 'dead' ELSE 'failed' END AS status,
         now() + greatest(make_interval(secs => coalesce($7::int, 0)),
                          least(t.backoff_cap_ms, t.backoff_base_ms * power(2, t.attempts - 1)) * (0.5 + random() / 2) * interval '1 millisecond') AS retry_at
    FROM target t
), changed AS (
  UPDATE events.deliveries d
     SET status = x.status, next_attempt_at = CASE WHEN x.status = 'failed' THEN x.retry_at ELSE d.next_attempt_at END,
         locked_by = NULL, locked_until = NULL, last_response_status = $4::int, last_error = $5::text, updated_at = now()
    FROM decided x
   WHERE d.organization_id = $1 AND d.id = x.id
  RETURNING d.id, d.subscription_id, d.attempts, d.status, CASE WHEN x.status = 'failed' THEN x.retry_at END AS retry_at
), recorded AS (
  INSERT INTO events.delivery_attempts (organization_id, delivery_id, attempt, outcome, response_status, error, duration_ms, retry_at)
  SELECT $1, c.id, c.attempts, CASE WHEN $6::boolean THEN 'gone' ELSE 'failed' END, $4::int, $5::text, $8::int, c.retry_at FROM changed c
), disabled AS (
  UPDATE events.subscriptions s SET active = false, disabled_reason = 'the subscriber answered 410 Gone', updated_at = now()
    FROM changed c
   WHERE $6::boolean AND s.organization_id = $1 AND s.id = c.subscription_id
)
SELECT id, status, retry_at FROM changed`;

/**
 * The outbox of deliveries: claim (FOR UPDATE SKIP LOCKED, under a lease),
 * complete, fail with backoff, redrive dead letters, replay an event to a
 * subscription. Workers (DeliveryWorker) are its usual caller; every call works
 * inside a caller's transaction too (`outbox.with(tx)`), which is how an
 * internal subscriber's writes and the delivery's completion commit together.
 */
export class OutboxService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, eventsModule);
  }

  async claim(organizationId: string, input: ClaimInput): Promise<ClaimedDelivery[]> {
    const valid = await validateInput(ClaimInput, input, 'claim');
    const rows = await this.scope.run(organizationId, async (tx) => {
      await queryPrepared(tx, RELEASE_EXPIRED, [organizationId]);
      return queryPrepared<Record<string, unknown>>(tx, CLAIM, [
        organizationId,
        valid.workerId,
        valid.count ?? 10,
        valid.leaseSeconds ?? 60,
      ]);
    });
    return rows.map((row) => claimed(organizationId, row));
  }

  async complete(organizationId: string, deliveryId: string, input: CompleteInput): Promise<void> {
    validateId(deliveryId, 'deliveryId', 'delivery');
    const valid = await validateInput(CompleteInput, input, 'delivery completion');
    const rows = await this.scope.queryPrepared(organizationId, COMPLETE, [
      organizationId,
      deliveryId,
      valid.workerId,
      valid.responseStatus ?? null,
      valid.durationMs,
    ]);
    if (rows.length === 0) throw new StateError(`delivery ${deliveryId} is not being delivered by ${valid.workerId}`);
  }

  /** Records the failed attempt; resolves with what became of the delivery: tried again at `retryAt`, or dead. */
  async fail(organizationId: string, deliveryId: string, input: FailInput): Promise<{ status: 'failed' | 'dead'; retryAt: Date | null }> {
    validateId(deliveryId, 'deliveryId', 'delivery');
    const valid = await validateInput(FailInput, input, 'delivery failure');
    const rows = await this.scope.queryPrepared<{ status: 'failed' | 'dead'; retry_at: Date | null }>(organizationId, FAIL, [
      organizationId,
      deliveryId,
      valid.workerId,
      valid.responseStatus ?? null,
      valid.error,
      valid.gone ?? false,
      valid.retryAfterSeconds ?? null,
      valid.durationMs,
    ]);
    if (rows.length === 0) throw new StateError(`delivery ${deliveryId} is not being delivered by ${valid.workerId}`);
    return { status: rows[0].status, retryAt: rows[0].retry_at === null ? null : new Date(rows[0].retry_at) };
  }

  /** A dead delivery goes out again from its first attempt. */
  async redrive(organizationId: string, deliveryId: string): Promise<Delivery> {
    validateId(deliveryId, 'deliveryId', 'delivery');
    return this.scope.run(organizationId, async (tx) => {
      const [rows] = await tx.query(
        `UPDATE events.deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL, updated_at = now()
          WHERE organization_id = $1 AND id = $2 AND status = 'dead' RETURNING *`,
        [organizationId, deliveryId],
      );
      if (rows.length === 0) {
        const exists = await tx.query('SELECT status FROM events.deliveries WHERE organization_id = $1 AND id = $2', [
          organizationId,
          deliveryId,
        ]);
        if (exists.length === 0) throw new NotFoundError('delivery', { id: deliveryId });
        throw new StateError(`delivery ${deliveryId} is ${exists[0].status}, not dead: only dead deliveries are redriven`);
      }
      await tx.query(`SELECT pg_notify('${DELIVERIES_CHANNEL}', $1::text)`, [organizationId]);
      return hydrate(tx, Delivery, rows)[0];
    });
  }

  /** Every dead delivery of a subscription goes out again (after fixing the subscriber); resolves with how many. */
  async redriveSubscription(organizationId: string, subscriptionId: string): Promise<number> {
    validateId(subscriptionId, 'subscriptionId', 'subscription');
    return this.scope.run(organizationId, async (tx) => {
      const [, count]: [unknown, number] = await tx.query(
        `UPDATE events.deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL, updated_at = now()
          WHERE organization_id = $1 AND subscription_id = $2 AND status = 'dead'`,
        [organizationId, subscriptionId],
      );
      if (count > 0) await tx.query(`SELECT pg_notify('${DELIVERIES_CHANNEL}', $1::text)`, [organizationId]);
      return count;
    });
  }

  /** Delivers a stored event to one subscription again, as a new delivery (whether or not the filter matches). */
  async replay(organizationId: string, eventId: string, subscriptionId: string): Promise<Delivery> {
    validateIds({ eventId, subscriptionId }, 'replay');
    return this.scope.run(organizationId, async (tx) => {
      const rows = await tx.query(
        `INSERT INTO events.deliveries (organization_id, subscription_id, event_id, event_occurred_at)
         SELECT $1, s.id, e.id, e.occurred_at FROM events.events e, events.subscriptions s
          WHERE e.organization_id = $1 AND e.id = $2 AND s.organization_id = $1 AND s.id = $3
         RETURNING *`,
        [organizationId, eventId, subscriptionId],
      );
      if (rows.length === 0) {
        const [{ event }] = await tx.query('SELECT EXISTS (SELECT 1 FROM events.events WHERE organization_id = $1 AND id = $2) AS event', [
          organizationId,
          eventId,
        ]);
        throw event ? new NotFoundError('subscription', { id: subscriptionId }) : new NotFoundError('event', { id: eventId });
      }
      await tx.query(`SELECT pg_notify('${DELIVERIES_CHANNEL}', $1::text)`, [organizationId]);
      return hydrate(tx, Delivery, rows)[0];
    });
  }

  async get(organizationId: string, deliveryId: string): Promise<Delivery> {
    validateId(deliveryId, 'deliveryId', 'delivery');
    return this.scope.run(organizationId, async (tx) => {
      const rows = await tx.query('SELECT * FROM events.deliveries WHERE organization_id = $1 AND id = $2', [organizationId, deliveryId]);
      if (rows.length === 0) throw new NotFoundError('delivery', { id: deliveryId });
      return hydrate(tx, Delivery, rows)[0];
    });
  }

  /** The deliveries of an event, oldest first. */
  async deliveriesOf(organizationId: string, eventId: string): Promise<Delivery[]> {
    validateId(eventId, 'eventId', 'event');
    return this.scope.run(organizationId, async (tx) =>
      hydrate(
        tx,
        Delivery,
        await tx.query('SELECT * FROM events.deliveries WHERE organization_id = $1 AND event_id = $2 ORDER BY created_at, id', [
          organizationId,
          eventId,
        ]),
      ),
    );
  }

  /** Every recorded try of a delivery, first first. */
  async attempts(organizationId: string, deliveryId: string): Promise<DeliveryAttempt[]> {
    validateId(deliveryId, 'deliveryId', 'delivery');
    return this.scope.run(organizationId, async (tx) =>
      hydrate(
        tx,
        DeliveryAttempt,
        await tx.query(
          'SELECT * FROM events.delivery_attempts WHERE organization_id = $1 AND delivery_id = $2 ORDER BY attempt, attempted_at',
          [organizationId, deliveryId],
        ),
      ),
    );
  }
}

function claimed(organizationId: string, row: Record<string, unknown>): ClaimedDelivery {
  const event: DeliveredEvent | null =
    row.e_id === null
      ? null
      : {
          id: row.e_id as string,
          source: row.e_source as EventSource,
          eventType: row.e_event_type as string,
          action: row.e_action as string | null,
          deliveryId: row.e_delivery_id as string,
          occurredAt: new Date(row.e_occurred_at as string),
          repositoryFullName: row.e_repository_full_name as string | null,
          repositoryId: row.e_repository_id as string | null,
          projectId: row.e_project_id as string | null,
          actor: row.e_actor as string | null,
          subject: row.e_subject as string | null,
          summary: row.e_summary as string,
          payload: row.e_payload,
        };
  return {
    id: row.id as string,
    organizationId,
    subscriptionId: row.subscription_id as string,
    attempt: row.attempts as number,
    kind: row.kind as SubscriberKind,
    url: row.url as string | null,
    signingSecret: row.signing_secret as string | null,
    handler: row.handler as string | null,
    timeoutMs: row.timeout_ms as number,
    event,
  };
}
