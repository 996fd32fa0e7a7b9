import { Webhook } from 'standardwebhooks';
import { ConflictError, NotFoundError, StateError, ValidationError, baseModule, runMaintenance, withTenant } from '@strata/base';
import { UNKNOWN_ID, expectRefused, useTestDatabase, waitFor } from '@strata/testing';
import { DeliveryWorker, EventsService, IngestInput, OutboxService, SubscriptionsService, eventsModule } from '../src';
import { createOrganization, expectNothingWritten } from './support';
import { TestSubscriber } from './subscriber';

describe('outbox and delivery worker', () => {
  const db = useTestDatabase({ modules: [baseModule, eventsModule] });
  const subscriber = new TestSubscriber();
  let org: string;
  let events: EventsService;
  let subscriptions: SubscriptionsService;
  let outbox: OutboxService;
  let sequence = 0;

  beforeAll(async () => {
    await runMaintenance(db);
    await subscriber.start();
    org = await createOrganization(db, 'outbox');
    events = new EventsService(db.dataSource);
    subscriptions = new SubscriptionsService(db.dataSource);
    outbox = new OutboxService(db.dataSource);
  });
  afterAll(() => subscriber.stop());

  /** An event only the subscription on `eventType` receives. */
  const ingest = (eventType: string, extra: Partial<IngestInput> = {}) =>
    events.ingest(org, { source: 'internal', deliveryId: `d-${++sequence}`, eventType, payload: { n: sequence }, ...extra });
  const deliveryOf = async (eventId: string) => (await outbox.deliveriesOf(org, eventId))[0];
  /** The database's clock for the outbox: makes every waiting retry due now, instead of waiting for it. */
  const retriesComeDue = () => db.query(`UPDATE events.deliveries SET next_attempt_at = now() WHERE status = 'failed'`);
  const worker = (options: Partial<ConstructorParameters<typeof DeliveryWorker>[1]> = {}) =>
    new DeliveryWorker(db.dataSource, { organizations: [org], listen: false, ...options });
  const httpSubscription = async (
    eventType: string,
    path: string,
    behaviour?: (n: number) => { status: number; headers?: Record<string, string> },
    maxAttempts = 8,
  ) =>
    subscriptions.create(org, {
      name: eventType,
      kind: 'http',
      url: subscriber.url(path, behaviour),
      filter: { eventTypes: [eventType] },
      retry: { maxAttempts, backoffBaseMs: 1000, backoffCapMs: 600_000 },
    });

  it('a subscriber that fails twice, then succeeds: one success, two recorded failures with growing delays, each request signed (Standard Webhooks)', async () => {
    const { signingSecret } = await httpSubscription('flaky', '/flaky', (n) => ({ status: n <= 2 ? 500 : 204 }));
    const event = await ingest('flaky');
    const w = worker();
    expect(await w.deliverDue(org)).toBe(1);
    expect((await deliveryOf(event.eventId)).status).toBe('failed');
    // Not due yet: nothing happens until the database clock says so.
    expect(await w.deliverDue(org)).toBe(0);
    await retriesComeDue();
    expect(await w.deliverDue(org)).toBe(1);
    await retriesComeDue();
    expect(await w.deliverDue(org)).toBe(1);
    const delivery = await deliveryOf(event.eventId);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 3, lastResponseStatus: 204, lastError: null });
    const attempts = await outbox.attempts(org, delivery.id);
    expect(attempts.map((a) => [a.attempt, a.outcome, a.responseStatus])).toEqual([
      [1, 'failed', 500],
      [2, 'failed', 500],
      [3, 'succeeded', 204],
    ]);
    const [first, second] = attempts.slice(0, 2).map((a) => (a.retryAt as Date).getTime() - a.attemptedAt.getTime());
    expect(first).toBeGreaterThanOrEqual(500); // 1 s, half of it jittered
    expect(second).toBeGreaterThan(first);
    // Verified by an independent implementation (the standardwebhooks package); the same webhook-id on every attempt.
    const requests = subscriber.requests('/flaky');
    expect(requests).toHaveLength(3);
    for (const request of requests) {
      const verified = new Webhook(signingSecret as string).verify(request.body, request.headers as Record<string, string>) as {
        type: string;
        data: { eventId: string };
      };
      expect(verified).toMatchObject({ type: 'internal.flaky', data: { eventId: event.eventId } });
    }
    expect(new Set(requests.map((r) => r.headers['webhook-id']))).toEqual(new Set([delivery.id]));
    expect(() =>
      new Webhook(signingSecret as string).verify(
        requests[0].body.replace('flaky', 'flakY'),
        requests[0].headers as Record<string, string>,
      ),
    ).toThrow();
  });

  it('a subscriber that always fails goes dead after its attempts; redriven, it is delivered once the subscriber is fixed', async () => {
    let fixed = false;
    const { subscription } = await httpSubscription('broken', '/broken', () => ({ status: fixed ? 200 : 502 }), 3);
    const event = await ingest('broken');
    const w = worker();
    for (let i = 0; i < 3; i++) {
      await retriesComeDue();
      await w.deliverDue(org);
    }
    const dead = await deliveryOf(event.eventId);
    expect(dead).toMatchObject({ status: 'dead', attempts: 3, lastResponseStatus: 502 });
    expect((await outbox.attempts(org, dead.id)).map((a) => [a.outcome, a.retryAt === null])).toEqual([
      ['failed', false],
      ['failed', false],
      ['failed', true],
    ]);
    await retriesComeDue();
    expect(await w.deliverDue(org)).toBe(0);
    fixed = true;
    await expectRefused(
      outbox.redrive(org, (await outbox.deliveriesOf(org, (await ingest('nobody')).eventId))[0]?.id ?? UNKNOWN_ID),
      NotFoundError,
      'delivery',
    );
    expect((await outbox.redrive(org, dead.id)).status).toBe('pending');
    await expectRefused(outbox.redrive(org, dead.id), StateError);
    expect(await w.deliverDue(org)).toBe(1);
    expect(await deliveryOf(event.eventId)).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(await outbox.redriveSubscription(org, subscription.id)).toBe(0);
  });

  it('410 Gone: the delivery is dead and the subscription switched off; Retry-After is honoured', async () => {
    const { subscription } = await httpSubscription('gone', '/gone', () => ({ status: 410 }));
    const [first, second] = [await ingest('gone'), await ingest('gone')];
    const w = worker({ batchSize: 1 });
    expect(await w.deliverDue(org)).toBe(1);
    expect(await deliveryOf(first.eventId)).toMatchObject({ status: 'dead', lastResponseStatus: 410 });
    expect(await subscriptions.get(org, subscription.id)).toMatchObject({
      active: false,
      disabledReason: 'the subscriber answered 410 Gone',
    });
    // The other delivery waits for the subscription to be switched on again.
    expect(await w.deliverDue(org)).toBe(0);
    expect((await deliveryOf(second.eventId)).status).toBe('pending');

    await httpSubscription('busy', '/busy', (n) => (n === 1 ? { status: 503, headers: { 'retry-after': '120' } } : { status: 200 }));
    const busy = await ingest('busy');
    const before = Date.now();
    await w.deliverDue(org);
    const [attempt] = await outbox.attempts(org, (await deliveryOf(busy.eventId)).id);
    expect(attempt).toMatchObject({ outcome: 'failed', responseStatus: 503 });
    expect((attempt.retryAt as Date).getTime()).toBeGreaterThanOrEqual(before + 119_000);
  });

  it("an internal subscriber runs in the delivery's transaction: its writes commit with the success, or not at all", async () => {
    await subscriptions.create(org, { name: 'internal', kind: 'internal', handler: 'record', filter: { eventTypes: ['record-me'] } });
    let failing = true;
    const w = worker({
      handlers: {
        record: async (tx, event) => {
          await events
            .with(tx)
            .ingest(org, { source: 'internal', deliveryId: `handled-${event.id}`, eventType: 'handled', payload: { of: event.id } });
          if (failing) throw new Error('the handler failed after writing');
        },
      },
    });
    const event = await ingest('record-me');
    await w.deliverDue(org);
    expect(await deliveryOf(event.eventId)).toMatchObject({ status: 'failed', lastError: 'Error: the handler failed after writing' });
    expect(await events.findByDeliveryId(org, 'internal', `handled-${event.eventId}`)).toBeNull();
    failing = false;
    await retriesComeDue();
    await w.deliverDue(org);
    expect((await deliveryOf(event.eventId)).status).toBe('succeeded');
    expect((await events.findByDeliveryId(org, 'internal', `handled-${event.eventId}`))?.event?.payload).toEqual({ of: event.eventId });
    // No handler of that name in this worker: a failed attempt, retried later.
    const { subscription: unhandledSubscription } = await subscriptions.create(org, {
      name: 'unhandled',
      kind: 'internal',
      handler: 'nobody.home',
      filter: { eventTypes: ['unhandled'] },
    });
    const unhandled = await ingest('unhandled');
    await worker().deliverDue(org);
    expect((await deliveryOf(unhandled.eventId)).lastError).toMatch(/no internal handler named "nobody.home"/);
    // Switched off, its retries wait and stay out of the other tests' workers.
    await subscriptions.update(org, unhandledSubscription.id, { active: false });
  });

  it('workers share the outbox: SKIP LOCKED gives each delivery to one of them', async () => {
    await httpSubscription('shared', '/shared');
    const ids = (
      await events.ingestMany(
        org,
        Array.from({ length: 40 }, (_, i) => ({
          source: 'internal' as const,
          deliveryId: `shared-${i}`,
          eventType: 'shared',
          payload: {},
        })),
      )
    ).map((r) => r.eventId);
    const workers = Array.from({ length: 4 }, (_, i) => worker({ workerId: `w${i}`, batchSize: 3 }));
    const counts = await Promise.all(workers.map((w) => w.deliverDue(org)));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(40);
    const requests = subscriber.requests('/shared');
    expect(requests).toHaveLength(40);
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(40);
    for (const id of ids) expect((await deliveryOf(id)).status).toBe('succeeded');
  });

  it('a lease that runs out returns the delivery to the outbox; the worker that lost it can no longer report it', async () => {
    await httpSubscription('leased', '/leased');
    const event = await ingest('leased');
    const [claimed] = await outbox.claim(org, { workerId: 'slow', count: 1, leaseSeconds: 60 });
    expect(claimed).toMatchObject({ attempt: 1, kind: 'http', event: { id: event.eventId, eventType: 'leased' } });
    expect(await outbox.claim(org, { workerId: 'other', count: 10 })).toEqual([]);
    await db.query(`UPDATE events.deliveries SET locked_until = now() - interval '1 second' WHERE id = $1`, [claimed.id]);
    const [again] = await outbox.claim(org, { workerId: 'other', count: 10 });
    expect(again).toMatchObject({ id: claimed.id, attempt: 2 });
    await expectRefused(outbox.complete(org, claimed.id, { workerId: 'slow', durationMs: 5 }), StateError);
    await outbox.complete(org, claimed.id, { workerId: 'other', durationMs: 5, responseStatus: 200 });
    expect((await outbox.get(org, claimed.id)).status).toBe('succeeded');
  });

  it('replays a stored event to one subscription as a new delivery', async () => {
    const { subscription } = await httpSubscription('replayed', '/replayed');
    const event = await ingest('replayed');
    await worker().deliverDue(org);
    const replay = await outbox.replay(org, event.eventId, subscription.id);
    expect(replay).toMatchObject({ status: 'pending', eventId: event.eventId, subscriptionId: subscription.id });
    await worker().deliverDue(org);
    expect((await outbox.deliveriesOf(org, event.eventId)).map((d) => d.status)).toEqual(['succeeded', 'succeeded']);
    expect(subscriber.requests('/replayed')).toHaveLength(2);
    await expectNothingWritten(db, async () => {
      await expectRefused(outbox.replay(org, UNKNOWN_ID, subscription.id), NotFoundError, 'event');
      await expectRefused(outbox.replay(org, event.eventId, UNKNOWN_ID), NotFoundError, 'subscription');
      await expectRefused(outbox.replay(org, 'x', subscription.id), ValidationError, ['eventId']);
    });
  });

  it('a waiting worker is woken by the NOTIFY of the ingest transaction (in one process: by wake()); without one, polling delivers', async () => {
    await httpSubscription('woken', '/woken');
    // The embedded database's one session cannot notify another client: there, the hint comes from the process.
    const notify = db.kind !== 'embedded';
    let pauses = 0;
    const listening = worker({ listen: notify, pollIntervalMs: 3_600_000, onPause: () => pauses++ });
    await listening.start();
    try {
      // The worker has looked at the outbox once and now waits for an hour, or for the hint.
      await waitFor(() => pauses === 1);
      const event = await ingest('woken');
      if (!notify) listening.wake(org);
      await waitFor(async () => (await deliveryOf(event.eventId)).status === 'succeeded');
      expect(pauses).toBeLessThanOrEqual(2);
    } finally {
      await listening.stop();
    }
    const polling = worker({ listen: false, pollIntervalMs: 10 });
    await polling.start();
    try {
      const event = await ingest('woken');
      await waitFor(async () => (await deliveryOf(event.eventId)).status === 'succeeded');
    } finally {
      await polling.stop();
    }
    expect(subscriber.requests('/woken')).toHaveLength(2);
  });

  it('refuses bad subscriptions and outbox calls naming the field, and writes nothing', async () => {
    await expectNothingWritten(db, async () => {
      await expectRefused(subscriptions.create(org, { name: 'x', kind: 'http' }), ValidationError, ['url']);
      await expectRefused(subscriptions.create(org, { name: 'x', kind: 'internal' }), ValidationError, ['handler']);
      await expectRefused(
        subscriptions.create(org, { name: 'x', kind: 'internal', handler: 'h', url: 'http://127.0.0.1/' }),
        ValidationError,
        ['url'],
      );
      await expectRefused(subscriptions.create(org, { name: 'x', kind: 'http', url: 'ftp://example.com/' }), ValidationError, ['url']);
      await expectRefused(subscriptions.create(org, { name: 'flaky', kind: 'internal', handler: 'h' }), ConflictError, ['name']);
      await expectRefused(
        subscriptions.create(org, {
          name: 'x',
          kind: 'internal',
          handler: 'h',
          retry: { maxAttempts: 0 },
          filter: { sources: ['gitlab'] },
        }),
        ValidationError,
        ['retry.maxAttempts', 'filter.sources'],
      );
      await expectRefused(
        subscriptions.create(org, { name: 'x', kind: 'internal', handler: 'h', retry: { backoffBaseMs: 5000, backoffCapMs: 1000 } }),
        ValidationError,
        ['retry.backoffCapMs'],
      );
      await expectRefused(outbox.claim(org, { workerId: '', count: 0 }), ValidationError, ['workerId', 'count']);
      await expectRefused(outbox.fail(org, UNKNOWN_ID, { workerId: 'w', error: 'e', durationMs: 1 }), StateError);
    });
    // A bound outbox works in the caller's transaction.
    await withTenant(db.dataSource, org, async (tx) =>
      expect(await outbox.with(tx).claim(org, { workerId: 'bound', count: 1 })).toEqual([]),
    );
  });
});
