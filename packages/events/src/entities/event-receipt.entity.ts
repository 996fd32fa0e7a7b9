import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Organization } from '@strata/base';
import type { EventSource } from './stored-event.entity';

/**
 * The dedupe record of one delivery: `(organization_id, source, delivery_id)`
 * is its key, so a second copy (a manual redelivery keeps GitHub's
 * `X-GitHub-Delivery`) finds the first one's event id. Not partitioned and
 * kept longer than the events it names (`EventsService.expireReceipts`): the event
 * may already be gone with its partition, the receipt still answers.
 */
@Entity({ schema: 'events', name: 'event_receipts' })
@Index(['organizationId', 'lastReceivedAt'])
@Check('event_receipts_source_check', `"source" IN ('github', 'linear', 'slack', 'generic', 'internal')`)
export class EventReceipt {
  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @PrimaryColumn({ type: 'text' })
  source!: EventSource;

  @PrimaryColumn({ type: 'text' })
  deliveryId!: string;

  @Column({ type: 'uuid' })
  eventId!: string;

  @Column({ type: 'timestamptz' })
  eventOccurredAt!: Date;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  firstReceivedAt!: Date;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  lastReceivedAt!: Date;

  /** 1, plus one for every duplicate that came after. */
  @Column({ type: 'integer', default: 1 })
  receivedCount!: number;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}
