import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { generateSecret, signStandardWebhook, verifyGitHub, verifyLinear, verifySlack, verifyStandardWebhook } from '../src';

// @octokit/webhooks-methods is ESM only: loaded with a dynamic import() from this CommonJS test.
type WebhooksMethods = typeof import('@octokit/webhooks-methods');
const octokit = (): Promise<WebhooksMethods> => import('@octokit/webhooks-methods');

const SECRET = 'It’s a Secret to Everybody';
const body = Buffer.from(JSON.stringify({ action: 'opened', number: 42, note: 'ünïcode' }));
const hex = (key: string, ...parts: (string | Buffer)[]) => parts.reduce((m, p) => m.update(p), createHmac('sha256', key)).digest('hex');
const flipped = (buffer: Buffer) => Buffer.concat([buffer.subarray(0, 10), Buffer.from([buffer[10] ^ 1]), buffer.subarray(11)]);

describe('signatures on the raw body', () => {
  it('GitHub: accepts what @octokit/webhooks-methods signs, with the current or the previous secret; refuses one changed byte', async () => {
    const { sign } = await octokit();
    const signature = await sign(SECRET, body.toString('utf8'));
    expect(verifyGitHub(body, { 'x-hub-signature-256': signature }, [SECRET])).toEqual({ ok: true });
    expect(verifyGitHub(body, { 'x-hub-signature-256': signature }, ['the new one, not yet configured at GitHub', SECRET])).toEqual({
      ok: true,
    });
    expect(verifyGitHub(flipped(body), { 'x-hub-signature-256': signature }, [SECRET])).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyGitHub(body, { 'x-hub-signature-256': signature }, ['another secret'])).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyGitHub(body, {}, [SECRET])).toEqual({ ok: false, reason: 'missing_signature' });
    for (const malformed of [
      'sha1=abc',
      signature.slice(0, -1),
      `${signature}0`,
      signature.replace('sha256=', ''),
      'sha256=' + 'g'.repeat(64),
    ]) {
      expect(verifyGitHub(body, { 'x-hub-signature-256': malformed }, [SECRET])).toEqual({ ok: false, reason: 'malformed_signature' });
    }
  });

  it("GitHub: the example in GitHub's documentation", () => {
    // docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody", payload "Hello, World!".
    const signature = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(verifyGitHub(Buffer.from('Hello, World!'), { 'x-hub-signature-256': signature }, ["It's a Secret to Everybody"])).toEqual({
      ok: true,
    });
  });

  it('Linear: hex HMAC of the body, and webhookTimestamp within 60 s', () => {
    const now = Date.UTC(2026, 11, 1, 12);
    const signed = (timestamp: number) => {
      const raw = Buffer.from(JSON.stringify({ action: 'create', type: 'Issue', webhookTimestamp: timestamp }));
      return { raw, headers: { 'linear-signature': hex(SECRET, raw) } };
    };
    const fresh = signed(now - 59_000);
    expect(verifyLinear(fresh.raw, fresh.headers, [SECRET], now)).toEqual({ ok: true });
    const stale = signed(now - 61_000);
    expect(verifyLinear(stale.raw, stale.headers, [SECRET], now)).toEqual({ ok: false, reason: 'stale_timestamp' });
    expect(verifyLinear(flipped(fresh.raw), fresh.headers, [SECRET], now)).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyLinear(fresh.raw, { 'linear-signature': 'sha256=' + hex(SECRET, fresh.raw) }, [SECRET], now)).toEqual({
      ok: false,
      reason: 'malformed_signature',
    });
    expect(verifyLinear(fresh.raw, {}, [SECRET], now)).toEqual({ ok: false, reason: 'missing_signature' });
  });

  it('Slack: v0 HMAC of "v0:{timestamp}:{body}", within 5 minutes', () => {
    const now = Date.UTC(2026, 11, 1, 12);
    const raw = Buffer.from('token=xyz&team_id=T1&command=%2Fdeploy');
    const at = (seconds: number) => ({
      'x-slack-request-timestamp': String(seconds),
      'x-slack-signature': `v0=${hex(SECRET, `v0:${seconds}:`, raw)}`,
    });
    expect(verifySlack(raw, at(now / 1000 - 299), [SECRET], now)).toEqual({ ok: true });
    expect(verifySlack(raw, at(now / 1000 - 301), [SECRET], now)).toEqual({ ok: false, reason: 'stale_timestamp' });
    // The timestamp is signed: moving it forward breaks the signature.
    expect(verifySlack(raw, { ...at(now / 1000 - 301), 'x-slack-request-timestamp': String(now / 1000) }, [SECRET], now)).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(verifySlack(raw, { 'x-slack-signature': at(now / 1000)['x-slack-signature'] }, [SECRET], now)).toEqual({
      ok: false,
      reason: 'missing_signature',
    });
  });

  it('Standard Webhooks: the specification’s example, and what the standardwebhooks package verifies', () => {
    // From the Standard Webhooks reference implementations' README.
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    expect(signStandardWebhook(secret, 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
    const key = generateSecret();
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signStandardWebhook(key, 'msg_1', timestamp, body),
    };
    expect(() => new Webhook(key).verify(body.toString('utf8'), headers)).not.toThrow();
    expect(verifyStandardWebhook(body, headers, [key])).toEqual({ ok: true });
    // A sender rotating its secret signs with both; either verifies.
    const both = {
      ...headers,
      'webhook-signature': `${signStandardWebhook(generateSecret(), 'msg_1', timestamp, body)} ${headers['webhook-signature']}`,
    };
    expect(verifyStandardWebhook(body, both, [key])).toEqual({ ok: true });
    expect(verifyStandardWebhook(flipped(body), headers, [key])).toEqual({ ok: false, reason: 'bad_signature' });
    expect(verifyStandardWebhook(body, headers, [key], (timestamp + 301) * 1000)).toEqual({ ok: false, reason: 'stale_timestamp' });
  });
});
