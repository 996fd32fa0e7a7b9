import { Check, Column, Entity, Index, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { Organization, OrganizationIdColumn, TenantRow, UuidPrimaryColumn } from '@strata/base';
import { PromptTemplate } from './prompt-template.entity';
import { PromptVersion } from './prompt-version.entity';

/**
 * A movable pointer (template, label) → version: `production`, `staging`…
 * `latest` follows the newest version by itself. The reference goes to the
 * version by (template, number), so a label can only point at a version of its
 * own template. Every move lands in `prompt_label_moves` (trigger); a protected
 * label is changed only by an owner or admin (trigger).
 */
@Entity({ schema: 'prompts', name: 'prompt_labels' })
@Unique('prompt_labels_organization_id_template_id_name_key', ['organizationId', 'templateId', 'name'])
@Check('prompt_labels_name_check', `"name" ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'`)
@Check('prompt_labels_protected_check', `"name" <> 'latest' OR NOT "protected"`)
export class PromptLabel extends TenantRow {
  @Column({ type: 'uuid' })
  templateId!: string;

  @Column({ type: 'varchar', length: 64 })
  name!: string;

  @Column({ type: 'integer' })
  version!: number;

  @Column({ type: 'boolean', default: false })
  protected!: boolean;

  @ManyToOne(() => PromptVersion, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'prompt_labels_organization_id_template_id_version_fkey',
    },
    { name: 'template_id', referencedColumnName: 'templateId' },
    { name: 'version', referencedColumnName: 'version' },
  ])
  target?: PromptVersion;
}

/** One move of a label (append-only): from_version is null when the label was created. */
@Entity({ schema: 'prompts', name: 'prompt_label_moves' })
// Named by hand: the generated name would pass PostgreSQL's 63-byte limit.
@Index('prompt_label_moves_organization_id_template_id_label_idx', ['organizationId', 'templateId', 'label', 'movedAt'])
export class PromptLabelMove {
  @UuidPrimaryColumn()
  id!: string;

  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @Column({ type: 'uuid' })
  templateId!: string;

  @Column({ type: 'varchar', length: 64 })
  label!: string;

  @Column({ type: 'integer', nullable: true })
  fromVersion!: number | null;

  @Column({ type: 'integer' })
  toVersion!: number;

  /** The user the moving transaction acted for (`withTenant(…, { userId })`), if any. */
  @Column({ type: 'uuid', nullable: true })
  movedBy!: string | null;

  @Column({ type: 'timestamptz', default: () => 'clock_timestamp()' })
  movedAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => PromptTemplate, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'prompt_label_moves_organization_id_template_id_fkey',
    },
    { name: 'template_id', referencedColumnName: 'id' },
  ])
  template?: PromptTemplate;
}
