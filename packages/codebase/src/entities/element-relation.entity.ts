import { Check, Column, Entity, Index, JoinColumn, ManyToOne } from 'typeorm';
import { TenantRow } from '@strata/base';
import { CodeElement } from './code-element.entity';
import { FileAnalysis } from './file-analysis.entity';
import { Snapshot } from './snapshot.entity';

export const RELATION_KINDS = ['calls', 'imports', 'extends', 'implements'] as const;
export type RelationKind = (typeof RELATION_KINDS)[number];

/**
 * An edge from a file (and the element it sits in, null at module level) to a
 * target known by name, resolved to an element (calls, extends) or a file
 * (imports) of the same snapshot when the analysis can tell which.
 */
@Entity({ schema: 'codebase', name: 'element_relations' })
@Index(['organizationId', 'snapshotId', 'kind'])
@Index(['organizationId', 'fileId'])
@Index(['organizationId', 'sourceElementId'])
@Index(['organizationId', 'targetElementId'])
@Index(['organizationId', 'targetFileId'])
@Check('element_relations_kind_check', `"kind" IN ('calls', 'imports', 'extends', 'implements')`)
@Check('element_relations_target_name_check', `"target_name" <> ''`)
export class ElementRelation extends TenantRow {
  @Column({ type: 'uuid' })
  snapshotId!: string;

  @Column({ type: 'uuid' })
  fileId!: string;

  @Column({ type: 'uuid', nullable: true })
  sourceElementId!: string | null;

  @Column({ type: 'varchar', length: 16 })
  kind!: RelationKind;

  /** As written: the callee (`foo`, `this.bar`, `pkg.Baz`), the base class, or the import specifier. */
  @Column({ type: 'text' })
  targetName!: string;

  @Column({ type: 'uuid', nullable: true })
  targetElementId!: string | null;

  @Column({ type: 'uuid', nullable: true })
  targetFileId!: string | null;

  @Column({ type: 'integer' })
  line!: number;

  @ManyToOne(() => Snapshot, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'element_relations_organization_id_snapshot_id_fkey',
    },
    { name: 'snapshot_id', referencedColumnName: 'id' },
  ])
  snapshot?: Snapshot;

  @ManyToOne(() => FileAnalysis, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'element_relations_organization_id_file_id_fkey',
    },
    { name: 'file_id', referencedColumnName: 'id' },
  ])
  file?: FileAnalysis;

  @ManyToOne(() => CodeElement, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'element_relations_organization_id_source_element_id_fkey',
    },
    { name: 'source_element_id', referencedColumnName: 'id' },
  ])
  sourceElement?: CodeElement;

  @ManyToOne(() => CodeElement, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'element_relations_organization_id_target_element_id_fkey',
    },
    { name: 'target_element_id', referencedColumnName: 'id' },
  ])
  targetElement?: CodeElement;

  @ManyToOne(() => FileAnalysis, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'element_relations_organization_id_target_file_id_fkey',
    },
    { name: 'target_file_id', referencedColumnName: 'id' },
  ])
  targetFile?: FileAnalysis;
}
