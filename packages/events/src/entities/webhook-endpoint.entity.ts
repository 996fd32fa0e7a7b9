import { Check, Column, Entity, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';

export const ENDPOINT_SOURCES = ['github', 'linear', 'slack', 'generic'] as const;
export type EndpointSource = (typeof ENDPOINT_SOURCES)[number];

/**
 * Where one organization receives one provider's webhooks
 * (`POST /webhooks/<token>`). The signing secret, and during a rotation the
 * previous one until `previous_secret_expires_at`, are read only by the
 * receiver's verification: services never return them and nothing logs them.
 */
@Entity({ schema: 'events', name: 'webhook_endpoints' })
@Unique(['organizationId', 'name'])
@Check('webhook_endpoints_source_check', `"source" IN ('github', 'linear', 'slack', 'generic')`)
@Check('webhook_endpoints_secret_check', `length("secret") >= 16`)
@Check('webhook_endpoints_previous_secret_check', `("previous_secret" IS NULL) = ("previous_secret_expires_at" IS NULL)`)
@Check('webhook_endpoints_rate_limit_per_minute_check', `"rate_limit_per_minute" > 0`)
export class WebhookEndpoint extends TenantRow {
  @Column({ type: 'text' })
  source!: EndpointSource;

  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'boolean', default: true })
  active!: boolean;

  @Column({ type: 'text', select: false })
  secret!: string;

  @Column({ type: 'text', nullable: true, select: false })
  previousSecret!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  previousSecretExpiresAt!: Date | null;

  /** Requests per minute the receiver accepts for this endpoint; more get 429. */
  @Column({ type: 'integer', default: 600 })
  rateLimitPerMinute!: number;
}
