import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { baseModule } from '@strata/base';
import { useTestDatabase, waitFor } from '@strata/testing';
import { SubscriptionsService, WebhookEndpointsService, eventsModule } from '../src';
import { createOrganization } from './support';
import { post } from './receiver-support';
import { TestSubscriber } from './subscriber';

const CLI = join(__dirname, '..', 'dist', 'cli.js');

/** The port the CLI reports once it receives. */
function receivingOn(child: ChildProcess): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /receiving on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (match) resolve(Number(match[1]));
    });
    child.stderr?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
  });
}

describe('strata-webhooks serve', () => {
  const db = useTestDatabase({ modules: [baseModule, eventsModule] });
  const subscriber = new TestSubscriber();
  beforeAll(() => subscriber.start());
  afterAll(() => subscriber.stop());

  it('runs the receiver and the delivery worker on their own: a signed GitHub ping is stored and delivered; SIGTERM stops it', async () => {
    const org = await createOrganization(db, 'cli');
    const { endpoint, secret } = await new WebhookEndpointsService(db.dataSource).create(org, { source: 'github', name: 'cli' });
    await new SubscriptionsService(db.dataSource).create(org, {
      name: 'pings',
      kind: 'http',
      url: subscriber.url('/pings'),
      filter: { eventTypes: ['ping'] },
    });
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--organization', org], {
      env: { ...process.env, DATABASE_URL: db.url, NODE_OPTIONS: '' },
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      const port = await receivingOn(child);
      const { sign } = await import('@octokit/webhooks-methods');
      const body = JSON.stringify({ zen: 'Approachable is better than simple.', hook_id: 1 });
      const response = await post(port, endpoint.path, body, {
        'x-github-event': 'ping',
        'x-github-delivery': 'cli-1',
        'x-hub-signature-256': await sign(secret, body),
      });
      expect(response).toMatchObject({ status: 200, body: { duplicate: false } });
      expect(await db.query(`SELECT event_type FROM events.events WHERE delivery_id = 'cli-1'`)).toEqual([{ event_type: 'ping' }]);
      await waitFor(() => subscriber.requests('/pings').length === 1);
      expect(JSON.parse(subscriber.requests('/pings')[0].body)).toMatchObject({
        type: 'github.ping',
        data: { eventId: response.body.eventId },
      });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('bad usage exits 2 with the usage', async () => {
    const child = spawn(process.execPath, [CLI, 'listen'], { env: { ...process.env, NODE_OPTIONS: '' } });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(2);
    expect(err).toMatch(/^usage: strata-webhooks serve/);
  });
});
