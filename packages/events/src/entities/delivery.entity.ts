import { Check, Column, Entity, Index, JoinColumn, ManyToOne } from 'typeorm';
import { TenantRow } from '@strata/base';
import { Subscription } from './subscription.entity';

export const DELIVERY_STATUSES = ['pending', 'delivering', 'succeeded', 'failed', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * The outbox: one event for one subscription, written in the transaction that
 * stored the event. `pending` → `delivering` (claimed under a lease, with
 * `FOR UPDATE SKIP LOCKED`) → `succeeded`, or `failed` (to be tried again at
 * `next_attempt_at`) until the attempts run out: `dead`, which can be
 * redriven. The event is named by id and occurred_at (it is partitioned).
 */
@Entity({ schema: 'events', name: 'deliveries' })
@Index(['organizationId', 'eventId'])
@Index(['organizationId', 'subscriptionId'])
@Check('deliveries_status_check', `"status" IN ('pending', 'delivering', 'succeeded', 'failed', 'dead')`)
@Check('deliveries_lock_check', `("status" = 'delivering') = ("locked_until" IS NOT NULL)`)
export class Delivery extends TenantRow {
  @Column({ type: 'uuid' })
  subscriptionId!: string;

  @Column({ type: 'uuid' })
  eventId!: string;

  @Column({ type: 'timestamptz' })
  eventOccurredAt!: Date;

  @Column({ type: 'text', default: 'pending' })
  status!: DeliveryStatus;

  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  nextAttemptAt!: Date;

  @Column({ type: 'text', nullable: true })
  lockedBy!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  lockedUntil!: Date | null;

  @Column({ type: 'integer', nullable: true })
  lastResponseStatus!: number | null;

  @Column({ type: 'text', nullable: true })
  lastError!: string | null;

  @Column({ type: 'timestamptz', nullable: true })
  succeededAt!: Date | null;

  @ManyToOne(() => Subscription, { onDelete: 'CASCADE' })
  @JoinColumn([
    { name: 'organization_id', referencedColumnName: 'organizationId' },
    { name: 'subscription_id', referencedColumnName: 'id' },
  ])
  subscription?: Subscription;
}
