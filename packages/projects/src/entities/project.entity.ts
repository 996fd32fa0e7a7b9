import { Check, Column, Entity, Index, Unique } from 'typeorm';
import { JsonbColumn, TenantRow } from '@strata/base';
import { SLUG_PATTERN } from '../validation/patterns';

export const PROJECT_STATUSES = ['active', 'archived'] as const;
export type ProjectStatus = (typeof PROJECT_STATUSES)[number];

/**
 * A product or service an organization builds; tasks, prompts, metrics and
 * code analyses of other modules hang off it. Archiving hides it from the
 * active list without losing anything; `archived_at` is set exactly when
 * `status` is `archived`.
 */
@Entity({ schema: 'projects', name: 'projects' })
@Unique(['organizationId', 'slug'])
@Index(['organizationId', 'name'], { where: '"archived_at" IS NULL' })
@Check('projects_name_check', `"name" <> ''`)
@Check('projects_slug_check', `"slug" ~ '${SLUG_PATTERN.source}'`)
@Check('projects_status_check', `"status" IN ('active', 'archived')`)
@Check('projects_archived_at_check', `("status" = 'archived') = ("archived_at" IS NOT NULL)`)
export class Project extends TenantRow {
  @Column({ type: 'varchar', length: 255 })
  name!: string;

  /** Unique within the organization; used in URLs and CLIs. */
  @Column({ type: 'varchar', length: 100 })
  slug!: string;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ type: 'varchar', length: 16, default: 'active' })
  status!: ProjectStatus;

  @JsonbColumn()
  settings!: Record<string, unknown>;

  @Column({ type: 'timestamptz', nullable: true })
  archivedAt!: Date | null;
}
