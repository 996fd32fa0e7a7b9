import { Check, Column, Entity, Index } from 'typeorm';
import { DeletedAtColumn, TenantRow } from '@strata/base';

export const TEMPLATE_TYPES = ['text', 'chat'] as const;
export type TemplateType = (typeof TEMPLATE_TYPES)[number];

/**
 * A named prompt of an organization. Its name is unique among live templates
 * regardless of case (the migration's `prompt_templates_organization_id_name_key`
 * on `lower(name)`, and the GIN index on `tags`, are written by hand and marked
 * `strata:manual`). `latest_version` is the counter the version trigger numbers
 * versions from. Deleting is soft: `deleted_at`.
 */
@Entity({ schema: 'prompts', name: 'prompt_templates' })
@Index(['organizationId', 'projectId'])
@Check('prompt_templates_name_check', `"name" ~ '^[A-Za-z0-9][A-Za-z0-9_.-]*$'`)
@Check('prompt_templates_type_check', `"type" IN ('text', 'chat')`)
@Check('prompt_templates_latest_version_check', `"latest_version" >= 0`)
export class PromptTemplate extends TenantRow {
  @Column({ type: 'varchar', length: 255 })
  name!: string;

  /** The project it belongs to (plain column: the composer adds the reference). */
  @Column({ type: 'uuid', nullable: true })
  projectId!: string | null;

  @Column({ type: 'text', nullable: true })
  description!: string | null;

  @Column({ type: 'varchar', length: 8, default: 'text' })
  type!: TemplateType;

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  tags!: string[];

  @Column({ type: 'integer', default: 0 })
  latestVersion!: number;

  @DeletedAtColumn()
  deletedAt!: Date | null;
}
