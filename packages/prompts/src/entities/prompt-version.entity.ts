import { Check, Column, Entity, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { CreatedAtColumn, JsonbColumn, OrganizationIdColumn, Organization, UuidPrimaryColumn } from '@strata/base';
import { PromptTemplate } from './prompt-template.entity';

/** One message of a chat prompt. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
}

/** A text prompt's content is a string; a chat prompt's, its messages. */
export type PromptContent = string | ChatMessage[];

/**
 * One immutable version of a template: the database refuses UPDATE and DELETE
 * (only erasing the organization removes it) and numbers versions 1, 2, 3… per
 * template itself, without gaps (trigger `prompt_versions_number`).
 */
@Entity({ schema: 'prompts', name: 'prompt_versions' })
@Unique('prompt_versions_organization_id_template_id_version_key', ['organizationId', 'templateId', 'version'])
@Check('prompt_versions_version_check', `"version" > 0`)
@Check('prompt_versions_content_check', `jsonb_typeof("content") IN ('string', 'array')`)
@Check('prompt_versions_content_hash_check', `"content_hash" ~ '^[0-9a-f]{64}$'`)
export class PromptVersion {
  @UuidPrimaryColumn()
  id!: string;

  @OrganizationIdColumn({ primary: true })
  organizationId!: string;

  @Column({ type: 'uuid' })
  templateId!: string;

  @Column({ type: 'integer' })
  version!: number;

  @Column({ type: 'jsonb' })
  content!: PromptContent;

  /** model, temperature, tools, …: passed to the provider as they are. */
  @JsonbColumn()
  modelConfig!: Record<string, unknown>;

  /** A JSON schema (type object) of the variables `render` takes. */
  @JsonbColumn()
  variablesSchema!: Record<string, unknown>;

  @Column({ type: 'text', nullable: true })
  commitMessage!: string | null;

  /** The base user who created it. */
  @Column({ type: 'uuid', nullable: true })
  authorId!: string | null;

  /** sha256 (hex) of the content, model config and variables schema. */
  @Column({ type: 'varchar', length: 64 })
  contentHash!: string;

  @CreatedAtColumn()
  createdAt!: Date;

  @ManyToOne(() => Organization, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'organization_id' })
  organization?: Organization;

  @ManyToOne(() => PromptTemplate, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'prompt_versions_organization_id_template_id_fkey',
    },
    { name: 'template_id', referencedColumnName: 'id' },
  ])
  template?: PromptTemplate;
}
