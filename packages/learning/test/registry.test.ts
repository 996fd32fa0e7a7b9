import { ConflictError, NotFoundError, StateError, ValidationError, baseModule, withTenant } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { ModelAliasesService, ModelVersionsService, ModelsService, VERSION_STATUSES, VERSION_TRANSITIONS, learningModule } from '../src';
import type { VersionStatus } from '../src';
import { UNKNOWN_ID, createOrganization, expectNothingWritten, expectRefused } from './support';

describe('model registry', () => {
  const db = useTestDatabase({ modules: [baseModule, learningModule] });
  let models: ModelsService;
  let versions: ModelVersionsService;
  let aliases: ModelAliasesService;
  let a: string;
  let b: string;

  beforeAll(async () => {
    models = new ModelsService(db.dataSource);
    versions = new ModelVersionsService(db.dataSource);
    aliases = new ModelAliasesService(db.dataSource);
    a = await createOrganization(db, 'a');
    b = await createOrganization(db, 'b');
  });

  describe('models', () => {
    it('creates a model with defaults and finds it by id and name', async () => {
      const model = await models.create(a, { name: 'bug-likelihood', type: 'prediction', framework: 'xgboost', tags: ['code', 'risk'] });
      expect(model).toMatchObject({
        organizationId: a,
        name: 'bug-likelihood',
        type: 'prediction',
        framework: 'xgboost',
        tags: ['code', 'risk'],
      });
      expect(model.latestVersion).toBe(0);
      expect(model.description).toBeNull();
      expect((await models.get(a, model.id)).name).toBe('bug-likelihood');
      expect((await models.getByName(a, 'bug-likelihood')).id).toBe(model.id);
      // Another organization neither sees it nor is kept from the same name.
      await expectRefused(models.get(b, model.id), NotFoundError, 'model');
      expect((await models.create(b, { name: 'bug-likelihood', type: 'optimization' })).organizationId).toBe(b);
    });

    it('refuses bad input naming each field and duplicate names; writes nothing', async () => {
      await expectNothingWritten(db, async () => {
        await expectRefused(models.create(a, {} as never), ValidationError, ['name', 'type']);
        await expectRefused(models.create(a, { name: '', type: 'telepathy' } as never), ValidationError, ['name', 'type']);
        await expectRefused(models.create(a, { name: 'x', type: 'prediction', tags: ['Not A Tag'] }), ValidationError, ['tags']);
        await expectRefused(models.create(a, { name: 'x', type: 'prediction', tags: null } as never), ValidationError, ['tags']);
        await expectRefused(models.create(a, { name: 'x', type: 'prediction', createdBy: 'me' }), ValidationError, ['createdBy']);
        await expectRefused(models.create(a, { name: 'x', type: 'prediction', colour: 'red' } as never), ValidationError, ['colour']);
        await expectRefused(models.create(a, { name: 'bug-likelihood', type: 'prediction' }), ConflictError, ['name']);
        await expectRefused(models.get(a, 'nope'), ValidationError, ['modelId']);
        await expectRefused(models.create(UNKNOWN_ID, { name: 'x', type: 'prediction' }), NotFoundError, 'organization');
      });
    });

    it('lists by name a page at a time, filtered by type and tag', async () => {
      for (const name of ['effort', 'optimiser', 'anomalies']) {
        await models.create(a, {
          name,
          type: name === 'optimiser' ? 'optimization' : 'prediction',
          tags: name === 'effort' ? ['risk'] : [],
        });
      }
      const first = await models.list(a, { limit: 2 });
      const second = await models.list(a, { limit: 2, cursor: first.nextCursor! });
      expect([...first.items, ...second.items].map((m) => m.name)).toEqual(['anomalies', 'bug-likelihood', 'effort', 'optimiser']);
      expect(second.nextCursor).toBeNull();
      expect((await models.list(a, { type: 'optimization' })).items.map((m) => m.name)).toEqual(['optimiser']);
      expect((await models.list(a, { tag: 'risk' })).items.map((m) => m.name)).toEqual(['bug-likelihood', 'effort']);
      await expectRefused(models.list(a, { limit: 1001 }), ValidationError, ['limit']);
    });
  });

  describe('versions', () => {
    it('numbers versions 1..N per model', async () => {
      const model = await models.create(a, { name: 'numbered', type: 'regression' });
      const v1 = await versions.create(a, model.id, { hyperparameters: { depth: 6 }, metrics: { auc: 0.81 } });
      const v2 = await versions.create(a, model.id, { parentVersionId: v1.id, source: 'fine_tuning_job', sourceId: UNKNOWN_ID });
      expect([v1.version, v2.version]).toEqual([1, 2]);
      expect(v1).toMatchObject({
        status: 'training',
        source: 'upload',
        hyperparameters: { depth: 6 },
        metrics: { auc: 0.81 },
        parentVersionId: null,
      });
      expect(v2).toMatchObject({ parentVersionId: v1.id, source: 'fine_tuning_job' });
      expect((await versions.getByNumber(a, model.id, 2)).id).toBe(v2.id);
      expect((await models.get(a, model.id)).latestVersion).toBe(2);
      const page = await versions.list(a, model.id, { limit: 1 });
      expect(page.items.map((v) => v.version)).toEqual([2]);
      expect((await versions.list(a, model.id, { cursor: page.nextCursor! })).items.map((v) => v.version)).toEqual([1]);
    });

    it('concurrent creates get 1..N without gaps or duplicates', async () => {
      const model = await models.create(a, { name: 'concurrent', type: 'prediction' });
      const created = await Promise.all(Array.from({ length: 24 }, () => versions.create(a, model.id)));
      expect(created.map((v) => v.version).sort((x, y) => x - y)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
      // A create that fails after taking its number gives the number back.
      await expectRefused(versions.create(a, model.id, { parentVersionId: UNKNOWN_ID }), ValidationError, ['parentVersionId']);
      expect((await versions.create(a, model.id)).version).toBe(25);
    });

    it('refuses bad input, unknown models and parents of another organization; writes nothing', async () => {
      const model = await models.getByName(a, 'numbered');
      const modelOfB = await models.create(b, { name: 'other', type: 'other' });
      const versionOfB = await versions.create(b, modelOfB.id);
      await expectNothingWritten(db, async () => {
        await expectRefused(versions.create(a, model.id, { hyperparameters: 'deep' } as never), ValidationError, ['hyperparameters']);
        await expectRefused(versions.create(a, model.id, { source: 'magic' } as never), ValidationError, ['source']);
        await expectRefused(versions.create(a, model.id, { parentVersionId: 'v1' }), ValidationError, ['parentVersionId']);
        await expectRefused(versions.create(a, model.id, { parentVersionId: versionOfB.id }), ValidationError, ['parentVersionId']);
        await expectRefused(versions.create(a, UNKNOWN_ID), NotFoundError, 'model');
        await expectRefused(versions.create(a, modelOfB.id), NotFoundError, 'model');
        await expectRefused(versions.getByNumber(a, model.id, 0), ValidationError, ['version']);
      });
    });

    it('status moves along the state machine only; anything else is a StateError', async () => {
      const model = await models.create(a, { name: 'machine', type: 'classification' });
      for (const from of VERSION_STATUSES) {
        for (const to of VERSION_STATUSES) {
          const version = await versions.create(a, model.id);
          await reach(version.id, from);
          if (VERSION_TRANSITIONS[from].includes(to)) {
            expect((await versions.setStatus(a, version.id, to)).status).toBe(to);
          } else {
            await expectRefused(versions.setStatus(a, version.id, to), StateError);
            expect((await versions.get(a, version.id)).status).toBe(from);
          }
        }
      }
      await expectRefused(versions.setStatus(a, UNKNOWN_ID, 'active'), NotFoundError, 'model version');
      await expectRefused(versions.setStatus(a, UNKNOWN_ID, 'retired' as never), ValidationError, ['status']);
    });

    async function reach(versionId: string, status: VersionStatus): Promise<void> {
      const path: Record<VersionStatus, VersionStatus[]> = {
        training: [],
        active: ['active'],
        deprecated: ['active', 'deprecated'],
        archived: ['archived'],
      };
      for (const step of path[status]) await versions.setStatus(a, versionId, step);
    }
  });

  describe('lineage', () => {
    it('walks ancestors and descendants across models, nearest first', async () => {
      const base = await models.create(a, { name: 'lineage-base', type: 'generation' });
      const tuned = await models.create(a, { name: 'lineage-tuned', type: 'generation' });
      //   root ── child ── grandchild (tuned model)
      //      └── sibling
      const root = await versions.create(a, base.id);
      const child = await versions.create(a, base.id, { parentVersionId: root.id });
      const sibling = await versions.create(a, base.id, { parentVersionId: root.id });
      const grandchild = await versions.create(a, tuned.id, { parentVersionId: child.id, source: 'fine_tuning_job' });

      const ancestors = await versions.ancestors(a, grandchild.id);
      expect(ancestors.map((e) => [e.version.id, e.depth])).toEqual([
        [child.id, 1],
        [root.id, 2],
      ]);
      const descendants = await versions.descendants(a, root.id);
      expect(descendants.map((e) => [e.version.id, e.depth])).toEqual([
        [child.id, 1],
        [sibling.id, 1],
        [grandchild.id, 2],
      ]);
      expect((await versions.descendants(a, root.id, { depth: 1 })).map((e) => e.version.id)).toEqual([child.id, sibling.id]);
      expect(await versions.ancestors(a, root.id)).toEqual([]);
      expect(await versions.descendants(a, grandchild.id)).toEqual([]);
      await expectRefused(versions.ancestors(b, grandchild.id), NotFoundError, 'model version');
      await expectRefused(versions.descendants(a, root.id, { depth: 0 }), ValidationError, ['depth']);
    });

    it('lineage cannot be rewritten into a cycle, not even by SQL in a tenant transaction', async () => {
      const root = await versions.getByNumber(a, (await models.getByName(a, 'lineage-base')).id, 1);
      const [child] = (await versions.descendants(a, root.id, { depth: 1 })).map((e) => e.version);
      await expect(
        withTenant(db.dataSource, a, (tx) =>
          tx.query(`UPDATE learning.model_versions SET parent_version_id = $1 WHERE id = $2`, [child.id, root.id]),
        ),
      ).rejects.toThrow(/keeps its model, number and parent/);
    });
  });

  describe('aliases', () => {
    it('moves an alias, resolves it, and records every move', async () => {
      const model = await models.create(a, { name: 'aliased', type: 'prediction' });
      const v1 = await versions.create(a, model.id);
      const v2 = await versions.create(a, model.id);
      await aliases.move(a, model.id, 'champion', v1.id);
      expect((await aliases.resolve(a, model.id, 'champion')).id).toBe(v1.id);
      const moved = await aliases.move(a, model.id, 'champion', v2.id, { movedBy: UNKNOWN_ID });
      expect(moved).toMatchObject({ alias: 'champion', versionId: v2.id, movedBy: UNKNOWN_ID });
      expect((await aliases.resolve(a, model.id, 'champion')).version).toBe(2);
      // Moving to where it already points records nothing.
      await aliases.move(a, model.id, 'champion', v2.id);
      await aliases.move(a, model.id, 'challenger', v1.id);
      expect((await aliases.list(a, model.id)).map((x) => [x.alias, x.versionId])).toEqual([
        ['challenger', v1.id],
        ['champion', v2.id],
      ]);
      await aliases.remove(a, model.id, 'challenger');
      await expectRefused(aliases.resolve(a, model.id, 'challenger'), NotFoundError, 'model alias');
      expect((await aliases.history(a, model.id, 'champion')).map((h) => [h.previousVersionId, h.versionId])).toEqual([
        [null, v1.id],
        [v1.id, v2.id],
      ]);
      expect((await aliases.history(a, model.id, 'challenger')).map((h) => [h.previousVersionId, h.versionId])).toEqual([
        [null, v1.id],
        [v1.id, null],
      ]);
    });

    it('refuses versions of another model, archived versions and bad aliases; an aliased version cannot be archived', async () => {
      const model = await models.getByName(a, 'aliased');
      const other = await models.create(a, { name: 'not-aliased', type: 'prediction' });
      const foreign = await versions.create(a, other.id);
      const champion = await aliases.resolve(a, model.id, 'champion');
      const v3 = await versions.create(a, model.id);
      await versions.archive(a, v3.id);
      await expectNothingWritten(db, async () => {
        await expectRefused(aliases.move(a, model.id, 'champion', foreign.id), ValidationError, ['versionId']);
        await expectRefused(aliases.move(a, model.id, 'champion', v3.id), StateError);
        await expectRefused(aliases.move(a, model.id, 'Champion!', champion.id), ValidationError, ['alias']);
        await expectRefused(aliases.move(a, UNKNOWN_ID, 'champion', champion.id), NotFoundError, 'model');
        await expectRefused(aliases.move(b, model.id, 'champion', champion.id), NotFoundError, 'model');
        await expectRefused(aliases.move(a, model.id, 'champion', champion.id, { movedBy: 'me' }), ValidationError, ['movedBy']);
        await expectRefused(versions.archive(a, champion.id), StateError);
        await expectRefused(aliases.remove(a, model.id, 'nobody'), NotFoundError, 'model alias');
      });
    });

    it('concurrent moves take turns: the history is one unbroken chain ending where the alias points', async () => {
      const model = await models.create(a, { name: 'contended', type: 'prediction' });
      const targets = await Promise.all(Array.from({ length: 6 }, () => versions.create(a, model.id)));
      await Promise.all(Array.from({ length: 30 }, (_, i) => aliases.move(a, model.id, 'champion', targets[i % targets.length].id)));
      const history = await aliases.history(a, model.id, 'champion');
      expect(history[0].previousVersionId).toBeNull();
      for (let i = 1; i < history.length; i++) {
        expect(history[i].previousVersionId).toBe(history[i - 1].versionId);
        expect(history[i].versionId).not.toBe(history[i].previousVersionId);
      }
      expect((await aliases.resolve(a, model.id, 'champion')).id).toBe(history[history.length - 1].versionId);
    });

    it('an alias move and an archive of its target never leave the alias on an archived version', async () => {
      const model = await models.create(a, { name: 'race', type: 'prediction' });
      for (let round = 0; round < 8; round++) {
        const version = await versions.create(a, model.id);
        const results = await Promise.allSettled([aliases.move(a, model.id, 'live', version.id), versions.archive(a, version.id)]);
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(StateError);
        const target = await aliases.resolve(a, model.id, 'live').catch(() => null);
        if (target) expect(target.status).not.toBe('archived');
      }
    });
  });
});
