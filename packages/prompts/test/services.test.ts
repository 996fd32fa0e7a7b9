import { ConflictError, ForbiddenError, NotFoundError, StateError, ValidationError, baseModule, withTenant } from '@strata/base';
import { UNKNOWN_ID, expectRefused, useTestDatabase } from '@strata/testing';
import { PromptLabelsService, PromptRenderer, PromptTemplatesService, PromptVersionsService, canonicalJson, promptsModule } from '../src';
import { addMember, createOrganization, expectRefusals } from './support';

describe('prompts services', () => {
  const db = useTestDatabase({ modules: [baseModule, promptsModule] });
  let org: string;
  let templates: PromptTemplatesService;
  let versions: PromptVersionsService;
  let labels: PromptLabelsService;
  let renderer: PromptRenderer;
  let admin: string;
  let member: string;

  beforeAll(async () => {
    org = await createOrganization(db, 'services');
    templates = new PromptTemplatesService(db.dataSource);
    versions = new PromptVersionsService(db.dataSource);
    labels = new PromptLabelsService(db.dataSource);
    renderer = new PromptRenderer(db.dataSource);
    admin = await addMember(db, org, 'admin@example.com', 'admin');
    member = await addMember(db, org, 'member@example.com', 'member');
  });

  const textTemplate = async (name: string, ...contents: string[]) => {
    const template = await templates.create(org, { name });
    for (const content of contents) await versions.create(org, template.id, { content });
    return template;
  };

  describe('templates', () => {
    it('creates, finds by name whatever its case, lists by name a page at a time, and soft deletes', async () => {
      const created = await templates.create(org, {
        name: 'Triage',
        type: 'chat',
        tags: ['ops', 'ops', 'support'],
        description: 'routes issues',
      });
      expect(created).toMatchObject({ name: 'Triage', type: 'chat', tags: ['ops', 'support'], latestVersion: 0, deletedAt: null });
      expect((await templates.getByName(org, 'TRIAGE')).id).toBe(created.id);
      await expectRefused(templates.create(org, { name: 'triage' }), ConflictError, ['name']);

      for (const name of ['list-b', 'List-a', 'list-c']) await templates.create(org, { name, tags: ['listed'] });
      const first = await templates.list(org, { tag: 'listed', limit: 2 });
      expect(first.items.map((t) => t.name)).toEqual(['List-a', 'list-b']);
      const second = await templates.list(org, { tag: 'listed', limit: 2, cursor: first.nextCursor ?? undefined });
      expect(second).toEqual({ items: [expect.objectContaining({ name: 'list-c' })], nextCursor: null });

      await templates.delete(org, created.id);
      await expectRefused(templates.getByName(org, 'Triage'), NotFoundError, 'prompt template');
      await expectRefused(templates.delete(org, created.id), NotFoundError, 'prompt template');
      expect((await templates.list(org, { tag: 'ops' })).items).toEqual([]);
      // The name is free again.
      await templates.create(org, { name: 'triage' });
    });

    it('refuses bad input with typed errors naming the field, writing nothing', async () => {
      await expectRefusals(db, [
        ['empty name', () => templates.create(org, { name: '' }), ValidationError, ['name']],
        ['name with a space', () => templates.create(org, { name: 'a b' }), ValidationError, ['name']],
        ['unknown type', () => templates.create(org, { name: 'x', type: 'audio' as never }), ValidationError, ['type']],
        ['tags not strings', () => templates.create(org, { name: 'x', tags: [1] as never }), ValidationError, ['tags']],
        ['bad project id', () => templates.create(org, { name: 'x', projectId: 'nope' }), ValidationError, ['projectId']],
        ['unknown field', () => templates.create(org, { name: 'x', colour: 'red' } as never), ValidationError, ['colour']],
        ['bad id', () => templates.get(org, 'nope'), ValidationError, ['templateId']],
        ['unknown id', () => templates.delete(org, UNKNOWN_ID), NotFoundError, 'prompt template'],
        ['list limit', () => templates.list(org, { limit: 5000 }), ValidationError, ['limit']],
        ['list cursor', () => templates.list(org, { cursor: 'garbage' }), ValidationError, ['cursor']],
      ]);
    });
  });

  describe('versions', () => {
    it('concurrent creates of versions of one template get 1..N, no gap and no duplicate; latest is N', async () => {
      const template = await templates.create(org, { name: 'concurrent' });
      const n = 24;
      const created = await Promise.all(Array.from({ length: n }, (_, i) => versions.create(org, template.id, { content: `v${i}` })));
      expect(created.map((v) => v.version).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect((await versions.get(org, template.id, { label: 'latest' })).version).toBe(n);
      const page = await versions.list(org, template.id, { limit: 3 });
      expect(page.items.map((v) => v.version)).toEqual([n, n - 1, n - 2]);
    });

    it('keeps content, model config, variables schema, message and author, with a hash of what makes the version', async () => {
      const template = await templates.create(org, { name: 'chatty', type: 'chat' });
      const input = {
        content: [
          { role: 'system' as const, content: 'You review code.' },
          { role: 'user' as const, content: 'Review {{diff}}' },
        ],
        modelConfig: { model: 'gpt-4o', temperature: 0.2 },
        variablesSchema: { type: 'object', properties: { diff: { type: 'string' } }, required: ['diff'] },
        commitMessage: 'first cut',
        authorId: admin,
      };
      const v1 = await versions.create(org, template.id, input);
      expect(v1).toMatchObject({
        version: 1,
        content: input.content,
        modelConfig: input.modelConfig,
        commitMessage: 'first cut',
        authorId: admin,
      });
      const v2 = await versions.create(org, template.id, { ...input, modelConfig: { temperature: 0.2, model: 'gpt-4o' } });
      expect(v2.contentHash).toBe(v1.contentHash);
      const v3 = await versions.create(org, template.id, { ...input, modelConfig: { model: 'gpt-4o', temperature: 0.3 } });
      expect(v3.contentHash).not.toBe(v1.contentHash);
      expect((await versions.get(org, template.id, { version: 2 })).id).toBe(v2.id);
      expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    });

    it('refuses bad versions with typed errors naming the field, writing nothing', async () => {
      const text = await templates.create(org, { name: 'strict-text' });
      const chat = await templates.create(org, { name: 'strict-chat', type: 'chat' });
      const deleted = await templates.create(org, { name: 'gone' });
      await templates.delete(org, deleted.id);
      await expectRefusals(db, [
        ['no content', () => versions.create(org, text.id, {} as never), ValidationError, ['content']],
        [
          'chat content for text',
          () => versions.create(org, text.id, { content: [{ role: 'user', content: 'x' }] }),
          ValidationError,
          ['content'],
        ],
        ['text content for chat', () => versions.create(org, chat.id, { content: 'x' }), ValidationError, ['content']],
        [
          'bad role',
          () => versions.create(org, chat.id, { content: [{ role: 'robot', content: 'x' }] as never }),
          ValidationError,
          ['content'],
        ],
        [
          'schema that is not one',
          () => versions.create(org, text.id, { content: 'x', variablesSchema: { type: 'nonsense' } }),
          ValidationError,
          ['variablesSchema'],
        ],
        ['author not a member', () => versions.create(org, text.id, { content: 'x', authorId: UNKNOWN_ID }), ValidationError, ['authorId']],
        ['unknown template', () => versions.create(org, UNKNOWN_ID, { content: 'x' }), NotFoundError, 'prompt template'],
        ['deleted template', () => versions.create(org, deleted.id, { content: 'x' }), NotFoundError, 'prompt template'],
        ['bad template id', () => versions.create(org, 'x', { content: 'x' }), ValidationError, ['templateId']],
        ['unknown version', () => versions.get(org, text.id, { version: 9 }), NotFoundError, 'prompt version'],
        [
          'both label and version',
          () => versions.get(org, text.id, { label: 'latest', version: 1 } as never),
          ValidationError,
          ['(input)'],
        ],
        ['bad label', () => versions.get(org, text.id, { label: 'Prod Uction' }), ValidationError, ['label']],
      ]);
      expect((await templates.get(org, text.id)).latestVersion).toBe(0);
    });
  });

  describe('labels', () => {
    it('moves a label atomically with its history; a rollback moves it back', async () => {
      const template = await textTemplate('labelled', 'one', 'two', 'three');
      await labels.move(org, template.id, { label: 'production', version: 1 }, { userId: member });
      await labels.move(org, template.id, { label: 'production', version: 3 }, { userId: admin });
      expect((await versions.get(org, template.id, { label: 'production' })).content).toBe('three');
      const rolledBack = await labels.rollback(org, template.id, 'production', { userId: admin });
      expect(rolledBack.version).toBe(1);
      const history = await labels.history(org, template.id, 'production');
      expect(history.items.map((h) => [h.fromVersion, h.toVersion, h.movedBy])).toEqual([
        [3, 1, admin],
        [1, 3, admin],
        [null, 1, member],
      ]);
      expect((await labels.list(org, template.id)).map((l) => [l.name, l.version])).toEqual([
        ['latest', 3],
        ['production', 1],
      ]);
    });

    it('two sessions moving production at once: one final value, both moves in the history', async () => {
      const template = await textTemplate('raced', 'a', 'b', 'c');
      await labels.move(org, template.id, { label: 'production', version: 1 });
      await Promise.all([
        labels.move(org, template.id, { label: 'production', version: 2 }),
        labels.move(org, template.id, { label: 'production', version: 3 }),
      ]);
      const final = (await versions.get(org, template.id, { label: 'production' })).version;
      const moves = (await labels.history(org, template.id, 'production')).items.reverse();
      expect(
        moves
          .map((h) => h.toVersion)
          .slice(1)
          .sort(),
      ).toEqual([2, 3]);
      // Each move starts where the one before it left the label, and the last one is where it is.
      expect(moves.map((h) => h.fromVersion)).toEqual([null, moves[0].toVersion, moves[1].toVersion]);
      expect(moves[2].toVersion).toBe(final);
    });

    it('a protected label refuses a member; an owner or admin moves it', async () => {
      const template = await textTemplate('guarded', 'a', 'b');
      await labels.move(org, template.id, { label: 'production', version: 1 }, { userId: member });
      await expectRefused(labels.protect(org, template.id, { label: 'production', protected: true }, { userId: member }), ForbiddenError);
      await labels.protect(org, template.id, { label: 'production', protected: true }, { userId: admin });
      await labels.move(org, template.id, { label: 'production', version: 2 }, { userId: admin });
      await expectRefusals(db, [
        ['member moves', () => labels.move(org, template.id, { label: 'production', version: 1 }, { userId: member }), ForbiddenError],
        ['nobody moves', () => labels.move(org, template.id, { label: 'production', version: 1 }), ForbiddenError],
        ['member rolls back', () => labels.rollback(org, template.id, 'production', { userId: member }), ForbiddenError],
        [
          'member unprotects',
          () => labels.protect(org, template.id, { label: 'production', protected: false }, { userId: member }),
          ForbiddenError,
        ],
      ]);
      // Inside the caller's transaction the caller's user acts.
      await withTenant(db.dataSource, org, (tx) => labels.with(tx).move(org, template.id, { label: 'production', version: 1 }), {
        userId: admin,
      });
      expect((await versions.get(org, template.id, { label: 'production' })).version).toBe(1);
    });

    it('refuses bad moves with typed errors naming the field, writing nothing', async () => {
      const template = await textTemplate('movable', 'a');
      await expectRefusals(db, [
        [
          'version that does not exist',
          () => labels.move(org, template.id, { label: 'staging', version: 7 }),
          ValidationError,
          ['version'],
        ],
        ['latest by hand', () => labels.move(org, template.id, { label: 'latest', version: 1 }), ValidationError, ['label']],
        ['bad label', () => labels.move(org, template.id, { label: 'Staging!', version: 1 }), ValidationError, ['label']],
        ['version zero', () => labels.move(org, template.id, { label: 'staging', version: 0 }), ValidationError, ['version']],
        ['unknown template', () => labels.move(org, UNKNOWN_ID, { label: 'staging', version: 1 }), NotFoundError, 'prompt template'],
        ['rollback of a label never moved', () => labels.rollback(org, template.id, 'nothing'), NotFoundError, 'prompt label'],
        [
          'protect of an unknown label',
          () => labels.protect(org, template.id, { label: 'nothing', protected: true }),
          NotFoundError,
          'prompt label',
        ],
      ]);
      await labels.move(org, template.id, { label: 'staging', version: 1 });
      await expectRefused(labels.rollback(org, template.id, 'staging'), StateError);
    });
  });

  describe('render', () => {
    it('resolves includes recursively by label or number and substitutes validated variables', async () => {
      const tone = await textTemplate('tone', 'Be brief.', 'Be brief and kind to {{user}}.');
      await labels.move(org, tone.id, { label: 'production', version: 1 });
      await textTemplate('preamble', 'You help with {{topic}}. {{> tone@production}}');
      const main = await templates.create(org, { name: 'answer', type: 'chat' });
      await versions.create(org, main.id, {
        content: [
          { role: 'system', content: '{{> preamble}} {{> tone@2}}' },
          { role: 'user', content: '{{question.text}}' },
        ],
        variablesSchema: {
          type: 'object',
          properties: {
            topic: { type: 'string' },
            user: { type: 'string' },
            question: { type: 'object', properties: { text: { type: 'string' } }, required: ['text'] },
          },
          required: ['topic', 'question'],
        },
      });
      const rendered = await renderer.render(org, {
        name: 'ANSWER',
        variables: { topic: 'git', user: 'Ada', question: { text: 'How do I rebase?' } },
      });
      expect(rendered).toMatchObject({
        name: 'answer',
        version: 1,
        label: 'latest',
        messages: [
          { role: 'system', content: 'You help with git. Be brief. Be brief and kind to Ada.' },
          { role: 'user', content: 'How do I rebase?' },
        ],
        includes: [
          { name: 'preamble', version: 1 },
          { name: 'tone', version: 1 },
          { name: 'tone', version: 2 },
        ],
      });
      expect(rendered.renderedInputHash).toMatch(/^[0-9a-f]{64}$/);
    });

    it('a missing or wrong-typed variable is a ValidationError naming it', async () => {
      const template = await templates.create(org, { name: 'typed' });
      await versions.create(org, template.id, {
        content: 'Fix {{count}} bugs in {{repo}}',
        variablesSchema: { type: 'object', properties: { count: { type: 'integer' }, repo: { type: 'string' } }, required: ['repo'] },
      });
      await expectRefused(renderer.render(org, { name: 'typed', variables: { count: 3 } }), ValidationError, ['variables.repo']);
      await expectRefused(renderer.render(org, { name: 'typed', variables: { count: 'many', repo: 'x' } }), ValidationError, [
        'variables.count',
      ]);
      // Not in the schema's required list, but used by the text.
      await expectRefused(renderer.render(org, { name: 'typed', variables: { repo: 'x' } }), ValidationError, ['variables.count']);
      expect((await renderer.render(org, { name: 'typed', version: 1, variables: { count: 2, repo: 'strata' } })).text).toBe(
        'Fix 2 bugs in strata',
      );
    });

    it('refuses include cycles and includes that do not resolve', async () => {
      await textTemplate('ping', 'ping {{> pong}}');
      await textTemplate('pong', 'pong {{> ping}}');
      await textTemplate('selfish', 'me {{> SELFISH@latest}}');
      await textTemplate('dangling', 'see {{> nowhere@production}}');
      await expect(renderer.render(org, { name: 'ping' })).rejects.toThrow(
        new StateError('prompt includes form a cycle: ping → pong → ping'),
      );
      await expectRefused(renderer.render(org, { name: 'selfish' }), StateError);
      await expect(renderer.render(org, { name: 'dangling' })).rejects.toThrow(/nowhere@production does not exist/);
      await expectRefused(renderer.render(org, { name: 'nothing-here' }), NotFoundError, 'prompt template');
      await expectRefused(renderer.render(org, { name: 'ping', label: 'production' }), NotFoundError, 'prompt version');
      await expectRefused(renderer.render(org, { name: 'ping', label: 'latest', version: 1 }), ValidationError, ['(input)']);
      await expectRefused(renderer.render(org, { name: 'ping', variables: [] as never }), ValidationError, ['variables']);
    });
  });
});
