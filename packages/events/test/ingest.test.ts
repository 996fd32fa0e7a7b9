import { ValidationError, baseModule, runMaintenance, withTenant } from '@strata/base';
import { expectRefused, useTestDatabase } from '@strata/testing';
import { EventsService, IngestInput, RepositoryResolver, eventsModule } from '../src';
import { createOrganization, expectNothingWritten, rowCounts } from './support';

describe('ingest', () => {
  const db = useTestDatabase({ modules: [baseModule, eventsModule] });
  let org: string;
  let events: EventsService;

  const pullRequestOpened = (deliveryId: string, extra: Partial<IngestInput> = {}): IngestInput => ({
    source: 'github',
    deliveryId,
    eventType: 'pull_request',
    action: 'opened',
    repository: { externalId: '1296269', fullName: 'octo/hello' },
    actor: 'octocat',
    subject: 'pull_request#42',
    payload: { action: 'opened', number: 42 },
    ...extra,
  });
  const subscribe = (
    name: string,
    filter: { sources?: string[]; event_types?: string[]; actions?: string[]; repository_full_name?: string },
  ) =>
    withTenant(db.dataSource, org, (tx) =>
      tx.query(
        `INSERT INTO events.subscriptions (organization_id, name, kind, handler, sources, event_types, actions, repository_full_name)
         VALUES ($1, $2, 'internal', 'test', $3, $4, $5, $6)`,
        [org, name, filter.sources ?? null, filter.event_types ?? null, filter.actions ?? null, filter.repository_full_name ?? null],
      ),
    );

  beforeAll(async () => {
    await runMaintenance(db);
    org = await createOrganization(db, 'ingest');
    events = new EventsService(db.dataSource);
    await subscribe('every pull request', { event_types: ['pull_request'] });
    await subscribe('opened in octo/hello', { actions: ['opened'], repository_full_name: 'OCTO/hello' });
    await subscribe('pushes only', { event_types: ['push'] });
  });

  it('stores the receipt, the event, the hourly and daily counters and one delivery per matching subscription, in one transaction', async () => {
    const before = await rowCounts(db);
    const result = await events.ingest(org, pullRequestOpened('d-first'));
    expect(result).toMatchObject({ duplicate: false, deliveries: 2 });
    expect(await rowCounts(db)).toEqual({
      ...before,
      'events.events': before['events.events'] + 1,
      'events.event_receipts': before['events.event_receipts'] + 1,
      'events.event_aggregations': before['events.event_aggregations'] + 2,
      'events.deliveries': before['events.deliveries'] + 2,
    });
    const stored = await events.get(org, result.eventId);
    expect(stored).toMatchObject({
      source: 'github',
      deliveryId: 'd-first',
      eventType: 'pull_request',
      action: 'opened',
      repositoryExternalId: '1296269',
      repositoryFullName: 'octo/hello',
      repositoryId: null,
      actor: 'octocat',
      subject: 'pull_request#42',
      summary: 'pull_request.opened',
      payload: { action: 'opened', number: 42 },
    });
    const counters = await events.aggregations(org, {
      granularity: 'hour',
      since: new Date(Date.now() - 3600_000),
      until: new Date(Date.now() + 3600_000),
    });
    expect(counters.map((c) => [c.source, c.eventType, c.action, c.repository, c.eventCount])).toEqual([
      ['github', 'pull_request', 'opened', 'octo/hello', '1'],
    ]);
  });

  it('a delivery id seen before is a duplicate: the first event id, nothing stored twice, the receipt counts the copy', async () => {
    const first = await events.ingest(org, pullRequestOpened('d-again'));
    const before = await rowCounts(db);
    const again = await events.ingest(org, pullRequestOpened('d-again', { payload: { changed: true } }));
    expect(again).toEqual({ eventId: first.eventId, occurredAt: first.occurredAt, duplicate: true, deliveries: 0 });
    expect(await rowCounts(db)).toEqual(before);
    const found = await events.findByDeliveryId(org, 'github', 'd-again');
    expect(found?.receipt.receivedCount).toBe(2);
    expect(found?.event?.payload).toEqual({ action: 'opened', number: 42 });
  });

  it('copies of one delivery arriving at the same moment make one event', async () => {
    const copies = await Promise.all(Array.from({ length: 8 }, () => events.ingest(org, pullRequestOpened('d-concurrent'))));
    expect(new Set(copies.map((c) => c.eventId)).size).toBe(1);
    expect(copies.filter((c) => !c.duplicate)).toHaveLength(1);
    const [{ n }] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM events.events WHERE delivery_id = 'd-concurrent'`);
    expect(n).toBe(1);
    const [{ d }] = await db.query<{ d: number }>(`SELECT count(*)::int AS d FROM events.deliveries WHERE event_id = $1`, [
      copies[0].eventId,
    ]);
    expect(d).toBe(2);
  });

  it('a redelivery after retention dropped the event’s partition is still recognised by its receipt', async () => {
    const longAgo = new Date();
    longAgo.setUTCMonth(longAgo.getUTCMonth() - 15);
    const first = await events.ingest(org, pullRequestOpened('d-old', { occurredAt: longAgo }));
    // Maintenance moves the event out of the DEFAULT partition into its month, which is past retention (13 months): dropped.
    await runMaintenance(db, 'events.events');
    expect(await db.query(`SELECT id FROM events.events WHERE id = $1`, [first.eventId])).toEqual([]);
    const again = await events.ingest(org, pullRequestOpened('d-old', { occurredAt: longAgo }));
    expect(again).toMatchObject({ eventId: first.eventId, duplicate: true });
    expect(await db.query(`SELECT id FROM events.events WHERE delivery_id = 'd-old'`)).toEqual([]);
    expect((await events.findByDeliveryId(org, 'github', 'd-old'))?.event).toBeNull();
  });

  it('receipts have their own retention, counted from the last copy received', async () => {
    await events.ingest(org, pullRequestOpened('e-recent'));
    const old = await events.ingest(org, pullRequestOpened('e-old'));
    await db.query(`UPDATE events.event_receipts SET last_received_at = now() - interval '26 months' WHERE delivery_id = 'e-old'`);
    expect(await events.expireReceipts(org)).toBe(1);
    expect(await events.findByDeliveryId(org, 'github', 'e-old')).toBeNull();
    expect(await events.findByDeliveryId(org, 'github', 'e-recent')).not.toBeNull();
    // Forgotten: the same delivery id is a new event now.
    expect(await events.ingest(org, pullRequestOpened('e-old'))).toMatchObject({ duplicate: false });
    expect((await events.get(org, old.eventId)).deliveryId).toBe('e-old');
    await expectRefused(events.expireReceipts(org, 'a while'), ValidationError, ['olderThan']);
  });

  it("works inside the caller's transaction: rolled back with it, committed with it", async () => {
    const before = await rowCounts(db);
    await expect(
      withTenant(db.dataSource, org, async (tx) => {
        await events
          .with(tx)
          .ingest(org, { source: 'internal', deliveryId: 'task-1-done', eventType: 'task.completed', payload: { taskId: 1 } });
        throw new Error('the rest of the work failed');
      }),
    ).rejects.toThrow('the rest of the work failed');
    expect(await rowCounts(db)).toEqual(before);
    const kept = await withTenant(db.dataSource, org, (tx) =>
      events.with(tx).ingest(org, { source: 'internal', deliveryId: 'task-1-done', eventType: 'task.completed', payload: { taskId: 1 } }),
    );
    expect((await events.get(org, kept.eventId)).source).toBe('internal');
  });

  it('a batch is one statement; a delivery id repeated within it is one event', async () => {
    const results = await events.ingestMany(org, [
      pullRequestOpened('b-1'),
      pullRequestOpened('b-2', { eventType: 'push', action: null }),
      pullRequestOpened('b-1'),
    ]);
    expect(results.map((r) => [r.duplicate, r.deliveries])).toEqual([
      [false, 2],
      [false, 1], // 'pushes only'
      [true, 0],
    ]);
    expect(results[2].eventId).toBe(results[0].eventId);
  });

  it('resolves repository_id and project_id with the resolver, in the ingest transaction', async () => {
    const repositoryId = '11111111-1111-4111-8111-111111111111';
    const calls: unknown[] = [];
    const resolveRepository: RepositoryResolver = async (tx, organizationId, repository) => {
      calls.push([organizationId, repository, await tx.query(`SELECT current_setting('strata.organization_id') AS o`)]);
      return repository.fullName === 'octo/hello' ? { repositoryId, projectId: null } : null;
    };
    const resolving = new EventsService(db.dataSource, { resolveRepository });
    const known = await resolving.ingest(org, pullRequestOpened('r-1'));
    const unknown = await resolving.ingest(org, pullRequestOpened('r-2', { repository: { externalId: '9', fullName: 'octo/other' } }));
    expect((await events.get(org, known.eventId)).repositoryId).toBe(repositoryId);
    expect((await events.get(org, unknown.eventId)).repositoryId).toBeNull();
    expect(calls[0]).toEqual([org, { source: 'github', externalId: '1296269', fullName: 'octo/hello' }, [{ o: org }]]);
    const page = await events.list(org, { repositoryId, limit: 10 });
    expect(page.items.map((e) => e.id)).toEqual([known.eventId]);
  });

  it('lists newest first by repository or type, in keyset pages', async () => {
    const base = Date.now() - 60_000;
    for (let i = 0; i < 5; i++) {
      await events.ingest(
        org,
        pullRequestOpened(`l-${i}`, {
          eventType: 'issues',
          repository: { fullName: 'octo/listed' },
          occurredAt: new Date(base + i * 1000),
        }),
      );
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await events.list(org, { repositoryFullName: 'octo/listed', limit: 2, cursor });
      seen.push(...page.items.map((e) => e.deliveryId));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(['l-4', 'l-3', 'l-2', 'l-1', 'l-0']);
    const window = await events.list(org, { eventType: 'issues', since: new Date(base + 1000), until: new Date(base + 3000) });
    expect(window.items.map((e) => e.deliveryId)).toEqual(['l-2', 'l-1']);
  });

  it('refuses bad input naming the field, and writes nothing', async () => {
    await expectNothingWritten(db, async () => {
      await expectRefused(events.ingest(org, { ...pullRequestOpened('x'), source: 'gitlab' as never }), ValidationError, ['source']);
      await expectRefused(events.ingest(org, { ...pullRequestOpened(''), eventType: '' }), ValidationError, ['deliveryId', 'eventType']);
      await expectRefused(events.ingest(org, { ...pullRequestOpened('x'), payload: 'text' }), ValidationError, ['payload']);
      await expectRefused(events.ingest(org, { ...pullRequestOpened('x'), payload: undefined }), ValidationError, ['payload']);
      await expectRefused(events.ingest(org, { ...pullRequestOpened('x'), occurredAt: 'yesterday' as never }), ValidationError, [
        'occurredAt',
      ]);
      await expectRefused(events.ingest(org, { ...pullRequestOpened('x'), colour: 'red' } as never), ValidationError, ['colour']);
      await expectRefused(events.ingestMany(org, []), ValidationError, ['(input)']);
    });
  });
});
