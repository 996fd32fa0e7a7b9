import { OrganizationsService, ValidationError, validateIntegrity, withTenant } from '@strata/base';
import { CodebasesService } from '@strata/codebase';
import { RepositoriesService } from '@strata/projects';
import { useTestDatabase } from '@strata/testing';
import { installedModules } from '../src/modules';

/** codebase.codebases.repository_id → projects.repositories, tenant-consistent, added by the composer. */
describe('codebases of repositories', () => {
  const db = useTestDatabase({ modules: installedModules });
  let a: string;
  let b: string;
  let repositoryA: string;
  let repositoryB: string;
  let codebases: CodebasesService;

  beforeAll(async () => {
    const orgs = new OrganizationsService(db.dataSource);
    a = (await orgs.create({ name: 'A', slug: 'a' })).id;
    b = (await orgs.create({ name: 'B', slug: 'b' })).id;
    const repositories = new RepositoriesService(db.dataSource);
    repositoryA = (await repositories.register(a, { provider: 'github', fullName: 'acme/app' })).id;
    repositoryB = (await repositories.register(b, { provider: 'github', fullName: 'acme/app' })).id;
    codebases = new CodebasesService(db.dataSource);
  });

  it('a codebase may analyse a repository of its organization; deleting the repository deletes it', async () => {
    const codebase = await codebases.create(a, { name: 'app', repositoryId: repositoryA });
    expect(codebase.repositoryId).toBe(repositoryA);
    await withTenant(db.dataSource, a, (m) => m.query(`DELETE FROM projects.repositories WHERE id = $1`, [repositoryA]));
    const left = await db.query(`SELECT id FROM codebase.codebases WHERE id = $1`, [codebase.id]);
    expect(left).toEqual([]);
  });

  it("another organization's repository, or none at all, is refused naming repositoryId; nothing is written", async () => {
    const count = async () => (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM codebase.codebases`))[0].n;
    const before = await count();
    for (const repositoryId of [repositoryB, '00000000-0000-4000-8000-000000000000']) {
      const error = await codebases.create(a, { name: 'sneaky', repositoryId }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).fields).toEqual(['repositoryId']);
    }
    expect(await count()).toBe(before);
  });

  it('the reference is validated and the composed database passes the integrity rules', async () => {
    const [key] = await db.query<{ validated: boolean; definition: string }>(
      `SELECT convalidated AS validated, pg_get_constraintdef(oid) AS definition FROM pg_constraint
        WHERE conname = 'codebases_organization_id_repository_id_fkey'`,
    );
    expect(key).toEqual({
      validated: true,
      definition: 'FOREIGN KEY (organization_id, repository_id) REFERENCES projects.repositories(organization_id, id) ON DELETE CASCADE',
    });
    expect((await validateIntegrity(db.dataSource)).ok).toBe(true);
  });
});
