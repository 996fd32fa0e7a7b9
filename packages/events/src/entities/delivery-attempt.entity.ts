import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { Organization } from '@strata/base';
import { Delivery } from './delivery.entity';

export const ATTEMPT_OUTCOMES = ['succeeded', 'failed', 'gone'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** One try of a delivery and how it ended. Partitioned monthly on `attempted_at`, kept 3 months. */
@Entity({ schema: 'events', name: 'delivery_attempts' })
@Index(['organizationId', 'deliveryId', 'attempt'])
@Check('delivery_attempts_outcome_check', `"outcome" IN ('succeeded', 'failed', 'gone')`)
export class DeliveryAttempt {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  @PrimaryColumn({ type: 'timestamptz', default: () => 'now()' })
  attemptedAt!: Date;

  @Column({ type: 'uuid' })
  deliveryId!: string;

  /** 1 for the first try. */
  @Column({ type: 'integer' })
  attempt!: number;

  @Column({ type: 'text' })
  outcome!: AttemptOutcome;

  @Column({ type: 'integer', nullable: true })
  responseStatus!: number | null;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ type: 'integer' })
  durationMs!: number;

  /** When the next try was scheduled after a failure. */
  @Column({ type: 'timestamptz', nullable: true })
  retryAt!: Date | null;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => Delivery, { onDelete: 'CASCADE' })
  @JoinColumn([
    { name: 'organization_id', referencedColumnName: 'organizationId' },
    { name: 'delivery_id', referencedColumnName: 'id' },
  ])
  delivery?: Delivery;
}
