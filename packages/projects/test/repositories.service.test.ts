import { ConflictError, NotFoundError, TenantError, ValidationError, baseModule } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { ProjectsService, RegisterRepositoryInput, RepositoriesService, projectsModule } from '../src';
import { Tenant, UNKNOWN_ID, createTenant, expectNothingWritten, expectRefused } from './support';

describe('RepositoriesService', () => {
  const db = useTestDatabase({ modules: [baseModule, projectsModule] });
  let repositories: RepositoriesService;
  let projects: ProjectsService;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    repositories = new RepositoriesService(db.dataSource);
    projects = new ProjectsService(db.dataSource);
    a = await createTenant(db, 'a');
    b = await createTenant(db, 'b');
  });

  const github = (fullName: string, more: Partial<RegisterRepositoryInput> = {}): RegisterRepositoryInput => ({
    provider: 'github',
    fullName,
    ...more,
  });

  describe('register', () => {
    it('registers a repository with defaults', async () => {
      const repository = await repositories.register(a.id, github('Acme/Widgets'));
      expect(repository).toMatchObject({
        organizationId: a.id,
        provider: 'github',
        fullName: 'Acme/Widgets',
        externalId: null,
        cloneUrl: null,
        defaultBranch: 'main',
        visibility: 'private',
        metadata: {},
      });
      expect(repository.createdAt).toBeInstanceOf(Date);
    });

    it('takes every field, nested group names and every clone URL form git understands', async () => {
      const full = await repositories.register(a.id, {
        provider: 'gitlab',
        fullName: 'group/sub-group/my.repo',
        externalId: '4711',
        cloneUrl: 'https://gitlab.com/group/sub-group/my.repo.git',
        defaultBranch: 'release/2.x',
        visibility: 'internal',
        metadata: { topics: ['ml'] },
      });
      expect(full).toMatchObject({
        externalId: '4711',
        defaultBranch: 'release/2.x',
        visibility: 'internal',
        metadata: { topics: ['ml'] },
      });
      const urls = [
        'git@github.com:acme/a.git',
        'ssh://git@example.com:2222/acme/b.git',
        'git://example.com/acme/c',
        'http://git.local/acme/d',
        'deploy@host.internal:/srv/git/e.git',
      ];
      for (const [i, cloneUrl] of urls.entries()) {
        expect((await repositories.register(a.id, github(`acme/url-${i}`, { cloneUrl }))).cloneUrl).toBe(cloneUrl);
      }
      for (const fullName of ['acme/.github', 'a_b/c-d.e', 'org/project/repo']) {
        expect((await repositories.register(a.id, { provider: 'azure_devops', fullName })).fullName).toBe(fullName);
      }
    });

    it('full names are unique per provider regardless of case; external ids unique per provider', async () => {
      await repositories.register(a.id, github('acme/unique', { externalId: '1001' }));
      await repositories.register(a.id, { provider: 'bitbucket', fullName: 'ACME/UNIQUE', externalId: '1001' });
      await repositories.register(b.id, github('acme/unique', { externalId: '1001' }));
      await expectNothingWritten(db, async () => {
        await expectRefused(repositories.register(a.id, github('acme/unique')), ConflictError, ['provider', 'fullName']);
        await expectRefused(repositories.register(a.id, github('ACME/Unique')), ConflictError, ['provider', 'fullName']);
        await expectRefused(repositories.register(a.id, github('acme/other', { externalId: '1001' })), ConflictError, [
          'provider',
          'externalId',
        ]);
      });
    });

    it('refuses bad input naming each field; writes nothing', async () => {
      await expectNothingWritten(db, async () => {
        await expectRefused(repositories.register(a.id, {} as never), ValidationError, ['provider', 'fullName']);
        await expectRefused(repositories.register(a.id, { provider: 'svn', fullName: 'acme/x' } as never), ValidationError, ['provider']);
        await expectRefused(repositories.register(a.id, { provider: 'GitHub', fullName: 'acme/x' } as never), ValidationError, [
          'provider',
        ]);
        for (const fullName of [
          'widgets',
          '/acme/x',
          'acme/x/',
          'acme//x',
          'acme/my repo',
          'acme/..',
          './x',
          'acme/x?y',
          `acme/${'x'.repeat(255)}`,
          42,
        ]) {
          await expectRefused(repositories.register(a.id, github(fullName as string)), ValidationError, ['fullName']);
        }
        const badUrls = [
          'ftp://example.com/a/b',
          'not a url',
          'https://github.com',
          'https://user:token@github.com/acme/x.git',
          'github.com:acme/x',
          'git@github.com:',
          'https://exa mple.com/a',
          42,
        ];
        for (const cloneUrl of badUrls) {
          await expectRefused(repositories.register(a.id, github('acme/x', { cloneUrl: cloneUrl as string })), ValidationError, [
            'cloneUrl',
          ]);
        }
        for (const defaultBranch of [
          '',
          'feature branch',
          'a..b',
          '-x',
          '/x',
          'x/',
          'x.lock',
          'x.',
          'a//b',
          '@',
          'a@{1}',
          'a:b',
          'a/.hidden',
          null,
          3,
        ]) {
          await expectRefused(repositories.register(a.id, github('acme/x', { defaultBranch: defaultBranch as string })), ValidationError, [
            'defaultBranch',
          ]);
        }
        await expectRefused(repositories.register(a.id, github('acme/x', { visibility: 'secret' } as never)), ValidationError, [
          'visibility',
        ]);
        await expectRefused(repositories.register(a.id, github('acme/x', { visibility: null } as never)), ValidationError, ['visibility']);
        await expectRefused(repositories.register(a.id, github('acme/x', { metadata: [] } as never)), ValidationError, ['metadata']);
        await expectRefused(repositories.register(a.id, github('acme/x', { externalId: '' })), ValidationError, ['externalId']);
        await expectRefused(repositories.register(a.id, github('acme/x', { externalId: 12345 } as never)), ValidationError, ['externalId']);
        await expectRefused(repositories.register(a.id, github('acme/x', { stars: 3 } as never)), ValidationError, ['stars']);
        await expectRefused(repositories.register(UNKNOWN_ID, github('acme/x')), NotFoundError, 'organization');
        await expectRefused(repositories.register('nope', github('acme/x')), TenantError);
      });
    });
  });

  describe('get, findByFullName and findByExternalId', () => {
    it('finds by id, by full name in any case and by external id', async () => {
      const repository = await repositories.register(a.id, github('Octo-Org/Hello.World', { externalId: '42' }));
      expect(await repositories.get(a.id, repository.id)).toEqual(repository);
      expect(await repositories.findByFullName(a.id, 'github', 'Octo-Org/Hello.World')).toEqual(repository);
      expect(await repositories.findByFullName(a.id, 'github', 'octo-org/hello.world')).toEqual(repository);
      expect(await repositories.findByFullName(a.id, 'gitlab', 'octo-org/hello.world')).toBeNull();
      expect(await repositories.findByFullName(a.id, 'github', 'octo-org/nothing')).toBeNull();
      expect(await repositories.findByExternalId(a.id, 'github', '42')).toEqual(repository);
      expect(await repositories.findByExternalId(a.id, 'github', '43')).toBeNull();
    });

    it("never finds another organization's repository, and refuses malformed arguments", async () => {
      const theirs = await repositories.register(b.id, github('their/secret', { externalId: '99' }));
      await expectRefused(repositories.get(a.id, theirs.id), NotFoundError, 'repository');
      await expectRefused(repositories.get(a.id, UNKNOWN_ID), NotFoundError, 'repository');
      await expectRefused(repositories.get(a.id, 'x'), ValidationError, ['repositoryId']);
      expect(await repositories.findByFullName(a.id, 'github', 'their/secret')).toBeNull();
      expect(await repositories.findByExternalId(a.id, 'github', '99')).toBeNull();
      await expectRefused(repositories.findByFullName(a.id, 'svn' as never, 'a/b'), ValidationError, ['provider']);
      await expectRefused(repositories.findByFullName(a.id, 'github', 'no-slash'), ValidationError, ['fullName']);
      await expectRefused(repositories.findByFullName(a.id, undefined as never, undefined as never), ValidationError, [
        'provider',
        'fullName',
      ]);
      await expectRefused(repositories.findByExternalId(a.id, 'github', 99 as never), ValidationError, ['externalId']);
      await expectRefused(repositories.findByExternalId(a.id, 'cvs' as never, ''), ValidationError, ['provider', 'externalId']);
      await expectRefused(repositories.findByFullName('nope', 'github', 'a/b'), TenantError);
    });
  });

  describe('update', () => {
    it('changes the default branch, visibility, clone URL, metadata, external id and full name', async () => {
      const repository = await repositories.register(a.id, github('acme/old-name', { cloneUrl: 'git@github.com:acme/old-name.git' }));
      const updated = await repositories.update(a.id, repository.id, {
        fullName: 'acme/new-name',
        defaultBranch: 'develop',
        visibility: 'public',
        metadata: { language: 'go' },
        externalId: '555',
      });
      expect(updated).toMatchObject({
        fullName: 'acme/new-name',
        defaultBranch: 'develop',
        visibility: 'public',
        metadata: { language: 'go' },
        externalId: '555',
      });
      expect(updated.cloneUrl).toBe('git@github.com:acme/old-name.git');
      expect(await repositories.update(a.id, repository.id, { cloneUrl: null, externalId: null })).toMatchObject({
        cloneUrl: null,
        externalId: null,
      });
      expect(await repositories.get(a.id, repository.id)).toMatchObject({ fullName: 'acme/new-name', cloneUrl: null });
    });

    it("refuses empty or bad changes, clashes, unknown and other organizations' repositories; writes nothing", async () => {
      const mine = await repositories.register(a.id, github('acme/update-me'));
      await repositories.register(a.id, github('acme/taken', { externalId: '777' }));
      const theirs = await repositories.register(b.id, github('their/update-me'));
      await expectNothingWritten(db, async () => {
        await expectRefused(repositories.update(a.id, mine.id, {}), ValidationError, ['(input)']);
        await expectRefused(repositories.update(a.id, mine.id, { provider: 'gitlab' } as never), ValidationError, ['provider']);
        await expectRefused(repositories.update(a.id, mine.id, { fullName: 'bad' }), ValidationError, ['fullName']);
        await expectRefused(repositories.update(a.id, mine.id, { fullName: null } as never), ValidationError, ['fullName']);
        await expectRefused(repositories.update(a.id, mine.id, { defaultBranch: 'a b', visibility: 'open' } as never), ValidationError, [
          'defaultBranch',
          'visibility',
        ]);
        await expectRefused(repositories.update(a.id, mine.id, { cloneUrl: 'file:///etc/passwd' }), ValidationError, ['cloneUrl']);
        await expectRefused(repositories.update(a.id, mine.id, { metadata: null } as never), ValidationError, ['metadata']);
        await expectRefused(repositories.update(a.id, mine.id, { fullName: 'Acme/Taken' }), ConflictError, ['provider', 'fullName']);
        await expectRefused(repositories.update(a.id, mine.id, { externalId: '777' }), ConflictError, ['provider', 'externalId']);
        await expectRefused(repositories.update(a.id, 'x', { visibility: 'public' }), ValidationError, ['repositoryId']);
        await expectRefused(repositories.update(a.id, UNKNOWN_ID, { visibility: 'public' }), NotFoundError, 'repository');
        await expectRefused(repositories.update(a.id, theirs.id, { visibility: 'public' }), NotFoundError, 'repository');
      });
      expect((await repositories.get(b.id, theirs.id)).visibility).toBe('private');
    });
  });

  describe('links to projects', () => {
    it('links, lists both ways and unlinks', async () => {
      const web = await projects.create(a.id, { name: 'Web', slug: 'web' });
      const api = await projects.create(a.id, { name: 'Api', slug: 'api' });
      const frontend = await repositories.register(a.id, github('acme/frontend'));
      const monorepo = await repositories.register(a.id, github('acme/monorepo'));
      const link = await repositories.linkToProject(a.id, web.id, frontend.id);
      expect(link).toMatchObject({ organizationId: a.id, projectId: web.id, repositoryId: frontend.id });
      await repositories.linkToProject(a.id, web.id, monorepo.id);
      await repositories.linkToProject(a.id, api.id, monorepo.id);

      expect((await repositories.listForProject(a.id, web.id)).items.map((r) => r.fullName)).toEqual(['acme/frontend', 'acme/monorepo']);
      expect((await repositories.listProjectsForRepository(a.id, monorepo.id)).items.map((p) => p.name)).toEqual(['Api', 'Web']);

      await repositories.unlinkFromProject(a.id, web.id, monorepo.id);
      expect((await repositories.listForProject(a.id, web.id)).items.map((r) => r.fullName)).toEqual(['acme/frontend']);
      expect((await repositories.listProjectsForRepository(a.id, monorepo.id)).items.map((p) => p.name)).toEqual(['Api']);
      expect((await repositories.listForProject(a.id, (await projects.create(a.id, { name: 'Empty', slug: 'empty' })).id)).items).toEqual(
        [],
      );
    });

    it("refuses double links, malformed, unknown and other organizations' ids; writes nothing", async () => {
      const project = await projects.create(a.id, { name: 'Linked', slug: 'linked' });
      const repository = await repositories.register(a.id, github('acme/linked'));
      await repositories.linkToProject(a.id, project.id, repository.id);
      const theirProject = await projects.create(b.id, { name: 'Theirs', slug: 'theirs' });
      const theirRepository = await repositories.register(b.id, github('their/linked'));
      await repositories.linkToProject(b.id, theirProject.id, theirRepository.id);

      await expectNothingWritten(db, async () => {
        await expectRefused(repositories.linkToProject(a.id, project.id, repository.id), ConflictError, ['projectId', 'repositoryId']);
        await expectRefused(repositories.linkToProject(a.id, 'x', repository.id), ValidationError, ['projectId']);
        await expectRefused(repositories.linkToProject(a.id, project.id, 7 as never), ValidationError, ['repositoryId']);
        await expectRefused(repositories.linkToProject(a.id, UNKNOWN_ID, repository.id), NotFoundError, 'project');
        await expectRefused(repositories.linkToProject(a.id, project.id, UNKNOWN_ID), NotFoundError, 'repository');
        await expectRefused(repositories.linkToProject(a.id, theirProject.id, repository.id), NotFoundError, 'project');
        await expectRefused(repositories.linkToProject(a.id, project.id, theirRepository.id), NotFoundError, 'repository');
        await expectRefused(repositories.linkToProject('nope', project.id, repository.id), TenantError);

        await expectRefused(repositories.unlinkFromProject(a.id, project.id, 'x'), ValidationError, ['repositoryId']);
        await expectRefused(repositories.unlinkFromProject(a.id, project.id, UNKNOWN_ID), NotFoundError, 'project repository link');
        await expectRefused(
          repositories.unlinkFromProject(a.id, theirProject.id, theirRepository.id),
          NotFoundError,
          'project repository link',
        );

        await expectRefused(repositories.listForProject(a.id, 'x'), ValidationError, ['projectId']);
        await expectRefused(repositories.listForProject(a.id, UNKNOWN_ID), NotFoundError, 'project');
        await expectRefused(repositories.listForProject(a.id, theirProject.id), NotFoundError, 'project');
        await expectRefused(repositories.listProjectsForRepository(a.id, 'x'), ValidationError, ['repositoryId']);
        await expectRefused(repositories.listProjectsForRepository(a.id, UNKNOWN_ID), NotFoundError, 'repository');
        await expectRefused(repositories.listProjectsForRepository(a.id, theirRepository.id), NotFoundError, 'repository');
      });
      expect((await repositories.listForProject(b.id, theirProject.id)).items).toHaveLength(1);
    });
  });
});
