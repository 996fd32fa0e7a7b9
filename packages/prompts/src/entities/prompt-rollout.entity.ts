import { Check, Column, Entity, JoinColumn, ManyToOne, Unique } from 'typeorm';
import { TenantRow } from '@strata/base';
import { PromptTemplate } from './prompt-template.entity';

/**
 * A label's traffic split between versions (`versions[i]` gets `weights[i]`
 * of it), sticky per unit: the unit's bucket is a hash of the seed and its id.
 */
@Entity({ schema: 'prompts', name: 'prompt_rollouts' })
@Unique('prompt_rollouts_organization_id_template_id_label_key', ['organizationId', 'templateId', 'label'])
@Check('prompt_rollouts_label_check', `"label" ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'`)
@Check(
  'prompt_rollouts_arms_check',
  `cardinality("versions") = cardinality("weights") AND cardinality("versions") BETWEEN 1 AND 100 AND 0 <= ALL ("weights")`,
)
export class PromptRollout extends TenantRow {
  @Column({ type: 'uuid' })
  templateId!: string;

  @Column({ type: 'varchar', length: 64 })
  label!: string;

  @Column({ type: 'varchar', length: 64 })
  seed!: string;

  @Column({ type: 'integer', array: true })
  versions!: number[];

  @Column({ type: 'integer', array: true })
  weights!: number[];

  @ManyToOne(() => PromptTemplate, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'prompt_rollouts_organization_id_template_id_fkey',
    },
    { name: 'template_id', referencedColumnName: 'id' },
  ])
  template?: PromptTemplate;
}
