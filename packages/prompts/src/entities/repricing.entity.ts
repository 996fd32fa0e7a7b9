import { Check, Column, Entity, JoinColumn, ManyToOne } from 'typeorm';
import { CreatedAtColumn, Organization, OrganizationIdColumn, UuidPrimaryColumn } from '@strata/base';

/** One re-pricing of a period's LLM calls at the current price list (append-only). */
@Entity({ schema: 'prompts', name: 'repricings' })
@Check('repricings_period_check', `"period_end" > "period_start"`)
@Check('repricings_reason_check', `"reason" <> ''`)
export class Repricing {
  @UuidPrimaryColumn()
  id!: string;

  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @Column({ type: 'timestamptz' })
  periodStart!: Date;

  @Column({ type: 'timestamptz' })
  periodEnd!: Date;

  @Column({ type: 'text' })
  reason!: string;

  @Column({ type: 'uuid', nullable: true })
  repricedBy!: string | null;

  @Column({ type: 'integer' })
  interactions!: number;

  @Column({ type: 'numeric', precision: 20, scale: 10 })
  costBefore!: string;

  @Column({ type: 'numeric', precision: 20, scale: 10 })
  costAfter!: string;

  @CreatedAtColumn()
  createdAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}
