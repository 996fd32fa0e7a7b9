import { IncomingMessage, Server, ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import type { EndpointSource } from '../entities';
import { EnvelopeError, EventEnvelope, genericEnvelope, githubEnvelope, linearEnvelope, slackEnvelope } from '../normalize';
import { EventsService, IngestResult } from '../services/events.service';
import { WebhookEndpointsService, parseEndpointToken } from '../services/webhook-endpoints.service';
import { Headers, SignatureCheck, verifyGitHub, verifyLinear, verifySlack, verifyStandardWebhook } from '../signatures';

/** GitHub's largest webhook payload. */
export const MAX_BODY_BYTES = 25 * 1024 * 1024;

export interface WebhookReceiverOptions {
  /** The inbox requests are stored in (default: an EventsService on the DataSource, without a repository resolver). */
  events?: EventsService;
  maxBodyBytes?: number;
  /** The clock of the signature windows and the rate limit (milliseconds). */
  now?: () => number;
  /** One line per failure of the receiver itself; never a secret, a signature or a body. */
  log?: (line: string) => void;
  /** After each stored event (e.g. to wake a delivery worker in the same process). */
  onIngested?: (organizationId: string, result: IngestResult) => void;
}

/** Counters since the receiver started; `refused` by reason (unknown_endpoint, bad_signature, too_large …). */
export interface ReceiverMetrics {
  received: number;
  stored: number;
  duplicates: number;
  challenges: number;
  refused: Record<string, number>;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
  /** Why it was refused, for the metrics. */
  refused?: string;
}

const refusal = (status: number, reason: string, message: string, headers?: Record<string, string>): Answer => ({
  status,
  body: { error: reason, message },
  headers,
  refused: reason,
});

const VERIFY: Record<EndpointSource, (body: Buffer, headers: Headers, secrets: string[], now: number) => SignatureCheck> = {
  github: (body, headers, secrets) => verifyGitHub(body, headers, secrets),
  linear: verifyLinear,
  slack: verifySlack,
  generic: verifyStandardWebhook,
};

const ENVELOPE: Record<EndpointSource, (headers: Headers, payload: unknown, receivedAt: Date) => EventEnvelope> = {
  github: githubEnvelope,
  linear: linearEnvelope,
  slack: slackEnvelope,
  generic: genericEnvelope,
};

/**
 * The webhook receiver: `POST /webhooks/<token>` (node:http, no framework).
 * It reads the raw body (at most 25 MB: a larger declared length is refused
 * with 413 before a byte of it is read), finds the endpoint inside its
 * organization, applies the endpoint's rate limit, checks the signature on the
 * raw bytes, then stores receipt, event and deliveries in one transaction and
 * answers 200 with the event id (the first copy's for a duplicate). Whatever
 * is refused (401 signature, 404 endpoint, 413, 415, 400 …) stores nothing.
 * Also `GET /metrics` (the counters, JSON) and `GET /healthz`.
 */
export class WebhookReceiver {
  readonly metrics: ReceiverMetrics = { received: 0, stored: 0, duplicates: 0, challenges: 0, refused: {} };
  readonly server: Server;
  private readonly events: EventsService;
  private readonly endpoints: WebhookEndpointsService;
  private readonly maxBodyBytes: number;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly onIngested?: (organizationId: string, result: IngestResult) => void;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(dataSource: DataSource, options: WebhookReceiverOptions = {}) {
    this.events = options.events ?? new EventsService(dataSource);
    this.endpoints = new WebhookEndpointsService(dataSource);
    this.maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
    this.now = options.now ?? Date.now;
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.onIngested = options.onIngested;
    this.server = createServer((request, response) => void this.handle(request, response));
  }

  /** Listens on `port` (0: any free one) and resolves with the port taken. */
  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const answer = await this.answer(request).catch((error: unknown): Answer => {
      this.log(`webhook receiver: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
      return refusal(500, 'internal', 'the event could not be stored; send it again');
    });
    if (answer.refused) this.metrics.refused[answer.refused] = (this.metrics.refused[answer.refused] ?? 0) + 1;
    const body = JSON.stringify(answer.body);
    // A request whose body was not read (too large, wrong type) ends the connection: the rest of it is never read.
    const unread = !request.readableEnded;
    response.writeHead(answer.status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      ...(unread ? { connection: 'close' } : {}),
      ...answer.headers,
    });
    response.end(body, () => {
      if (unread) request.destroy();
    });
  }

  private async answer(request: IncomingMessage): Promise<Answer> {
    const url = new URL(request.url ?? '/', 'http://receiver');
    if (request.method === 'GET' && url.pathname === '/healthz') return { status: 200, body: { ok: true } };
    if (request.method === 'GET' && url.pathname === '/metrics') return { status: 200, body: { ...this.metrics } };
    const match = /^\/webhooks\/([^/]+)$/.exec(url.pathname);
    if (!match) return refusal(404, 'not_found', 'POST webhooks to /webhooks/<endpoint token>');
    if (request.method !== 'POST') return refusal(405, 'method_not_allowed', 'webhooks are POSTed', { allow: 'POST' });
    this.metrics.received++;
    const target = parseEndpointToken(match[1]);
    if (!target) return refusal(404, 'unknown_endpoint', 'no such webhook endpoint');
    const contentType = (request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (contentType !== 'application/json') {
      return refusal(415, 'unsupported_media_type', 'send the payload as application/json (for GitHub: the webhook\'s "Content type")');
    }
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (declared > this.maxBodyBytes) return this.tooLarge();
    const body = await readBody(request, this.maxBodyBytes);
    if (body === 'too_large') return this.tooLarge();
    if (body === 'aborted') return refusal(400, 'truncated_body', 'the request ended before its body did');

    const keys = await this.endpoints.verificationKeys(target.organizationId, target.endpointId);
    if (!keys) return refusal(404, 'unknown_endpoint', 'no such webhook endpoint');
    if (!keys.active) return refusal(404, 'inactive_endpoint', 'no such webhook endpoint');
    const now = this.now();
    const wait = this.take(keys.endpointId, keys.rateLimitPerMinute, now);
    if (wait > 0) return refusal(429, 'rate_limited', 'too many requests for this endpoint', { 'retry-after': String(wait) });
    const check = VERIFY[keys.source](body, request.headers, keys.secrets, now);
    if (!check.ok) return refusal(401, check.reason, 'the signature does not verify');

    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch (error) {
      return refusal(400, 'invalid_json', `the body is not JSON: ${(error as Error).message}`);
    }
    const slack = payload as { type?: unknown; challenge?: unknown };
    if (keys.source === 'slack' && slack?.type === 'url_verification' && typeof slack.challenge === 'string') {
      this.metrics.challenges++;
      return { status: 200, body: { challenge: slack.challenge } };
    }
    let envelope: EventEnvelope;
    try {
      envelope = ENVELOPE[keys.source](request.headers, payload, new Date(now));
    } catch (error) {
      if (error instanceof EnvelopeError) return refusal(400, 'invalid_envelope', `${error.field}: ${error.message}`);
      throw error;
    }
    const result = await this.events.ingest(target.organizationId, {
      source: envelope.source,
      deliveryId: envelope.deliveryId,
      eventType: envelope.eventType,
      action: envelope.action,
      occurredAt: envelope.occurredAt,
      endpointId: keys.endpointId,
      repository: envelope.repository,
      actor: envelope.actor?.slice(0, 255) ?? null,
      subject: envelope.subject?.slice(0, 255) ?? null,
      summary: envelope.summary,
      headers: envelope.headers,
      payload: payload as object,
    });
    if (result.duplicate) this.metrics.duplicates++;
    else this.metrics.stored++;
    this.onIngested?.(target.organizationId, result);
    return { status: 200, body: { eventId: result.eventId, duplicate: result.duplicate } };
  }

  private tooLarge(): Answer {
    return refusal(413, 'too_large', `the body is larger than ${this.maxBodyBytes} bytes`);
  }

  /** A token bucket per endpoint, refilled at the endpoint's rate: 0 when the request may go on, else the seconds to wait. */
  private take(endpointId: string, perMinute: number, now: number): number {
    const bucket = this.buckets.get(endpointId) ?? { tokens: perMinute, at: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + ((now - bucket.at) * perMinute) / 60_000);
    bucket.at = now;
    this.buckets.set(endpointId, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - bucket.tokens) * 60) / perMinute));
  }
}

/** The whole body, unless it grows past `limit` (then reading stops) or the request ends early. */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | 'too_large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: Buffer | 'too_large' | 'aborted') => {
      request.removeAllListeners('data');
      resolve(result);
    };
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.pause();
        finish('too_large');
      } else chunks.push(chunk);
    });
    request.on('end', () => finish(Buffer.concat(chunks, size)));
    request.on('aborted', () => finish('aborted'));
    request.on('error', () => finish('aborted'));
  });
}
