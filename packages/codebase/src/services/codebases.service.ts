import { IsOptional, IsString, IsUUID, Length } from 'class-validator';
import { NotFoundError, TenantConnection, TenantService, hydrate, translateDatabaseError, validateId, validateInput } from '@strata/base';
import { Codebase } from '../entities';
import { codebaseModule } from '../codebase.module';

export class CreateCodebaseInput {
  @IsString() @Length(1, 255) name!: string;
  /** `projects.repositories.id` (the composer makes it a reference). */
  @IsOptional() @IsUUID() repositoryId?: string | null;
}

// The repository reference is the composer's; its name is known here so its violation names the field.
const CONSTRAINT_FIELDS = { codebases_organization_id_name_key: ['name'], codebases_organization_id_repository_id_fkey: ['repositoryId'] };

/** Codebases of an organization. */
export class CodebasesService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, codebaseModule);
  }

  async create(organizationId: string, input: CreateCodebaseInput): Promise<Codebase> {
    const valid = await validateInput(CreateCodebaseInput, input, 'codebase');
    try {
      return await this.scope.run(organizationId, async (m) => {
        const rows: Record<string, unknown>[] = await m.query(
          `INSERT INTO codebase.codebases (organization_id, name, repository_id) VALUES ($1, $2, $3) RETURNING *`,
          [organizationId, valid.name, valid.repositoryId ?? null],
        );
        return hydrate(m, Codebase, rows)[0];
      });
    } catch (error) {
      translateDatabaseError(error, 'codebase', CONSTRAINT_FIELDS);
    }
  }

  async get(organizationId: string, codebaseId: string): Promise<Codebase> {
    validateId(codebaseId, 'codebaseId', 'codebase');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(Codebase).findOneBy({ organizationId, id: codebaseId }));
    if (!found) throw new NotFoundError('codebase', { id: codebaseId });
    return found;
  }
}
