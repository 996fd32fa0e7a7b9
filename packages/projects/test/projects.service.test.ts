import { ConflictError, NotFoundError, StateError, TenantError, ValidationError, baseModule } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { ProjectsService, RepositoriesService, projectsModule } from '../src';
import { Tenant, UNKNOWN_ID, createTenant, expectNothingWritten, expectRefused } from './support';

describe('ProjectsService', () => {
  const db = useTestDatabase({ modules: [baseModule, projectsModule] });
  let projects: ProjectsService;
  let a: Tenant;
  let b: Tenant;

  beforeAll(async () => {
    projects = new ProjectsService(db.dataSource);
    a = await createTenant(db, 'a');
    b = await createTenant(db, 'b');
  });

  describe('create', () => {
    it('creates an active project with defaults', async () => {
      const project = await projects.create(a.id, { name: 'Web App', slug: 'web-app' });
      expect(project).toMatchObject({
        organizationId: a.id,
        name: 'Web App',
        slug: 'web-app',
        description: null,
        status: 'active',
        settings: {},
        archivedAt: null,
      });
      expect(project.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(project.createdAt).toBeInstanceOf(Date);
      const full = await projects.create(a.id, {
        name: 'API',
        slug: 'api',
        description: 'The public API',
        settings: { ci: { provider: 'github' } },
      });
      expect(full).toMatchObject({ description: 'The public API', settings: { ci: { provider: 'github' } } });
    });

    it('the same slug is fine in another organization', async () => {
      await projects.create(b.id, { name: 'Web App', slug: 'web-app' });
      expect((await projects.getBySlug(b.id, 'web-app')).organizationId).toBe(b.id);
    });

    it('refuses bad input naming each field, duplicates and unknown organizations; writes nothing', async () => {
      await expectNothingWritten(db, async () => {
        await expectRefused(projects.create(a.id, {} as never), ValidationError, ['name', 'slug']);
        await expectRefused(projects.create(a.id, { name: '', slug: 'Not A Slug' }), ValidationError, ['name', 'slug']);
        await expectRefused(projects.create(a.id, { name: 42, slug: ['x'] } as never), ValidationError, ['name', 'slug']);
        await expectRefused(projects.create(a.id, { name: 'x'.repeat(256), slug: 'ok' }), ValidationError, ['name']);
        for (const slug of ['-web', 'web-', 'Web', 'web_app', 'web app', 'x'.repeat(101), '']) {
          await expectRefused(projects.create(a.id, { name: 'Web', slug }), ValidationError, ['slug']);
        }
        await expectRefused(projects.create(a.id, { name: 'x', slug: 'x', description: 5 } as never), ValidationError, ['description']);
        await expectRefused(projects.create(a.id, { name: 'x', slug: 'x', settings: 'fast' } as never), ValidationError, ['settings']);
        await expectRefused(projects.create(a.id, { name: 'x', slug: 'x', settings: null } as never), ValidationError, ['settings']);
        await expectRefused(projects.create(a.id, { name: 'x', slug: 'x', settings: [1] } as never), ValidationError, ['settings']);
        await expectRefused(projects.create(a.id, { name: 'x', slug: 'x', colour: 'red' } as never), ValidationError, ['colour']);
        await expectRefused(projects.create(a.id, null as never), ValidationError, ['(input)']);
        await expectRefused(projects.create(a.id, { name: 'Again', slug: 'web-app' }), ConflictError, ['slug']);
        await expectRefused(projects.create(UNKNOWN_ID, { name: 'x', slug: 'x' }), NotFoundError, 'organization');
        await expectRefused(projects.create('not-a-uuid', { name: 'x', slug: 'x' }), TenantError);
      });
    });
  });

  describe('get and getBySlug', () => {
    it('finds a project by id or slug', async () => {
      const created = await projects.create(a.id, { name: 'Docs', slug: 'docs' });
      expect(await projects.get(a.id, created.id)).toEqual(created);
      expect(await projects.getBySlug(a.id, 'docs')).toEqual(created);
    });

    it("refuses malformed ids and slugs, and does not find unknown or another organization's projects", async () => {
      const theirs = await projects.create(b.id, { name: 'Secret', slug: 'secret' });
      await expectRefused(projects.get(a.id, 'nope'), ValidationError, ['projectId']);
      await expectRefused(projects.get(a.id, 42 as never), ValidationError, ['projectId']);
      await expectRefused(projects.get(a.id, UNKNOWN_ID), NotFoundError, 'project');
      await expectRefused(projects.get(a.id, theirs.id), NotFoundError, 'project');
      await expectRefused(projects.getBySlug(a.id, 'Not A Slug'), ValidationError, ['slug']);
      await expectRefused(projects.getBySlug(a.id, undefined as never), ValidationError, ['slug']);
      await expectRefused(projects.getBySlug(a.id, 'no-such-project'), NotFoundError, 'project');
      await expectRefused(projects.getBySlug(a.id, 'secret'), NotFoundError, 'project');
      await expectRefused(projects.get('not-a-uuid', theirs.id), TenantError);
    });
  });

  describe('rename and update', () => {
    it('renames the name, the slug or both', async () => {
      const project = await projects.create(a.id, { name: 'Old', slug: 'old' });
      expect(await projects.rename(a.id, project.id, { name: 'New' })).toMatchObject({ name: 'New', slug: 'old' });
      expect(await projects.rename(a.id, project.id, { slug: 'new' })).toMatchObject({ name: 'New', slug: 'new' });
      const renamed = await projects.rename(a.id, project.id, { name: 'Newest', slug: 'newest' });
      expect(renamed).toMatchObject({ name: 'Newest', slug: 'newest', status: 'active' });
      expect(await projects.get(a.id, project.id)).toEqual(renamed);
    });

    it('sets and clears the description and replaces settings', async () => {
      const project = await projects.create(a.id, { name: 'Tool', slug: 'tool', settings: { a: 1 } });
      expect(await projects.update(a.id, project.id, { description: 'CLI' })).toMatchObject({ description: 'CLI', settings: { a: 1 } });
      expect(await projects.update(a.id, project.id, { settings: { b: 2 } })).toMatchObject({ description: 'CLI', settings: { b: 2 } });
      expect(await projects.update(a.id, project.id, { description: null })).toMatchObject({ description: null, settings: { b: 2 } });
    });

    it("refuses empty or bad changes, duplicate slugs, unknown and other organizations' projects; writes nothing", async () => {
      const project = await projects.create(a.id, { name: 'Mine', slug: 'mine' });
      const theirs = await projects.create(b.id, { name: 'Theirs', slug: 'theirs' });
      await expectNothingWritten(db, async () => {
        await expectRefused(projects.rename(a.id, project.id, {}), ValidationError, ['(input)']);
        await expectRefused(projects.rename(a.id, project.id, { name: null } as never), ValidationError, ['name']);
        await expectRefused(projects.rename(a.id, project.id, { name: '', slug: 'BAD' }), ValidationError, ['name', 'slug']);
        await expectRefused(projects.rename(a.id, project.id, { title: 'x' } as never), ValidationError, ['title']);
        await expectRefused(projects.rename(a.id, project.id, { slug: 'web-app' }), ConflictError, ['slug']);
        await expectRefused(projects.rename(a.id, 'x', { name: 'x' }), ValidationError, ['projectId']);
        await expectRefused(projects.rename(a.id, UNKNOWN_ID, { name: 'x' }), NotFoundError, 'project');
        await expectRefused(projects.rename(a.id, theirs.id, { name: 'Stolen' }), NotFoundError, 'project');
        await expectRefused(projects.update(a.id, project.id, {}), ValidationError, ['(input)']);
        await expectRefused(projects.update(a.id, project.id, { settings: null } as never), ValidationError, ['settings']);
        await expectRefused(projects.update(a.id, project.id, { description: 7, settings: 'x' } as never), ValidationError, [
          'description',
          'settings',
        ]);
        await expectRefused(projects.update(a.id, project.id, { status: 'archived' } as never), ValidationError, ['status']);
        await expectRefused(projects.update(a.id, UNKNOWN_ID, { description: 'x' }), NotFoundError, 'project');
        await expectRefused(projects.update(a.id, theirs.id, { description: 'x' }), NotFoundError, 'project');
      });
      expect((await projects.get(b.id, theirs.id)).name).toBe('Theirs');
    });
  });

  describe('archive and restore', () => {
    it('archives and restores, refusing the move to the state it is in', async () => {
      const project = await projects.create(a.id, { name: 'Legacy', slug: 'legacy' });
      const archived = await projects.archive(a.id, project.id);
      expect(archived).toMatchObject({ status: 'archived' });
      expect(archived.archivedAt).toBeInstanceOf(Date);
      await expectNothingWritten(db, async () => {
        await expectRefused(projects.archive(a.id, project.id), StateError);
      });
      const restored = await projects.restore(a.id, project.id);
      expect(restored).toMatchObject({ status: 'active', archivedAt: null });
      await expectNothingWritten(db, async () => {
        await expectRefused(projects.restore(a.id, project.id), StateError);
      });
    });

    it("refuses malformed, unknown and another organization's projects", async () => {
      const theirs = await projects.create(b.id, { name: 'Keep', slug: 'keep' });
      await expectNothingWritten(db, async () => {
        await expectRefused(projects.archive(a.id, 'x'), ValidationError, ['projectId']);
        await expectRefused(projects.archive(a.id, UNKNOWN_ID), NotFoundError, 'project');
        await expectRefused(projects.archive(a.id, theirs.id), NotFoundError, 'project');
        await expectRefused(projects.restore(a.id, null as never), ValidationError, ['projectId']);
        await expectRefused(projects.restore(a.id, UNKNOWN_ID), NotFoundError, 'project');
        await expectRefused(projects.restore(a.id, theirs.id), NotFoundError, 'project');
      });
      expect((await projects.get(b.id, theirs.id)).status).toBe('active');
    });
  });

  describe('list', () => {
    it("lists the organization's projects by name with repository counts, optionally by status", async () => {
      const tenant = await createTenant(db, 'list');
      const repositories = new RepositoriesService(db.dataSource);
      const zeta = await projects.create(tenant.id, { name: 'Zeta', slug: 'zeta' });
      const alpha = await projects.create(tenant.id, { name: 'Alpha', slug: 'alpha' });
      const old = await projects.create(tenant.id, { name: 'Old', slug: 'old' });
      await projects.archive(tenant.id, old.id);
      for (const fullName of ['acme/one', 'acme/two']) {
        const repository = await repositories.register(tenant.id, { provider: 'github', fullName });
        await repositories.linkToProject(tenant.id, alpha.id, repository.id);
      }

      const all = (await projects.list(tenant.id)).items;
      expect(all.map((s) => [s.project.name, s.repositoryCount])).toEqual([
        ['Alpha', 2],
        ['Old', 0],
        ['Zeta', 0],
      ]);
      expect(all[0].project).toEqual(await projects.get(tenant.id, alpha.id));
      expect((await projects.list(tenant.id, { status: 'active' })).items.map((s) => s.project.id)).toEqual([alpha.id, zeta.id]);
      expect((await projects.list(tenant.id, { status: 'archived' })).items.map((s) => s.project.id)).toEqual([old.id]);
      expect(await projects.list(UNKNOWN_ID)).toEqual({ items: [], nextCursor: null });
    });

    it('pages through more projects than a page: every one once, by name then id, ties and projects created between pages included', async () => {
      const tenant = await createTenant(db, 'pages');
      // Three names for eleven projects: most of the order is decided by the id.
      for (let i = 0; i < 11; i++) await projects.create(tenant.id, { name: `Name ${i % 3}`, slug: `p-${i}` });
      const ordered = async () =>
        (await db.query<{ id: string }>('SELECT id FROM projects.projects WHERE organization_id = $1 ORDER BY name, id', [tenant.id])).map(
          (r) => r.id,
        );
      const before = await ordered();
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; ; page++) {
        const result = await projects.list(tenant.id, { limit: 4, cursor });
        expect(result.items.length).toBeLessThanOrEqual(4);
        seen.push(...result.items.map((s) => s.project.id));
        if (result.nextCursor === null) break;
        cursor = result.nextCursor;
        // One before the cursor (never seen: already passed) and one after (seen once, in its place).
        if (page === 0) {
          await projects.create(tenant.id, { name: 'A first', slug: 'a-first' });
          await projects.create(tenant.id, { name: 'Z last', slug: 'z-last' });
        }
      }
      const last = await projects.getBySlug(tenant.id, 'z-last');
      expect(seen).toEqual([...before, last.id]);
      expect((await ordered()).length).toBe(before.length + 2);
    });

    it('refuses bad options', async () => {
      await expectRefused(projects.list(a.id, { status: 'deleted' } as never), ValidationError, ['status']);
      await expectRefused(projects.list(a.id, { status: null } as never), ValidationError, ['status']);
      await expectRefused(projects.list(a.id, { limit: 1001 }), ValidationError, ['limit']);
      await expectRefused(projects.list(a.id, { limit: 0 }), ValidationError, ['limit']);
      await expectRefused(projects.list(a.id, { cursor: 'not a cursor' }), ValidationError, ['cursor']);
      await expectRefused(projects.list(a.id, { page: 2 } as never), ValidationError, ['page']);
      await expectRefused(projects.list('nope'), TenantError);
    });
  });
});
