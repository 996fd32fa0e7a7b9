import { Check, Column, Entity, Index, JoinColumn, ManyToOne } from 'typeorm';
import { TenantRow } from '@strata/base';
import { FileAnalysis } from './file-analysis.entity';
import { Snapshot } from './snapshot.entity';

export const ELEMENT_KINDS = ['function', 'method', 'class', 'interface', 'type', 'enum', 'variable', 'module'] as const;
export type ElementKind = (typeof ELEMENT_KINDS)[number];

/** A function, method, class, interface … of a file, with its span (1-based lines, 0-based columns) and complexity. */
@Entity({ schema: 'codebase', name: 'code_elements' })
@Index(['organizationId', 'snapshotId', 'qualifiedName'])
@Index(['organizationId', 'snapshotId', 'name'])
@Index(['organizationId', 'fileId'])
@Index(['organizationId', 'parentId'])
@Check('code_elements_kind_check', `"kind" IN ('function', 'method', 'class', 'interface', 'type', 'enum', 'variable', 'module')`)
@Check('code_elements_name_check', `"name" <> ''`)
@Check('code_elements_span_check', `"start_line" >= 1 AND "end_line" >= "start_line"`)
export class CodeElement extends TenantRow {
  @Column({ type: 'uuid' })
  snapshotId!: string;

  @Column({ type: 'uuid' })
  fileId!: string;

  @Column({ type: 'uuid', nullable: true })
  parentId!: string | null;

  @Column({ type: 'varchar', length: 16 })
  kind!: ElementKind;

  @Column({ type: 'text' })
  name!: string;

  /** Dotted path inside the file (`Class.method`); the file's path is not part of it. */
  @Column({ type: 'text' })
  qualifiedName!: string;

  @Column({ type: 'integer' })
  startLine!: number;

  @Column({ type: 'integer' })
  startColumn!: number;

  @Column({ type: 'integer' })
  endLine!: number;

  @Column({ type: 'integer' })
  endColumn!: number;

  /** Cyclomatic complexity (decisions + 1) of a function or method; null for other kinds. */
  @Column({ type: 'integer', nullable: true })
  complexity!: number | null;

  @Column({ type: 'integer', nullable: true })
  parameterCount!: number | null;

  @Column({ type: 'boolean', default: false })
  exported!: boolean;

  @ManyToOne(() => Snapshot, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'code_elements_organization_id_snapshot_id_fkey',
    },
    { name: 'snapshot_id', referencedColumnName: 'id' },
  ])
  snapshot?: Snapshot;

  @ManyToOne(() => FileAnalysis, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'code_elements_organization_id_file_id_fkey',
    },
    { name: 'file_id', referencedColumnName: 'id' },
  ])
  file?: FileAnalysis;

  @ManyToOne(() => CodeElement, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'organization_id',
      referencedColumnName: 'organizationId',
      foreignKeyConstraintName: 'code_elements_organization_id_parent_id_fkey',
    },
    { name: 'parent_id', referencedColumnName: 'id' },
  ])
  parent?: CodeElement;
}
