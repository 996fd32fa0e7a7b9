import { ConflictError, NotFoundError, ValidationError, baseModule } from '@strata/base';
import { UNKNOWN_ID, expectRefused, useTestDatabase } from '@strata/testing';
import { WebhookEndpointsService, eventsModule, parseEndpointToken } from '../src';
import { createOrganization, expectNothingWritten } from './support';

describe('webhook endpoints', () => {
  const db = useTestDatabase({ modules: [baseModule, eventsModule] });
  let org: string;
  let other: string;
  let endpoints: WebhookEndpointsService;

  beforeAll(async () => {
    org = await createOrganization(db, 'endpoints');
    other = await createOrganization(db, 'endpoints-other');
    endpoints = new WebhookEndpointsService(db.dataSource);
  });

  it('creates an endpoint with a generated secret shown once; its path names the organization and the endpoint', async () => {
    const { endpoint, secret } = await endpoints.create(org, { source: 'github', name: 'main' });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(endpoint).toMatchObject({
      organizationId: org,
      source: 'github',
      name: 'main',
      active: true,
      rateLimitPerMinute: 600,
      previousSecretExpiresAt: null,
    });
    expect(parseEndpointToken(endpoint.path.replace('/webhooks/', ''))).toEqual({ organizationId: org, endpointId: endpoint.id });
    expect(JSON.stringify(await endpoints.get(org, endpoint.id))).not.toContain(secret);
    expect((await endpoints.verificationKeys(org, endpoint.id))?.secrets).toEqual([secret]);
  });

  it('rotation keeps the previous secret for the stated period; 0 ends it at once', async () => {
    const { endpoint, secret: first } = await endpoints.create(org, {
      source: 'linear',
      name: 'rotation',
      secret: 'linear-secret-0123456789',
    });
    const { secret: second } = await endpoints.rotateSecret(org, endpoint.id, { previousValidForSeconds: 600 });
    expect((await endpoints.verificationKeys(org, endpoint.id))?.secrets).toEqual([second, first]);
    const { secret: third, endpoint: now } = await endpoints.rotateSecret(org, endpoint.id, {
      secret: 'the-third-secret-0123',
      previousValidForSeconds: 0,
    });
    expect(third).toBe('the-third-secret-0123');
    expect(now.previousSecretExpiresAt).toBeNull();
    expect((await endpoints.verificationKeys(org, endpoint.id))?.secrets).toEqual([third]);
  });

  it('lists by name in keyset pages; another organization sees none of them', async () => {
    for (const name of ['b', 'a', 'c']) await endpoints.create(org, { source: 'slack', name: `list-${name}` });
    const first = await endpoints.list(org, { limit: 2 });
    expect(first.items.map((e) => e.name)).toEqual(['list-a', 'list-b']);
    const rest = await endpoints.list(org, { limit: 100, cursor: first.nextCursor ?? undefined });
    expect(rest.items.map((e) => e.name)).toEqual(['list-c', 'main', 'rotation']);
    expect((await endpoints.list(other)).items).toEqual([]);
    await expectRefused(endpoints.get(other, first.items[0].id), NotFoundError, 'webhook endpoint');
    expect(await endpoints.verificationKeys(other, first.items[0].id)).toBeNull();
  });

  it('refuses bad input naming the field, and writes nothing', async () => {
    const { endpoint } = await endpoints.create(org, { source: 'generic', name: 'refusals' });
    await expectNothingWritten(db, async () => {
      await expectRefused(endpoints.create(org, { source: 'generic', name: 'refusals' }), ConflictError, ['name']);
      await expectRefused(endpoints.create(org, { source: 'gitlab' as never, name: '' }), ValidationError, ['source', 'name']);
      await expectRefused(endpoints.create(org, { source: 'github', name: 'short', secret: 'short' }), ValidationError, ['secret']);
      await expectRefused(endpoints.create(org, { source: 'github', name: 'zero', rateLimitPerMinute: 0 }), ValidationError, [
        'rateLimitPerMinute',
      ]);
      await expectRefused(endpoints.rotateSecret(org, UNKNOWN_ID), NotFoundError, 'webhook endpoint');
      await expectRefused(endpoints.rotateSecret(org, endpoint.id, { previousValidForSeconds: -1 }), ValidationError, [
        'previousValidForSeconds',
      ]);
      await expectRefused(endpoints.update(org, endpoint.id, {}), ValidationError, ['(input)']);
      await expectRefused(endpoints.deactivate(org, 'nope'), ValidationError, ['endpointId']);
    });
  });
});
