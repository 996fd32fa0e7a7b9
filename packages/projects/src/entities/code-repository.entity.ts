import { Check, Column, Entity, Unique } from 'typeorm';
import { JsonbColumn, TenantRow } from '@strata/base';
import { FULL_NAME_SOURCE } from '../validation/patterns';

export const REPOSITORY_PROVIDERS = ['github', 'gitlab', 'bitbucket', 'azure_devops', 'local'] as const;
export type RepositoryProvider = (typeof REPOSITORY_PROVIDERS)[number];

export const REPOSITORY_VISIBILITIES = ['public', 'private', 'internal'] as const;
export type RepositoryVisibility = (typeof REPOSITORY_VISIBILITIES)[number];

/**
 * A source repository at a provider (table `repositories`; the class is not
 * called `Repository` so it never shadows TypeORM's). Projects link to
 * repositories through `project_repositories`, so a monorepo can serve several
 * projects and a project can span several repositories.
 *
 * `full_name` is stored as given but unique per provider regardless of case,
 * as the providers treat it: the migration adds the unique index
 * `repositories_organization_id_provider_full_name_key` on
 * `(organization_id, provider, lower(full_name))` by hand, since TypeORM cannot
 * express an index on an expression (it is marked `strata:manual`).
 */
@Entity({ schema: 'projects', name: 'repositories' })
@Unique(['organizationId', 'provider', 'externalId'])
@Check('repositories_provider_check', `"provider" IN ('github', 'gitlab', 'bitbucket', 'azure_devops', 'local')`)
@Check('repositories_full_name_check', `"full_name" ~ '${FULL_NAME_SOURCE}'`)
@Check('repositories_default_branch_check', `"default_branch" ~ '^\\S+$'`)
@Check('repositories_visibility_check', `"visibility" IN ('public', 'private', 'internal')`)
export class CodeRepository extends TenantRow {
  @Column({ type: 'varchar', length: 32 })
  provider!: RepositoryProvider;

  /** The provider's own id (GitHub's numeric repository id, as text): survives renames. */
  @Column({ type: 'varchar', length: 255, nullable: true })
  externalId!: string | null;

  /** `owner/name` (or `group/sub/name`), as the provider spells it. */
  @Column({ type: 'varchar', length: 255 })
  fullName!: string;

  @Column({ type: 'varchar', length: 2048, nullable: true })
  cloneUrl!: string | null;

  @Column({ type: 'varchar', length: 255, default: 'main' })
  defaultBranch!: string;

  @Column({ type: 'varchar', length: 16, default: 'private' })
  visibility!: RepositoryVisibility;

  @JsonbColumn()
  metadata!: Record<string, unknown>;
}
