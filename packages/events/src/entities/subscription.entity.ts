import { Check, Column, Entity, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';

export const SUBSCRIBER_KINDS = ['http', 'internal'] as const;
export type SubscriberKind = (typeof SUBSCRIBER_KINDS)[number];

/**
 * Who is told about which events: an HTTP URL (signed with the
 * subscription's own secret, Standard Webhooks) or an internal handler by name
 * (run in the delivery's transaction). The filter's lists are null for "any".
 * The retry policy: attempt n waits min(cap, base × 2^(n−1)) with full jitter,
 * up to `max_attempts`, then the delivery is dead.
 */
@Entity({ schema: 'events', name: 'subscriptions' })
@Unique(['organizationId', 'name'])
@Check(
  'subscriptions_kind_check',
  `("kind" = 'http' AND "url" IS NOT NULL AND "signing_secret" IS NOT NULL AND "handler" IS NULL) OR ("kind" = 'internal' AND "handler" IS NOT NULL AND "url" IS NULL AND "signing_secret" IS NULL)`,
)
@Check(
  'subscriptions_retry_check',
  `"max_attempts" BETWEEN 1 AND 100 AND "backoff_base_ms" > 0 AND "backoff_cap_ms" >= "backoff_base_ms" AND "timeout_ms" > 0`,
)
export class Subscription extends TenantRow {
  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'text' })
  kind!: SubscriberKind;

  @Column({ type: 'text', nullable: true })
  url!: string | null;

  @Column({ type: 'text', nullable: true, select: false })
  signingSecret!: string | null;

  @Column({ type: 'text', nullable: true })
  handler!: string | null;

  @Column({ type: 'text', array: true, nullable: true })
  sources!: string[] | null;

  @Column({ type: 'text', array: true, nullable: true })
  eventTypes!: string[] | null;

  @Column({ type: 'text', array: true, nullable: true })
  actions!: string[] | null;

  @Column({ type: 'text', nullable: true })
  repositoryFullName!: string | null;

  @Column({ type: 'integer', default: 8 })
  maxAttempts!: number;

  @Column({ type: 'integer', default: 1000 })
  backoffBaseMs!: number;

  @Column({ type: 'integer', default: 3600000 })
  backoffCapMs!: number;

  @Column({ type: 'integer', default: 10000 })
  timeoutMs!: number;

  @Column({ type: 'boolean', default: true })
  active!: boolean;

  /** Why it was switched off, e.g. `410 Gone from the subscriber`. */
  @Column({ type: 'text', nullable: true })
  disabledReason!: string | null;
}
