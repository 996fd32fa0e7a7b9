import { createHmac } from 'node:crypto';
import { baseModule, runMaintenance } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { EventsService, WebhookEndpointsService, WebhookReceiver, eventsModule } from '../src';
import { createOrganization, expectNothingWritten } from './support';
import { oneByteChanged, post, rawRequest } from './receiver-support';

// ESM-only packages: loaded with a dynamic import() from this CommonJS test.
type WebhooksMethods = typeof import('@octokit/webhooks-methods');
const webhooksMethods = (): Promise<WebhooksMethods> => import('@octokit/webhooks-methods');
const examples: { name: string; examples: Record<string, unknown>[] }[] = require('@octokit/webhooks-examples');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const hex = (key: string, ...parts: (string | Buffer)[]) => parts.reduce((m, p) => m.update(p), createHmac('sha256', key)).digest('hex');

/** What the envelope's subject must be for the event types whose subject the test can name from the payload. */
function expectedSubject(name: string, example: Json): string | null | undefined {
  if (name.startsWith('pull_request')) return `pull_request#${example.pull_request.number}`;
  if (name === 'issues' || name === 'issue_comment') return `issue#${example.issue.number}`;
  if (name === 'discussion' || name === 'discussion_comment') return `discussion#${example.discussion.number}`;
  if (name === 'push' || name === 'create' || name === 'delete') return example.ref;
  if (name === 'release') return example.release.tag_name;
  if (name === 'check_run' || name === 'workflow_job') return example[name].name;
  if (['star', 'watch', 'fork', 'ping', 'public', 'meta', 'gollum', 'organization', 'installation'].includes(name)) return null;
  return undefined; // another type: a string or null
}

describe('webhook receiver', () => {
  const db = useTestDatabase({ modules: [baseModule, eventsModule] });
  let org: string;
  let receiver: WebhookReceiver;
  let port: number;
  let clock: number | undefined;
  const endpoints = () => new WebhookEndpointsService(db.dataSource);
  const events = () => new EventsService(db.dataSource);
  const github = { path: '', secret: '' };

  beforeAll(async () => {
    await runMaintenance(db);
    org = await createOrganization(db, 'receiver');
    const created = await endpoints().create(org, { source: 'github', name: 'github', rateLimitPerMinute: 100_000 });
    Object.assign(github, { path: created.endpoint.path, secret: created.secret });
    receiver = new WebhookReceiver(db.dataSource, { maxBodyBytes: 64 * 1024, now: () => clock ?? Date.now() });
    port = await receiver.listen(0);
  });
  afterAll(() => receiver?.close());

  const postGitHub = async (name: string, deliveryId: string, body: Buffer, secret = github.secret, signedBody = body) => {
    const { sign } = await webhooksMethods();
    return post(port, github.path, body, {
      'x-github-event': name,
      'x-github-delivery': deliveryId,
      'x-hub-signature-256': await sign(secret, signedBody.toString('utf8')),
    });
  };

  it('stores every example payload of @octokit/webhooks-examples with its envelope, and refuses each with one byte changed', async () => {
    let count = 0;
    const types = new Set<string>();
    for (const { name, examples: payloads } of examples) {
      for (const [i, example] of payloads.entries()) {
        const body = Buffer.from(JSON.stringify(example));
        const deliveryId = `${name}-${i}`;
        const refused = await postGitHub(name, `${deliveryId}-changed`, oneByteChanged(body), github.secret, body);
        expect({ deliveryId, status: refused.status, error: refused.body.error }).toEqual({
          deliveryId,
          status: 401,
          error: 'bad_signature',
        });

        const response = await postGitHub(name, deliveryId, body);
        expect({ deliveryId, status: response.status, duplicate: response.body.duplicate }).toEqual({
          deliveryId,
          status: 200,
          duplicate: false,
        });
        const found = await events().findByDeliveryId(org, 'github', deliveryId);
        const event = found?.event;
        const e = example as Json;
        expect({
          deliveryId,
          envelope: event && [event.id, event.eventType, event.action, event.repositoryFullName, event.repositoryExternalId, event.actor],
        }).toEqual({
          deliveryId,
          envelope: [
            response.body.eventId,
            name,
            e.action ?? null,
            e.repository?.full_name ?? null,
            e.repository ? String(e.repository.id) : null,
            e.sender?.login ?? null,
          ],
        });
        const subject = expectedSubject(name, e);
        if (subject === undefined) expect(event?.subject === null || typeof event?.subject === 'string').toBe(true);
        else expect({ deliveryId, subject: event?.subject }).toEqual({ deliveryId, subject });
        expect(event?.payload).toEqual(example);
        expect(event?.headers).toMatchObject({ 'x-github-event': name, 'x-github-delivery': deliveryId });
        expect(Object.keys(event?.headers ?? {})).not.toContain('x-hub-signature-256');
        count++;
        types.add(name);
      }
    }
    expect(types.size).toBe(examples.length);
    expect(count).toBe(examples.reduce((n, e) => n + e.examples.length, 0));
    const [{ stored }] = await db.query<{ stored: number }>(
      `SELECT count(*)::int AS stored FROM events.events WHERE organization_id = $1`,
      [org],
    );
    expect(stored).toBe(count);
    expect(await db.query(`SELECT 1 FROM events.event_receipts WHERE delivery_id LIKE '%-changed'`)).toEqual([]);
  });

  it('a redelivery (same X-GitHub-Delivery) answers 200 with the original event id, also for copies at the same moment', async () => {
    const body = Buffer.from(JSON.stringify({ action: 'opened', number: 7, pull_request: { number: 7 } }));
    const first = await postGitHub('pull_request', 'redelivered', body);
    await expectNothingWritten(db, async () => {
      const again = await postGitHub('pull_request', 'redelivered', body);
      expect(again.body).toEqual({ eventId: first.body.eventId, duplicate: true });
    });
    const copies = await Promise.all(Array.from({ length: 8 }, () => postGitHub('pull_request', 'at-once', body)));
    expect(copies.map((c) => c.status)).toEqual(Array(8).fill(200));
    expect(new Set(copies.map((c) => c.body.eventId)).size).toBe(1);
    expect(copies.filter((c) => c.body.duplicate === false)).toHaveLength(1);
  });

  it('secret rotation: the old and the new secret during the window, only the new one after it', async () => {
    const created = await endpoints().create(org, { source: 'github', name: 'rotating', secret: 'the-first-secret-0123' });
    const send = async (secret: string, deliveryId: string) => {
      const { sign } = await webhooksMethods();
      const body = JSON.stringify({ zen: 'Keep it logically awesome.' });
      return (
        await post(port, created.endpoint.path, body, {
          'x-github-event': 'ping',
          'x-github-delivery': deliveryId,
          'x-hub-signature-256': await sign(secret, body),
        })
      ).status;
    };
    const rotated = await endpoints().rotateSecret(org, created.endpoint.id, { previousValidForSeconds: 3600 });
    expect(rotated.endpoint.previousSecretExpiresAt).not.toBeNull();
    expect([await send('the-first-secret-0123', 'rot-1'), await send(rotated.secret, 'rot-2')]).toEqual([200, 200]);
    // The window ends (the test moves it into the past, rather than waiting an hour).
    await db.query(`UPDATE events.webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1`, [
      created.endpoint.id,
    ]);
    expect([await send('the-first-secret-0123', 'rot-3'), await send(rotated.secret, 'rot-4')]).toEqual([401, 200]);
    // Reads never carry a secret.
    const read = JSON.stringify([await endpoints().get(org, created.endpoint.id), await endpoints().list(org)]);
    expect(read).not.toContain(rotated.secret);
    expect(read).not.toContain('the-first-secret-0123');
    expect(read).not.toContain(github.secret);
  });

  it('Linear: Linear-Signature over the body, webhookTimestamp within 60 s', async () => {
    const { endpoint, secret } = await endpoints().create(org, { source: 'linear', name: 'linear' });
    clock = Date.UTC(2026, 11, 1, 12, 0, 0);
    const payload = {
      action: 'create',
      type: 'Issue',
      createdAt: '2026-12-01T11:59:58.000Z',
      actor: { id: 'u-1', name: 'Ada Lovelace', type: 'user' },
      data: { id: 'i-1', identifier: 'ENG-42', title: 'Flaky build', teamId: 't-1' },
      url: 'https://linear.app/acme/issue/ENG-42',
      organizationId: 'o-1',
      webhookId: 'w-1',
      webhookTimestamp: clock - 2000,
    };
    const body = Buffer.from(JSON.stringify(payload));
    const headers = { 'linear-delivery': 'lin-1', 'linear-event': 'Issue', 'linear-signature': hex(secret, body) };
    try {
      const stored = await post(port, endpoint.path, body, headers);
      expect(stored.status).toBe(200);
      expect(await events().get(org, stored.body.eventId as string)).toMatchObject({
        source: 'linear',
        eventType: 'Issue',
        action: 'create',
        actor: 'Ada Lovelace',
        subject: 'Issue ENG-42',
        occurredAt: new Date('2026-12-01T11:59:58.000Z'),
        payload,
      });
      const late = Buffer.from(JSON.stringify({ ...payload, webhookTimestamp: clock - 61_000 }));
      await expectNothingWritten(db, async () => {
        const refused = await post(port, endpoint.path, late, {
          ...headers,
          'linear-delivery': 'lin-2',
          'linear-signature': hex(secret, late),
        });
        expect([refused.status, refused.body.error]).toEqual([401, 'stale_timestamp']);
      });
    } finally {
      clock = undefined;
    }
  });

  it('Slack: answers the url_verification challenge, stores Events API callbacks, refuses a stale timestamp', async () => {
    const { endpoint, secret } = await endpoints().create(org, {
      source: 'slack',
      name: 'slack',
      secret: '8f742231b10e8888abcd99yyyzzz85a5',
    });
    const signed = (body: string, timestamp = Math.floor(Date.now() / 1000)) => ({
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': `v0=${hex(secret, `v0:${timestamp}:`, body)}`,
    });
    await expectNothingWritten(db, async () => {
      const challenge = JSON.stringify({
        token: 'Jhj5dZrVaK7ZwHHjRyZWjbDl',
        challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
        type: 'url_verification',
      });
      const answered = await post(port, endpoint.path, challenge, signed(challenge));
      expect(answered).toMatchObject({ status: 200, body: { challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P' } });
    });
    const callback = {
      token: 'XXYYZZ',
      team_id: 'T123ABC456',
      api_app_id: 'A123ABC456',
      event: {
        type: 'app_mention',
        user: 'U123ABC456',
        text: '<@U0LAN0Z89> is it everything a river should be?',
        ts: '1515449522.000016',
        channel: 'C123ABC456',
        event_ts: '1515449522000016',
      },
      type: 'event_callback',
      event_id: 'Ev123ABC456',
      event_time: 1515449522,
    };
    const body = JSON.stringify(callback);
    const stored = await post(port, endpoint.path, body, signed(body));
    expect(stored.status).toBe(200);
    expect(await events().get(org, stored.body.eventId as string)).toMatchObject({
      source: 'slack',
      deliveryId: 'Ev123ABC456',
      eventType: 'app_mention',
      actor: 'U123ABC456',
      subject: 'channel C123ABC456',
      occurredAt: new Date(1515449522 * 1000),
    });
    // Slack retries with the same event_id.
    const retried = await post(port, endpoint.path, body, { ...signed(body), 'x-slack-retry-num': '1' });
    expect(retried.body).toEqual({ eventId: stored.body.eventId, duplicate: true });
    await expectNothingWritten(db, async () => {
      const stale = await post(port, endpoint.path, body, signed(body, Math.floor(Date.now() / 1000) - 301));
      expect([stale.status, stale.body.error]).toEqual([401, 'stale_timestamp']);
    });
  });

  it('refuses what is not a signed JSON webhook of a known, active endpoint with a clear status, and stores nothing', async () => {
    const body = Buffer.from(JSON.stringify({ zen: 'Design for failure.' }));
    const { sign } = await webhooksMethods();
    const signature = await sign(github.secret, body.toString('utf8'));
    const headers = { 'x-github-event': 'ping', 'x-github-delivery': 'refused', 'x-hub-signature-256': signature };
    const inactive = await endpoints().create(org, { source: 'github', name: 'inactive', secret: github.secret });
    await endpoints().deactivate(org, inactive.endpoint.id);
    const unknown = `/webhooks/${Buffer.alloc(32, 7).toString('base64url')}`;
    const head = (length: number | 'chunked') =>
      [
        `POST ${github.path} HTTP/1.1`,
        'Host: 127.0.0.1',
        'Content-Type: application/json',
        length === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`,
      ].join('\r\n');
    const before = { ...receiver.metrics.refused };
    await expectNothingWritten(db, async () => {
      const outcome = async (response: Promise<{ status: number; body: Record<string, unknown> }>) => {
        const { status, body: answer } = await response;
        return [status, answer.error];
      };
      expect(await outcome(post(port, unknown, body, headers))).toEqual([404, 'unknown_endpoint']);
      expect(await outcome(post(port, '/webhooks/not-a-token', body, headers))).toEqual([404, 'unknown_endpoint']);
      expect(await outcome(post(port, inactive.endpoint.path, body, headers))).toEqual([404, 'inactive_endpoint']);
      expect(await outcome(post(port, github.path, body, { ...headers, 'x-hub-signature-256': '' }))).toEqual([401, 'malformed_signature']);
      const { 'x-hub-signature-256': _, ...unsigned } = headers;
      expect(await outcome(post(port, github.path, body, unsigned))).toEqual([401, 'missing_signature']);
      expect(await outcome(post(port, github.path, body, { ...headers, 'content-type': 'application/x-www-form-urlencoded' }))).toEqual([
        415,
        'unsupported_media_type',
      ]);
      const notJson = Buffer.from('{"zen": "unfinished');
      expect(
        await outcome(
          post(port, github.path, notJson, { ...headers, 'x-hub-signature-256': await sign(github.secret, notJson.toString()) }),
        ),
      ).toEqual([400, 'invalid_json']);
      const { 'x-github-delivery': __, ...noDelivery } = headers;
      expect(await outcome(post(port, github.path, body, noDelivery))).toEqual([400, 'invalid_envelope']);
      // Larger than the limit by its Content-Length: refused before the body is sent at all.
      const declared = await rawRequest(port, head(64 * 1024 + 1));
      expect(declared?.status).toBe(413);
      expect(JSON.parse(declared?.body ?? '{}')).toMatchObject({ error: 'too_large' });
      // Chunked, without a length: refused once it passes the limit.
      const chunk = 'a'.repeat(16 * 1024);
      const chunked = await rawRequest(
        port,
        head('chunked'),
        Array(6)
          .fill(`${(16 * 1024).toString(16)}\r\n${chunk}\r\n`)
          .join(''),
      );
      expect(chunked?.status).toBe(413);
      // The sender stops before its Content-Length: nothing is stored (the answer, if any, is 400).
      const truncated = await rawRequest(port, head(body.length + 10), body.toString(), true);
      expect(truncated === null || truncated.status === 400).toBe(true);
    });
    const refused = receiver.metrics.refused;
    const added = (reason: string) => (refused[reason] ?? 0) - (before[reason] ?? 0);
    expect(
      [
        'unknown_endpoint',
        'inactive_endpoint',
        'malformed_signature',
        'missing_signature',
        'unsupported_media_type',
        'invalid_json',
        'invalid_envelope',
        'too_large',
      ].map(added),
    ).toEqual([2, 1, 1, 1, 1, 1, 1, 2]);
  });

  it('applies the endpoint’s rate limit: 429 with Retry-After once its budget is spent', async () => {
    const { endpoint, secret } = await endpoints().create(org, { source: 'github', name: 'limited', rateLimitPerMinute: 2 });
    clock = Date.UTC(2026, 11, 1, 12);
    try {
      const { sign } = await webhooksMethods();
      const send = async (deliveryId: string) => {
        const body = JSON.stringify({ zen: deliveryId });
        return post(port, endpoint.path, body, {
          'x-github-event': 'ping',
          'x-github-delivery': deliveryId,
          'x-hub-signature-256': await sign(secret, body),
        });
      };
      expect([(await send('rl-1')).status, (await send('rl-2')).status]).toEqual([200, 200]);
      const limited = await send('rl-3');
      expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '30']);
      clock += 30_000; // half a minute later, one more request's budget
      expect((await send('rl-3')).status).toBe(200);
    } finally {
      clock = undefined;
    }
  });
});
