import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';
import { JsonbColumn, Organization } from '@strata/base';

export const EVENT_SOURCES = ['github', 'linear', 'slack', 'generic', 'internal'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

/**
 * One received event (table `events`; the class is not called `Event`, which
 * is a global of Node): the normalized envelope and the raw payload.
 * Partitioned monthly on `occurred_at` and kept 13 months (base's partition
 * maintenance); the primary key is `(organization_id, id, occurred_at)`.
 * `repository_id` and `project_id` are plain columns: the composer makes them
 * references to the projects module when it is installed.
 */
@Entity({ schema: 'events', name: 'events' })
@Index(['organizationId', 'repositoryId', 'occurredAt'])
@Index(['organizationId', 'repositoryFullName', 'occurredAt'])
@Index(['organizationId', 'eventType', 'occurredAt'])
@Check('events_source_check', `"source" IN ('github', 'linear', 'slack', 'generic', 'internal')`)
export class StoredEvent {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @PrimaryColumn({ type: 'uuid' })
  organizationId!: string;

  /** When it happened at the source (the partition key). */
  @PrimaryColumn({ type: 'timestamptz' })
  occurredAt!: Date;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  receivedAt!: Date;

  @Column({ type: 'text' })
  source!: EventSource;

  /** The webhook endpoint it came through; null for internal events. */
  @Column({ type: 'uuid', nullable: true })
  endpointId!: string | null;

  /** The provider's delivery id (`X-GitHub-Delivery`, Linear's `webhookId` …), unique per source. */
  @Column({ type: 'text' })
  deliveryId!: string;

  /** e.g. `pull_request`, `Issue`, `message`. */
  @Column({ type: 'text' })
  eventType!: string;

  /** e.g. `opened`, `create`; null when the source has none. */
  @Column({ type: 'text', nullable: true })
  action!: string | null;

  /** The provider's repository id (GitHub's numeric id, as text). */
  @Column({ type: 'text', nullable: true })
  repositoryExternalId!: string | null;

  /** `owner/name`. */
  @Column({ type: 'text', nullable: true })
  repositoryFullName!: string | null;

  /** projects.repositories.id when the organization knows the repository. */
  @Column({ type: 'uuid', nullable: true })
  repositoryId!: string | null;

  @Column({ type: 'uuid', nullable: true })
  projectId!: string | null;

  /** Who did it: a login, a user name or id. */
  @Column({ type: 'text', nullable: true })
  actor!: string | null;

  /** What it is about, e.g. `pull_request#42`, `issue ENG-12`, a Slack channel. */
  @Column({ type: 'text', nullable: true })
  subject!: string | null;

  @Column({ type: 'text' })
  summary!: string;

  @Column({ type: 'jsonb' })
  payload!: unknown;

  /** The headers that matter (event type, delivery id, hook id, user agent), never the signature. */
  @JsonbColumn()
  headers!: Record<string, string>;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;
}
