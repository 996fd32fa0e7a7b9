import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signature checks of the providers' webhooks, on the raw body bytes (a body
 * parsed and serialized again is not the body that was signed), comparing
 * digests in constant time. Each returns why it refused, for the receiver's
 * metrics; never the secret or the expected digest.
 */
export type SignatureRefusal = 'missing_signature' | 'malformed_signature' | 'bad_signature' | 'stale_timestamp';
export type SignatureCheck = { ok: true } | { ok: false; reason: SignatureRefusal };

/** Header names in lower case, as node:http gives them. */
export type Headers = Record<string, string | string[] | undefined>;

const OK: SignatureCheck = { ok: true };
const refuse = (reason: SignatureRefusal): SignatureCheck => ({ ok: false, reason });

/** How far a signed timestamp may be from now. */
export const LINEAR_TOLERANCE_MS = 60_000;
export const SLACK_TOLERANCE_MS = 5 * 60_000;
export const STANDARD_WEBHOOKS_TOLERANCE_MS = 5 * 60_000;

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

export function header(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function hmac(secret: string | Buffer, ...parts: (string | Buffer)[]): Buffer {
  const mac = createHmac('sha256', secret);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** Constant time for equal lengths; digests of one algorithm always have equal lengths. */
function same(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** A hex HMAC-SHA256 of `parts` under any of the secrets (the current one, or the previous during a rotation). */
function matchesHex(given: string, secrets: readonly string[], ...parts: (string | Buffer)[]): boolean {
  const digest = Buffer.from(given, 'hex');
  // Every secret is tried, so the time taken does not tell which one matched.
  return secrets.map((secret) => same(hmac(secret, ...parts), digest)).includes(true);
}

/** GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. */
export function verifyGitHub(body: Buffer, headers: Headers, secrets: readonly string[]): SignatureCheck {
  const signature = header(headers, 'x-hub-signature-256');
  if (signature === undefined) return refuse('missing_signature');
  const match = /^sha256=(.*)$/.exec(signature);
  if (!match || !HEX_SHA256.test(match[1])) return refuse('malformed_signature');
  return matchesHex(match[1], secrets, body) ? OK : refuse('bad_signature');
}

/**
 * Linear: `Linear-Signature: <hex HMAC-SHA256 of the body>`, and the
 * payload's `webhookTimestamp` (milliseconds; or the `Linear-Timestamp`
 * header) at most 60 s from now, so a captured request cannot be replayed later.
 */
export function verifyLinear(body: Buffer, headers: Headers, secrets: readonly string[], now = Date.now()): SignatureCheck {
  const signature = header(headers, 'linear-signature');
  if (signature === undefined) return refuse('missing_signature');
  if (!HEX_SHA256.test(signature)) return refuse('malformed_signature');
  if (!matchesHex(signature, secrets, body)) return refuse('bad_signature');
  const timestamp = Number(header(headers, 'linear-timestamp') ?? bodyTimestamp(body));
  return Number.isFinite(timestamp) && Math.abs(now - timestamp) <= LINEAR_TOLERANCE_MS ? OK : refuse('stale_timestamp');
}

function bodyTimestamp(body: Buffer): unknown {
  try {
    return (JSON.parse(body.toString('utf8')) as { webhookTimestamp?: unknown }).webhookTimestamp;
  } catch {
    return undefined;
  }
}

/**
 * Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{body}">`
 * with `X-Slack-Request-Timestamp` (seconds) at most 5 minutes from now.
 */
export function verifySlack(body: Buffer, headers: Headers, secrets: readonly string[], now = Date.now()): SignatureCheck {
  const signature = header(headers, 'x-slack-signature');
  const timestamp = header(headers, 'x-slack-request-timestamp');
  if (signature === undefined || timestamp === undefined) return refuse('missing_signature');
  const match = /^v0=(.*)$/.exec(signature);
  if (!match || !HEX_SHA256.test(match[1]) || !/^\d{1,12}$/.test(timestamp)) return refuse('malformed_signature');
  if (!matchesHex(match[1], secrets, `v0:${timestamp}:`, body)) return refuse('bad_signature');
  return Math.abs(now - Number(timestamp) * 1000) <= SLACK_TOLERANCE_MS ? OK : refuse('stale_timestamp');
}

/**
 * Standard Webhooks (https://www.standardwebhooks.com): `webhook-signature:
 * v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, possibly several
 * space-separated (a sender rotating its secret signs with both), the key
 * being the base64 after `whsec_`. Strata signs its outbound deliveries so,
 * and a `generic` endpoint verifies them so.
 */
export function signStandardWebhook(secret: string, id: string, timestampSeconds: number, body: Buffer | string): string {
  return `v1,${hmac(standardWebhookKey(secret), `${id}.${timestampSeconds}.`, body).toString('base64')}`;
}

export function verifyStandardWebhook(body: Buffer, headers: Headers, secrets: readonly string[], now = Date.now()): SignatureCheck {
  const id = header(headers, 'webhook-id');
  const timestamp = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (id === undefined || timestamp === undefined || signatures === undefined) return refuse('missing_signature');
  if (!/^\d{1,12}$/.test(timestamp)) return refuse('malformed_signature');
  const given = signatures
    .split(' ')
    .map((s) => /^v1,([A-Za-z0-9+/]+={0,2})$/.exec(s)?.[1])
    .filter((s): s is string => s !== undefined)
    .map((s) => Buffer.from(s, 'base64'));
  if (given.length === 0) return refuse('malformed_signature');
  const expected = secrets.map((secret) => hmac(standardWebhookKey(secret), `${id}.${timestamp}.`, body));
  if (!expected.flatMap((e) => given.map((g) => same(e, g))).includes(true)) return refuse('bad_signature');
  return Math.abs(now - Number(timestamp) * 1000) <= STANDARD_WEBHOOKS_TOLERANCE_MS ? OK : refuse('stale_timestamp');
}

function standardWebhookKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

/** A new random secret: `whsec_` + 32 random bytes in base64, usable by every scheme above. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}
