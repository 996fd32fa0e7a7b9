import type { EventSource } from '../entities';
import { Headers, header } from '../signatures';

/** What Strata reads out of a provider's payload and headers: the normalized envelope of an event. */
export interface EventEnvelope {
  source: EventSource;
  /** Unique per source: `X-GitHub-Delivery`, `Linear-Delivery`, Slack's `event_id`, `webhook-id`. */
  deliveryId: string;
  eventType: string;
  action: string | null;
  /** When it happened at the source; the receipt time when the payload does not say. */
  occurredAt: Date;
  repository: { externalId: string | null; fullName: string | null } | null;
  actor: string | null;
  subject: string | null;
  summary: string;
  /** The headers worth keeping (never a signature). */
  headers: Record<string, string>;
}

/** Why a verified request still is not an event: the receiver answers 400 and stores nothing. */
export class EnvelopeError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const SUMMARY_LENGTH = 300;

type Json = Record<string, unknown>;
const object = (value: unknown): Json | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
const text = (value: unknown): string | null =>
  typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : null;

function kept(headers: Headers, names: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (const name of names) {
    const value = header(headers, name);
    if (value !== undefined) result[name] = value;
  }
  return result;
}

function summary(...parts: (string | null)[]): string {
  const line = parts.filter((p) => p !== null && p !== '').join(' ');
  return line.length > SUMMARY_LENGTH ? `${line.slice(0, SUMMARY_LENGTH - 1)}…` : line;
}

function required(value: string | null | undefined, field: string, what: string): string {
  if (value === null || value === undefined || value.length > 255)
    throw new EnvelopeError(field, `${what} is missing or longer than 255 characters`);
  return value;
}

function time(value: unknown, fallback: Date, scale = 1): Date {
  const date = typeof value === 'number' ? new Date(value * scale) : typeof value === 'string' ? new Date(value) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date : fallback;
}

/** What each GitHub event is about, read from the object the event carries. */
function githubSubject(eventType: string, payload: Json): string | null {
  const numbered = (key: string, label = key) => {
    const number = text(object(payload[key])?.number);
    return number === null ? null : `${label}#${number}`;
  };
  switch (eventType) {
    case 'pull_request':
    case 'pull_request_review':
    case 'pull_request_review_comment':
    case 'pull_request_review_thread':
      return numbered('pull_request');
    case 'issues':
    case 'issue_comment':
      // An issue comment on a pull request is still the issue's number: GitHub numbers them together.
      return numbered('issue');
    case 'discussion':
    case 'discussion_comment':
      return numbered('discussion');
    case 'milestone':
      return numbered('milestone');
    case 'push':
    case 'create':
    case 'delete':
      return text(payload.ref);
    case 'release':
      return text(object(payload.release)?.tag_name);
    case 'check_run':
    case 'check_suite':
    case 'workflow_run':
    case 'workflow_job':
    case 'deployment':
    case 'deployment_status':
    case 'label':
    case 'package':
    case 'project':
    case 'team':
    case 'membership':
      return idOrName(object(payload[eventType === 'membership' ? 'team' : eventType === 'deployment_status' ? 'deployment' : eventType]));
    default:
      return null;
  }
}

function idOrName(value: Json | undefined): string | null {
  return value ? (text(value.name) ?? text(value.id)) : null;
}

/** GitHub: the type from `X-GitHub-Event`, the delivery id from `X-GitHub-Delivery`. */
export function githubEnvelope(headers: Headers, payload: unknown, receivedAt: Date): EventEnvelope {
  const body = object(payload) ?? {};
  const eventType = required(header(headers, 'x-github-event'), 'x-github-event', 'the X-GitHub-Event header');
  const deliveryId = required(header(headers, 'x-github-delivery'), 'x-github-delivery', 'the X-GitHub-Delivery header');
  const repository = object(body.repository);
  const action = text(body.action);
  const subject = githubSubject(eventType, body);
  const fullName = text(repository?.full_name);
  const title = text(object(body.pull_request)?.title) ?? text(object(body.issue)?.title) ?? text(object(body.discussion)?.title);
  return {
    source: 'github',
    deliveryId,
    eventType,
    action,
    // GitHub sends within seconds, and no field gives every event's time: the receipt time.
    occurredAt: receivedAt,
    repository: repository ? { externalId: text(repository.id), fullName } : null,
    actor: text(object(body.sender)?.login),
    subject,
    summary: summary(action ? `${eventType}.${action}` : eventType, fullName, subject, title),
    headers: kept(headers, [
      'x-github-event',
      'x-github-delivery',
      'x-github-hook-id',
      'x-github-hook-installation-target-id',
      'x-github-hook-installation-target-type',
      'user-agent',
    ]),
  };
}

/** Linear: `Linear-Delivery` names the delivery; the payload's type, action, actor, data and createdAt the event. */
export function linearEnvelope(headers: Headers, payload: unknown, receivedAt: Date): EventEnvelope {
  const body = object(payload) ?? {};
  const data = object(body.data) ?? {};
  const actor = object(body.actor);
  const eventType = required(text(body.type) ?? header(headers, 'linear-event'), 'type', 'the payload type');
  const identifier = text(data.identifier) ?? text(data.id);
  return {
    source: 'linear',
    deliveryId: required(header(headers, 'linear-delivery'), 'linear-delivery', 'the Linear-Delivery header'),
    eventType,
    action: text(body.action),
    occurredAt: time(body.createdAt, receivedAt),
    repository: null,
    actor: actor ? (text(actor.name) ?? text(actor.id)) : null,
    subject: identifier === null ? null : `${eventType} ${identifier}`,
    summary: summary(`${eventType}.${text(body.action) ?? 'event'}`, identifier, text(data.title) ?? text(data.body)),
    headers: kept(headers, ['linear-event', 'linear-delivery', 'user-agent']),
  };
}

/** Slack's Events API: `event_id` is the delivery (a retry carries the same), the inner event's type and subtype the kind. */
export function slackEnvelope(headers: Headers, payload: unknown, receivedAt: Date): EventEnvelope {
  const body = object(payload) ?? {};
  const event = object(body.event) ?? {};
  const eventType = required(text(event.type) ?? text(body.type), 'event.type', 'the event type');
  const channel = text(event.channel);
  return {
    source: 'slack',
    deliveryId: required(text(body.event_id), 'event_id', 'the event_id'),
    eventType,
    action: text(event.subtype),
    occurredAt: time(body.event_time, receivedAt, 1000),
    repository: null,
    actor: text(event.user),
    subject: channel === null ? null : `channel ${channel}`,
    summary: summary(eventType, channel === null ? null : `in ${channel}`, text(event.text)),
    headers: kept(headers, ['x-slack-retry-num', 'x-slack-retry-reason', 'x-slack-request-timestamp']),
  };
}

/** A Standard Webhooks sender: `webhook-id` names the delivery; the payload `{ type, timestamp, data }` the event. */
export function genericEnvelope(headers: Headers, payload: unknown, receivedAt: Date): EventEnvelope {
  const body = object(payload) ?? {};
  const eventType = required(text(body.type), 'type', 'the payload type');
  return {
    source: 'generic',
    deliveryId: required(header(headers, 'webhook-id'), 'webhook-id', 'the webhook-id header'),
    eventType,
    action: null,
    occurredAt: time(body.timestamp, receivedAt),
    repository: null,
    actor: null,
    subject: null,
    summary: summary(eventType),
    headers: kept(headers, ['webhook-id', 'webhook-timestamp', 'user-agent']),
  };
}
