import { Check, Column, Entity, Index, Unique } from 'typeorm';
import { JsonbColumn, TenantRow } from '@strata/base';

/**
 * A body of code that is analysed over time, usually one repository
 * (`repository_id` → `projects.repositories`: a plain column here, the
 * composer adds the tenant-consistent constraint).
 */
@Entity({ schema: 'codebase', name: 'codebases' })
@Unique(['organizationId', 'name'])
@Index(['organizationId', 'repositoryId'])
@Check('codebases_name_check', `"name" <> ''`)
export class Codebase extends TenantRow {
  @Column({ type: 'varchar', length: 255 })
  name!: string;

  @Column({ type: 'uuid', nullable: true })
  repositoryId!: string | null;

  @JsonbColumn()
  settings!: Record<string, unknown>;
}
