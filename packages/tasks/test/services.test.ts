import { ConflictError, NotFoundError, StateError, TenantError, ValidationError, baseModule } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { TaskDefinitionsService, TaskStatsService, TasksService, WorkQueueService, WorkflowsService, tasksModule } from '../src';
import { UNKNOWN_ID, createOrganization, expectRefusals, rankViolations, rowCounts } from './support';

const WEEK_SECONDS = 7 * 24 * 3600;

describe('tasks services', () => {
  const db = useTestDatabase({ modules: [baseModule, tasksModule] });
  let definitions: TaskDefinitionsService;
  let workflows: WorkflowsService;
  let tasks: TasksService;
  let queue: WorkQueueService;
  let stats: TaskStatsService;
  /** The other organization: its ids must never work for the one under test. */
  let other: string;
  let otherDefinition: string;
  let otherWorkflow: string;
  let otherTask: string;

  beforeAll(async () => {
    definitions = new TaskDefinitionsService(db.dataSource);
    workflows = new WorkflowsService(db.dataSource);
    tasks = new TasksService(db.dataSource);
    queue = new WorkQueueService(db.dataSource);
    stats = new TaskStatsService(db.dataSource);
    other = await createOrganization(db, 'other');
    otherDefinition = (await definitions.create(other, { name: 'secret', kind: 'secret' })).id;
    otherWorkflow = (await workflows.create(other, { name: 'secret', status: 'active', definition: { steps: [{ key: 's', title: 'S' }] } }))
      .id;
    otherTask = (await tasks.enqueue(other, { title: 'secret' })).id;
  });

  const auditOf = (rowId: string) =>
    db.query<{ action: string; table_name: string }>(
      'SELECT action, table_name FROM base.audit_log WHERE row_id = $1 ORDER BY created_at, action DESC',
      [rowId],
    );

  describe('TaskDefinitionsService', () => {
    let org: string;
    beforeAll(async () => {
      org = await createOrganization(db, 'definitions');
    });

    it('creates definitions with defaults, finds them by id and name, lists them by name and kind', async () => {
      const plain = await definitions.create(org, { name: 'review', kind: 'code_review' });
      expect(plain).toMatchObject({
        organizationId: org,
        name: 'review',
        kind: 'code_review',
        description: null,
        inputSchema: {},
        metadata: {},
        timeoutSeconds: 3600,
        maxAttempts: 3,
        backoffBaseSeconds: 10,
        backoffFactor: 2,
        backoffMaxSeconds: 3600,
      });
      const full = await definitions.create(org, {
        name: 'all tests',
        kind: 'test_run',
        description: 'Runs the whole suite',
        inputSchema: { type: 'object', required: ['ref'] },
        timeoutSeconds: 900,
        maxAttempts: 5,
        backoffBaseSeconds: 30,
        backoffFactor: 1.5,
        backoffMaxSeconds: 600,
        metadata: { team: 'ci' },
      });
      expect(full).toMatchObject({
        description: 'Runs the whole suite',
        inputSchema: { type: 'object', required: ['ref'] },
        timeoutSeconds: 900,
        maxAttempts: 5,
        backoffBaseSeconds: 30,
        backoffFactor: 1.5,
        backoffMaxSeconds: 600,
        metadata: { team: 'ci' },
      });
      const lint = await definitions.create(org, { name: 'lint', kind: 'code_review' });
      expect(await definitions.get(org, full.id)).toEqual(full);
      expect(await definitions.getByName(org, 'review')).toEqual(plain);
      expect((await definitions.list(org)).items.map((d) => d.name)).toEqual(['all tests', 'lint', 'review']);
      expect((await definitions.list(org, { kind: 'code_review' })).items.map((d) => d.id)).toEqual([lint.id, plain.id]);
      expect(await definitions.list(org, { kind: 'deploy' })).toEqual({ items: [], nextCursor: null });
      // The same name in another organization is another definition.
      expect((await definitions.create(other, { name: 'review', kind: 'x' })).id).not.toBe(plain.id);
      expect((await definitions.getByName(org, 'review')).id).toBe(plain.id);
    });

    it('updates only the fields given, and the audit log records who changed the configuration', async () => {
      const created = await definitions.create(org, { name: 'deploy', kind: 'deploy', maxAttempts: 2, metadata: { a: 1 } });
      const updated = await definitions.update(org, created.id, { description: 'Ships it', timeoutSeconds: 120, backoffFactor: 3 });
      expect(updated).toMatchObject({
        id: created.id,
        name: 'deploy',
        kind: 'deploy',
        description: 'Ships it',
        timeoutSeconds: 120,
        backoffFactor: 3,
        maxAttempts: 2,
        backoffBaseSeconds: 10,
        backoffMaxSeconds: 3600,
        metadata: { a: 1 },
      });
      expect(await definitions.get(org, created.id)).toEqual(updated);
      expect(await definitions.update(org, created.id, {})).toMatchObject({ description: 'Ships it', timeoutSeconds: 120 });
      expect(await auditOf(created.id)).toEqual(
        expect.arrayContaining([
          { action: 'insert', table_name: 'tasks.task_definitions' },
          { action: 'update', table_name: 'tasks.task_definitions' },
        ]),
      );
    });

    it('refuses bad input to create, naming each field; writes nothing', async () => {
      await definitions.create(org, { name: 'taken', kind: 'x' });
      const create = (input: unknown) => () => definitions.create(org, input as never);
      await expectRefusals(db, [
        ['nothing', create({}), ValidationError, ['name', 'kind']],
        ['null', create(null), ValidationError, ['(input)']],
        ['an array', create([{ name: 'x', kind: 'x' }]), ValidationError, ['(input)']],
        ['empty name, bad kind', create({ name: '', kind: 'Code Review' }), ValidationError, ['name', 'kind']],
        ['wrong types', create({ name: 42, kind: ['x'] }), ValidationError, ['name', 'kind']],
        ['long name', create({ name: 'x'.repeat(256), kind: 'x' }), ValidationError, ['name']],
        ...['Review', '1review', 'code review', '', 'x'.repeat(65), 'review!'].map(
          (kind): [string, () => Promise<unknown>, typeof ValidationError, string[]] => [
            `kind ${JSON.stringify(kind)}`,
            create({ name: 'x', kind }),
            ValidationError,
            ['kind'],
          ],
        ),
        ...[0, -5, 1.5, WEEK_SECONDS + 1, '60'].map(
          (timeoutSeconds): [string, () => Promise<unknown>, typeof ValidationError, string[]] => [
            `timeoutSeconds ${JSON.stringify(timeoutSeconds)}`,
            create({ name: 'x', kind: 'x', timeoutSeconds }),
            ValidationError,
            ['timeoutSeconds'],
          ],
        ),
        ['maxAttempts 0', create({ name: 'x', kind: 'x', maxAttempts: 0 }), ValidationError, ['maxAttempts']],
        ['maxAttempts 101', create({ name: 'x', kind: 'x', maxAttempts: 101 }), ValidationError, ['maxAttempts']],
        ['negative backoff base', create({ name: 'x', kind: 'x', backoffBaseSeconds: -1 }), ValidationError, ['backoffBaseSeconds']],
        ['backoff factor below 1', create({ name: 'x', kind: 'x', backoffFactor: 0.5 }), ValidationError, ['backoffFactor']],
        ['backoff factor NaN', create({ name: 'x', kind: 'x', backoffFactor: NaN }), ValidationError, ['backoffFactor']],
        ['backoff factor infinite', create({ name: 'x', kind: 'x', backoffFactor: Infinity }), ValidationError, ['backoffFactor']],
        ['backoff factor 11', create({ name: 'x', kind: 'x', backoffFactor: 11 }), ValidationError, ['backoffFactor']],
        ['negative backoff max', create({ name: 'x', kind: 'x', backoffMaxSeconds: -1 }), ValidationError, ['backoffMaxSeconds']],
        ['input schema a string', create({ name: 'x', kind: 'x', inputSchema: 'any' }), ValidationError, ['inputSchema']],
        ['input schema an array', create({ name: 'x', kind: 'x', inputSchema: [1] }), ValidationError, ['inputSchema']],
        ['metadata a number', create({ name: 'x', kind: 'x', metadata: 5 }), ValidationError, ['metadata']],
        ['unknown property', create({ name: 'x', kind: 'x', colour: 'red' }), ValidationError, ['colour']],
        ['smuggled organization', create({ name: 'x', kind: 'x', organizationId: other }), ValidationError, ['organizationId']],
        ['smuggled id', create({ name: 'x', kind: 'x', id: UNKNOWN_ID }), ValidationError, ['id']],
        ['duplicate name', create({ name: 'taken', kind: 'y' }), ConflictError, ['name']],
        ['unknown organization', () => definitions.create(UNKNOWN_ID, { name: 'x', kind: 'x' }), NotFoundError, 'organization'],
        ['malformed organization', () => definitions.create('acme', { name: 'x', kind: 'x' }), TenantError],
      ]);
    });

    it('a retry policy whose cap is below its base delay is refused naming the input fields, not the constraint', async () => {
      const existing = await definitions.create(org, { name: 'capped', kind: 'x', backoffBaseSeconds: 10, backoffMaxSeconds: 60 });
      const before = await rowCounts(db);
      for (const call of [
        () => definitions.create(org, { name: 'slow start', kind: 'x', backoffBaseSeconds: 7200 }), // above the default cap of 3600
        () => definitions.create(org, { name: 'inverted', kind: 'x', backoffBaseSeconds: 100, backoffMaxSeconds: 50 }),
        () => definitions.update(org, existing.id, { backoffMaxSeconds: 5 }),
      ]) {
        const error = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(ValidationError);
        const fields = (error as ValidationError).fields;
        expect(fields.length).toBeGreaterThan(0);
        expect(fields.filter((f) => f !== 'backoffBaseSeconds' && f !== 'backoffMaxSeconds')).toEqual([]);
      }
      expect(await rowCounts(db)).toEqual(before);
      expect(await definitions.get(org, existing.id)).toMatchObject({ backoffBaseSeconds: 10, backoffMaxSeconds: 60 });
    });

    it("refuses bad ids, names, filters and updates; does not find unknown or other organizations' definitions", async () => {
      const mine = await definitions.create(org, { name: 'mine', kind: 'x' });
      await expectRefusals(db, [
        ['get: malformed id', () => definitions.get(org, 'nope'), ValidationError, ['definitionId']],
        ['get: a number', () => definitions.get(org, 42 as never), ValidationError, ['definitionId']],
        ['get: unknown id', () => definitions.get(org, UNKNOWN_ID), NotFoundError, 'task definition'],
        ['get: other organization', () => definitions.get(org, otherDefinition), NotFoundError, 'task definition'],
        ['get: malformed organization', () => definitions.get('acme', mine.id), TenantError],
        ['getByName: unknown', () => definitions.getByName(org, 'no such definition'), NotFoundError, 'task definition'],
        ['getByName: other organization', () => definitions.getByName(org, 'secret'), NotFoundError, 'task definition'],
        ['getByName: missing', () => definitions.getByName(org, undefined as never), ValidationError, ['name']],
        ['getByName: null', () => definitions.getByName(org, null as never), ValidationError, ['name']],
        ['getByName: a number', () => definitions.getByName(org, 42 as never), ValidationError, ['name']],
        ['list: null filter', () => definitions.list(org, null as never), ValidationError, ['(input)']],
        ['list: kind a number', () => definitions.list(org, { kind: 42 } as never), ValidationError, ['kind']],
        ['list: unknown filter', () => definitions.list(org, { colour: 'red' } as never), ValidationError, ['colour']],
        ['update: malformed id', () => definitions.update(org, 'nope', { description: 'x' }), ValidationError, ['definitionId']],
        ['update: unknown id', () => definitions.update(org, UNKNOWN_ID, { description: 'x' }), NotFoundError, 'task definition'],
        [
          'update: other organization',
          () => definitions.update(org, otherDefinition, { description: 'x' }),
          NotFoundError,
          'task definition',
        ],
        ['update: null', () => definitions.update(org, mine.id, null as never), ValidationError, ['(input)']],
        ['update: rename', () => definitions.update(org, mine.id, { name: 'renamed' } as never), ValidationError, ['name']],
        ['update: change kind', () => definitions.update(org, mine.id, { kind: 'y' } as never), ValidationError, ['kind']],
        ['update: zero timeout', () => definitions.update(org, mine.id, { timeoutSeconds: 0 }), ValidationError, ['timeoutSeconds']],
        [
          'update: wrong types',
          () => definitions.update(org, mine.id, { maxAttempts: '3', description: 7 } as never),
          ValidationError,
          ['maxAttempts', 'description'],
        ],
        ['update: unknown property', () => definitions.update(org, mine.id, { colour: 'red' } as never), ValidationError, ['colour']],
      ]);
      expect(await definitions.get(org, mine.id)).toEqual(mine);
    });
  });

  describe('WorkflowsService', () => {
    let org: string;
    const steps = [{ key: 'build', title: 'Build' }];
    beforeAll(async () => {
      org = await createOrganization(db, 'workflows');
    });

    it('numbers versions per name: one more than the latest unless given; other organizations count on their own', async () => {
      const v1 = await workflows.create(org, { name: 'release', definition: { steps } });
      expect(v1).toMatchObject({
        organizationId: org,
        name: 'release',
        version: 1,
        status: 'draft',
        projectId: null,
        description: null,
        definition: { steps, edges: [] },
      });
      expect((await workflows.create(org, { name: 'release', definition: { steps } })).version).toBe(2);
      expect((await workflows.create(org, { name: 'release', version: 5, definition: { steps } })).version).toBe(5);
      expect((await workflows.create(org, { name: 'release', definition: { steps } })).version).toBe(6);
      expect((await workflows.create(org, { name: 'nightly', definition: { steps } })).version).toBe(1);
      const elsewhere = await createOrganization(db, 'workflows-elsewhere');
      expect((await workflows.create(elsewhere, { name: 'release', definition: { steps } })).version).toBe(1);
      expect(await workflows.get(org, v1.id)).toEqual(v1);
      expect(await auditOf(v1.id)).toEqual([{ action: 'insert', table_name: 'tasks.workflows' }]);
    });

    it('stores the definition as given, with its project and description', async () => {
      const project = '11111111-1111-4111-8111-111111111111';
      const definition = {
        steps: [
          { key: 'a', title: 'A', priority: 3, input: { x: 1 } },
          { key: 'b', title: 'B' },
        ],
        edges: [{ from: 'a', to: 'b' }],
      };
      const created = await workflows.create(org, {
        name: 'stored',
        projectId: project,
        description: 'Two steps',
        status: 'active',
        definition,
      });
      expect(created).toMatchObject({ projectId: project, description: 'Two steps', status: 'active', definition });
      expect((await workflows.get(org, created.id)).definition).toEqual(definition);
    });

    it('moves draft → active → retired; getActive finds the highest active version; illegal moves are StateErrors', async () => {
      const [v1, v2, v3] = [
        await workflows.create(org, { name: 'ci', definition: { steps } }),
        await workflows.create(org, { name: 'ci', definition: { steps } }),
        await workflows.create(org, { name: 'ci', definition: { steps } }),
      ];
      await expectRefusals(db, [['getActive: none active yet', () => workflows.getActive(org, 'ci'), NotFoundError, 'workflow']]);
      expect(await workflows.activate(org, v1.id)).toMatchObject({ id: v1.id, status: 'active' });
      expect((await workflows.getActive(org, 'ci')).id).toBe(v1.id);
      await workflows.activate(org, v2.id);
      expect((await workflows.getActive(org, 'ci')).id).toBe(v2.id);
      expect(await workflows.retire(org, v2.id)).toMatchObject({ status: 'retired' });
      expect((await workflows.getActive(org, 'ci')).id).toBe(v1.id);
      expect(await workflows.retire(org, v3.id)).toMatchObject({ status: 'retired' });
      await expectRefusals(db, [
        ['activate an active workflow', () => workflows.activate(org, v1.id), StateError],
        ['activate a retired workflow', () => workflows.activate(org, v2.id), StateError],
        ['retire a retired workflow', () => workflows.retire(org, v3.id), StateError],
      ]);
      expect((await workflows.list(org, { name: 'ci' })).items.map((w) => [w.version, w.status])).toEqual([
        [3, 'retired'],
        [2, 'retired'],
        [1, 'active'],
      ]);
      expect(await auditOf(v2.id)).toEqual(
        expect.arrayContaining([
          { action: 'insert', table_name: 'tasks.workflows' },
          { action: 'update', table_name: 'tasks.workflows' },
        ]),
      );
    });

    it('lists by name, then newest version first; filters by name and status', async () => {
      const lister = await createOrganization(db, 'lister');
      await workflows.create(lister, { name: 'b', definition: { steps } });
      await workflows.create(lister, { name: 'a', definition: { steps } });
      await workflows.create(lister, { name: 'b', definition: { steps }, status: 'active' });
      expect((await workflows.list(lister)).items.map((w) => `${w.name}${w.version}`)).toEqual(['a1', 'b2', 'b1']);
      expect((await workflows.list(lister, { name: 'b' })).items.map((w) => w.version)).toEqual([2, 1]);
      expect((await workflows.list(lister, { status: 'active' })).items.map((w) => `${w.name}${w.version}`)).toEqual(['b2']);
      expect(await workflows.list(lister, { status: 'retired' })).toEqual({ items: [], nextCursor: null });
    });

    it('refuses malformed workflows, naming each field; writes nothing', async () => {
      await workflows.create(org, { name: 'existing', definition: { steps } });
      const create = (input: unknown) => () => workflows.create(org, input as never);
      const withDefinition = (definition: unknown) => create({ name: 'x', definition });
      await expectRefusals(db, [
        ['nothing', create({}), ValidationError, ['name', 'definition']],
        ['null', create(null), ValidationError, ['(input)']],
        ['empty name', create({ name: '', definition: { steps } }), ValidationError, ['name']],
        ['long name', create({ name: 'n'.repeat(256), definition: { steps } }), ValidationError, ['name']],
        ['name a number', create({ name: 7, definition: { steps } }), ValidationError, ['name']],
        ['version 0', create({ name: 'x', version: 0, definition: { steps } }), ValidationError, ['version']],
        ['version -1', create({ name: 'x', version: -1, definition: { steps } }), ValidationError, ['version']],
        ['version 1.5', create({ name: 'x', version: 1.5, definition: { steps } }), ValidationError, ['version']],
        ['version a string', create({ name: 'x', version: '2', definition: { steps } }), ValidationError, ['version']],
        ['status retired', create({ name: 'x', status: 'retired', definition: { steps } }), ValidationError, ['status']],
        ['status unknown', create({ name: 'x', status: 'paused', definition: { steps } }), ValidationError, ['status']],
        ['malformed project', create({ name: 'x', projectId: 'p1', definition: { steps } }), ValidationError, ['projectId']],
        ['description a number', create({ name: 'x', description: 5, definition: { steps } }), ValidationError, ['description']],
        ['unknown property', create({ name: 'x', owner: 'me', definition: { steps } }), ValidationError, ['owner']],
        ['definition a string', withDefinition('build then test'), ValidationError, ['definition']],
        ['definition null', withDefinition(null), ValidationError, ['definition']],
        ['no steps', withDefinition({}), ValidationError, ['definition.steps']],
        ['empty steps', withDefinition({ steps: [] }), ValidationError, ['definition.steps']],
        ['steps not an array', withDefinition({ steps: 'build' }), ValidationError, ['definition.steps']],
        ['unknown definition property', withDefinition({ steps, edges: [], retries: 3 }), ValidationError, ['definition.retries']],
        ['empty step', withDefinition({ steps: [{}] }), ValidationError, ['definition.steps.0.key', 'definition.steps.0.title']],
        [
          'bad step key and title',
          withDefinition({ steps: [{ key: 'has space', title: '' }] }),
          ValidationError,
          ['definition.steps.0.key', 'definition.steps.0.title'],
        ],
        [
          'step key too long',
          withDefinition({ steps: [{ key: 'k'.repeat(256), title: 'T' }] }),
          ValidationError,
          ['definition.steps.0.key'],
        ],
        [
          'step priority out of range',
          withDefinition({ steps: [steps[0], { key: 'b', title: 'B', priority: 1001 }] }),
          ValidationError,
          ['definition.steps.1.priority'],
        ],
        [
          'step input a string',
          withDefinition({ steps: [{ key: 'a', title: 'A', input: 'x' }] }),
          ValidationError,
          ['definition.steps.0.input'],
        ],
        [
          'step definition empty',
          withDefinition({ steps: [{ key: 'a', title: 'A', definition: '' }] }),
          ValidationError,
          ['definition.steps.0.definition'],
        ],
        [
          'unknown step property',
          withDefinition({ steps: [{ key: 'a', title: 'A', timeout: 5 }] }),
          ValidationError,
          ['definition.steps.0.timeout'],
        ],
        ['edges not an array', withDefinition({ steps, edges: 'build' }), ValidationError, ['definition.edges']],
        ['edge without to', withDefinition({ steps, edges: [{ from: 'build' }] }), ValidationError, ['definition.edges.0.to']],
        ['edge from a number', withDefinition({ steps, edges: [{ from: 1, to: 'build' }] }), ValidationError, ['definition.edges.0.from']],
        [
          'unknown edge property',
          withDefinition({ steps, edges: [{ from: 'build', to: 'build', when: 'green' }] }),
          ValidationError,
          ['definition.edges.0.when'],
        ],
        ['duplicate name and version', create({ name: 'existing', version: 1, definition: { steps } }), ConflictError, ['name', 'version']],
        ['unknown organization', () => workflows.create(UNKNOWN_ID, { name: 'x', definition: { steps } }), NotFoundError, 'organization'],
        ['malformed organization', () => workflows.create('acme', { name: 'x', definition: { steps } }), TenantError],
      ]);
    });

    it('refuses definitions that are not a DAG over their own steps, naming the edges and steps at fault', async () => {
      const abc = ['a', 'b', 'c', 'd'].map((key) => ({ key, title: key.toUpperCase() }));
      const graph =
        (edges: [string, string][], stepList = abc) =>
        () =>
          workflows.create(org, { name: 'graph', definition: { steps: stepList, edges: edges.map(([from, to]) => ({ from, to })) } });
      await expectRefusals(db, [
        ['self edge', graph([['a', 'a']]), ValidationError, ['definition.edges']],
        [
          'two-cycle',
          graph([
            ['a', 'b'],
            ['b', 'a'],
          ]),
          ValidationError,
          ['definition.edges'],
        ],
        [
          'three-cycle',
          graph([
            ['a', 'b'],
            ['b', 'c'],
            ['c', 'a'],
          ]),
          ValidationError,
          ['definition.edges'],
        ],
        [
          'cycle behind a root',
          graph([
            ['a', 'b'],
            ['b', 'c'],
            ['c', 'd'],
            ['d', 'b'],
          ]),
          ValidationError,
          ['definition.edges'],
        ],
        [
          'unknown from',
          graph([
            ['a', 'b'],
            ['zz', 'c'],
          ]),
          ValidationError,
          ['definition.edges.1.from'],
        ],
        ['unknown to', graph([['a', 'zz']]), ValidationError, ['definition.edges.0.to']],
        ['both ends unknown', graph([['x', 'y']]), ValidationError, ['definition.edges.0.from', 'definition.edges.0.to']],
        [
          'duplicate edge',
          graph([
            ['a', 'b'],
            ['a', 'b'],
          ]),
          ValidationError,
          ['definition.edges.1'],
        ],
        ['duplicate step key', graph([], [...abc, { key: 'b', title: 'B again' }]), ValidationError, ['definition.steps.4.key']],
        [
          'every problem at once',
          graph(
            [
              ['a', 'b'],
              ['b', 'a'],
              ['q', 'a'],
            ],
            [...abc, { key: 'a', title: 'A again' }],
          ),
          ValidationError,
          ['definition.steps.4.key', 'definition.edges.2.from', 'definition.edges'],
        ],
        [
          'unknown task definitions',
          () =>
            workflows.create(org, {
              name: 'defs',
              definition: { steps: [{ key: 'a', title: 'A', definition: 'nope' }, steps[0], { key: 'c', title: 'C', definition: 'nada' }] },
            }),
          ValidationError,
          ['definition.steps.0.definition', 'definition.steps.2.definition'],
        ],
        [
          "another organization's task definition",
          () => workflows.create(org, { name: 'defs', definition: { steps: [{ key: 'a', title: 'A', definition: 'secret' }] } }),
          ValidationError,
          ['definition.steps.0.definition'],
        ],
      ]);
      // A diamond is a DAG.
      expect(
        (
          await graph([
            ['a', 'b'],
            ['a', 'c'],
            ['b', 'd'],
            ['c', 'd'],
          ])()
        ).definition.edges,
      ).toHaveLength(4);
    });

    it("refuses bad ids, names and filters; does not find unknown or other organizations' workflows", async () => {
      const draft = await workflows.create(org, { name: 'lookup', definition: { steps } });
      await expectRefusals(db, [
        ['get: malformed id', () => workflows.get(org, 'wf-1'), ValidationError, ['workflowId']],
        ['get: missing id', () => workflows.get(org, undefined as never), ValidationError, ['workflowId']],
        ['get: unknown id', () => workflows.get(org, UNKNOWN_ID), NotFoundError, 'workflow'],
        ['get: other organization', () => workflows.get(org, otherWorkflow), NotFoundError, 'workflow'],
        ['getActive: unknown name', () => workflows.getActive(org, 'no such workflow'), NotFoundError, 'workflow'],
        ['getActive: only a draft', () => workflows.getActive(org, 'lookup'), NotFoundError, 'workflow'],
        ['getActive: other organization', () => workflows.getActive(org, 'secret'), NotFoundError, 'workflow'],
        ['getActive: missing name', () => workflows.getActive(org, undefined as never), ValidationError, ['name']],
        ['getActive: a number', () => workflows.getActive(org, 5 as never), ValidationError, ['name']],
        ['list: null filter', () => workflows.list(org, null as never), ValidationError, ['(input)']],
        ['list: unknown status', () => workflows.list(org, { status: 'paused' } as never), ValidationError, ['status']],
        ['list: name a number', () => workflows.list(org, { name: 5 } as never), ValidationError, ['name']],
        ['list: unknown filter', () => workflows.list(org, { colour: 'red' } as never), ValidationError, ['colour']],
        ['activate: malformed id', () => workflows.activate(org, 'x'), ValidationError, ['workflowId']],
        ['activate: unknown id', () => workflows.activate(org, UNKNOWN_ID), NotFoundError, 'workflow'],
        ['activate: other organization', () => workflows.activate(org, otherWorkflow), NotFoundError, 'workflow'],
        ['retire: malformed id', () => workflows.retire(org, 'x'), ValidationError, ['workflowId']],
        ['retire: unknown id', () => workflows.retire(org, UNKNOWN_ID), NotFoundError, 'workflow'],
        ['retire: other organization', () => workflows.retire(org, otherWorkflow), NotFoundError, 'workflow'],
        ['activate: malformed organization', () => workflows.activate('acme', draft.id), TenantError],
      ]);
      expect((await workflows.get(org, draft.id)).status).toBe('draft');
      expect((await workflows.get(other, otherWorkflow)).status).toBe('active');
    });
  });

  describe('TasksService', () => {
    let org: string;
    beforeAll(async () => {
      org = await createOrganization(db, 'tasks');
    });

    /** Claims exactly this task (it has the highest priority of the organization's ready tasks) and finishes it. */
    const finish = async (taskId: string, how: 'complete' | 'fail') => {
      const [claimed] = await queue.claim(org, { workerId: 'finisher', count: 1, leaseSeconds: 60 });
      expect(claimed.id).toBe(taskId);
      if (how === 'complete') await queue.complete(org, taskId, { workerId: 'finisher' });
      else await queue.fail(org, taskId, { workerId: 'finisher', error: 'broken', retryable: false });
    };
    const statusOf = async (taskId: string) =>
      (await db.query<{ status: string }>('SELECT status FROM tasks.tasks WHERE id = $1', [taskId]))[0].status;

    it('enqueues with defaults; a definition supplies max attempts unless given', async () => {
      const plain = await tasks.enqueue(org, { title: 'plain' });
      expect(plain).toMatchObject({
        organizationId: org,
        title: 'plain',
        status: 'ready',
        priority: 0,
        input: {},
        output: null,
        attempts: 0,
        maxAttempts: 3,
        dagRank: 0,
        projectId: null,
        workflowId: null,
        workflowRunId: null,
        workflowStep: null,
        definitionId: null,
        parentTaskId: null,
        lockedBy: null,
        deletedAt: null,
      });
      const definition = await definitions.create(org, { name: 'patient', kind: 'x', maxAttempts: 7 });
      expect((await tasks.enqueue(org, { title: 'defined', definitionId: definition.id })).maxAttempts).toBe(7);
      expect((await tasks.enqueue(org, { title: 'overridden', definitionId: definition.id, maxAttempts: 2 })).maxAttempts).toBe(2);
      const later = new Date(Date.now() + 3_600_000);
      const scheduled = await tasks.enqueue(org, {
        title: 'scheduled',
        runAfter: later,
        priority: -3,
        input: { n: 1 },
        projectId: UNKNOWN_ID,
      });
      expect(scheduled).toMatchObject({ status: 'ready', priority: -3, input: { n: 1 }, projectId: UNKNOWN_ID });
      expect(scheduled.runAfter.getTime()).toBe(later.getTime());
      expect(await tasks.get(org, scheduled.id)).toEqual(scheduled);
    });

    describe('instantiateWorkflow', () => {
      const project = '22222222-2222-4222-8222-222222222222';
      const edges = [
        { from: 'checkout', to: 'lint' },
        { from: 'checkout', to: 'compile' },
        { from: 'lint', to: 'test' },
        { from: 'compile', to: 'test' },
        { from: 'test', to: 'package' },
        { from: 'compile', to: 'package' },
      ];
      let workflowId: string;
      let lintDefinition: string;
      let compileDefinition: string;

      beforeAll(async () => {
        lintDefinition = (await definitions.create(org, { name: 'lint', kind: 'lint', maxAttempts: 5 })).id;
        compileDefinition = (await definitions.create(org, { name: 'compile', kind: 'build', maxAttempts: 2 })).id;
        workflowId = (
          await workflows.create(org, {
            name: 'pipeline',
            projectId: project,
            status: 'active',
            definition: {
              steps: [
                { key: 'package', title: 'Package' },
                { key: 'checkout', title: 'Checkout', priority: 9, input: { ref: 'main', depth: 1 } },
                { key: 'lint', title: 'Lint', definition: 'lint' },
                { key: 'compile', title: 'Compile', definition: 'compile', input: { target: 'x86' } },
                { key: 'test', title: 'Test', priority: -1 },
              ],
              edges,
            },
          })
        ).id;
      });

      it('creates one task per step and one dependency per edge; roots are ready, the rest wait', async () => {
        const parent = await tasks.enqueue(org, { title: 'release 1.0' });
        const before = await rowCounts(db);
        const run = await tasks.instantiateWorkflow(org, workflowId, {
          input: { ref: 'release', user: 'ada' },
          priority: 4,
          parentTaskId: parent.id,
        });
        expect(run.workflow.id).toBe(workflowId);
        expect(run.tasks.map((t) => t.workflowStep)).toEqual(['package', 'checkout', 'lint', 'compile', 'test']);
        const byStep = Object.fromEntries(run.tasks.map((t) => [String(t.workflowStep), t]));
        for (const t of run.tasks) {
          expect(t).toMatchObject({
            organizationId: org,
            workflowId,
            workflowRunId: run.workflowRunId,
            projectId: project,
            parentTaskId: parent.id,
            attempts: 0,
          });
        }
        expect(run.tasks.map((t) => [t.workflowStep, t.title, t.status, t.priority, t.maxAttempts, t.definitionId])).toEqual([
          ['package', 'Package', 'pending', 4, 3, null],
          ['checkout', 'Checkout', 'ready', 9, 3, null],
          ['lint', 'Lint', 'pending', 4, 5, lintDefinition],
          ['compile', 'Compile', 'pending', 4, 2, compileDefinition],
          ['test', 'Test', 'pending', -1, 3, null],
        ]);
        // The run's input lies under each step's own input: the step wins where both set a key.
        expect(byStep.checkout.input).toEqual({ ref: 'main', depth: 1, user: 'ada' });
        expect(byStep.compile.input).toEqual({ ref: 'release', user: 'ada', target: 'x86' });
        expect(byStep.lint.input).toEqual({ ref: 'release', user: 'ada' });

        const stepOf = new Map(run.tasks.map((t) => [t.id, String(t.workflowStep)]));
        const stored = await db.query<{ task_id: string; depends_on_task_id: string }>(
          'SELECT task_id, depends_on_task_id FROM tasks.task_dependencies WHERE task_id = ANY ($1)',
          [run.tasks.map((t) => t.id)],
        );
        const asEdges = (list: { from: string; to: string }[]) => list.map((e) => `${e.from}->${e.to}`).sort();
        expect(asEdges(stored.map((d) => ({ from: String(stepOf.get(d.depends_on_task_id)), to: String(stepOf.get(d.task_id)) })))).toEqual(
          asEdges(edges),
        );
        expect(await tasks.dependencies(org, byStep.package.id)).toEqual({
          dependsOn: [byStep.compile.id, byStep.test.id].sort(),
          dependents: [],
        });
        expect(await tasks.dependencies(org, byStep.checkout.id)).toEqual({
          dependsOn: [],
          dependents: [byStep.lint.id, byStep.compile.id].sort(),
        });

        // dag_rank: the longest path from a root, so every edge points down the order.
        expect(run.tasks.map((t) => [t.workflowStep, t.dagRank])).toEqual([
          ['package', 3],
          ['checkout', 0],
          ['lint', 1],
          ['compile', 1],
          ['test', 2],
        ]);
        expect(await rankViolations(db, org)).toEqual([]);

        const after = await rowCounts(db);
        expect(after['tasks.tasks'] - before['tasks.tasks']).toBe(5);
        expect(after['tasks.task_dependencies'] - before['tasks.task_dependencies']).toBe(edges.length);
        const runRows = await db.query<{ id: string }>('SELECT id FROM tasks.tasks WHERE workflow_run_id = $1 AND parent_task_id = $2', [
          run.workflowRunId,
          parent.id,
        ]);
        expect(runRows.map((r) => r.id).sort()).toEqual(run.tasks.map((t) => t.id).sort());
      });

      it("each run is separate; without a project the workflow's own is used", async () => {
        const [first, second] = [await tasks.instantiateWorkflow(org, workflowId), await tasks.instantiateWorkflow(org, workflowId)];
        expect(first.workflowRunId).not.toBe(second.workflowRunId);
        expect(new Set([...first.tasks, ...second.tasks].map((t) => t.id)).size).toBe(10);
        expect(
          first.tasks.every(
            (t) => t.projectId === project && t.priority === (t.workflowStep === 'checkout' ? 9 : t.workflowStep === 'test' ? -1 : 0),
          ),
        ).toBe(true);
        const override = '33333333-3333-4333-8333-333333333333';
        expect(
          (await tasks.instantiateWorkflow(org, workflowId, { projectId: override })).tasks.every((t) => t.projectId === override),
        ).toBe(true);
        expect(await rankViolations(db, org)).toEqual([]);
      });

      it('refuses draft and retired workflows and bad input, writing nothing', async () => {
        const draft = await workflows.create(org, { name: 'unready', definition: { steps: [{ key: 'a', title: 'A' }] } });
        const retired = await workflows.create(org, { name: 'old', status: 'active', definition: { steps: [{ key: 'a', title: 'A' }] } });
        await workflows.retire(org, retired.id);
        const instantiate =
          (input: unknown, id = workflowId) =>
          () =>
            tasks.instantiateWorkflow(org, id, input as never);
        await expectRefusals(db, [
          ['a draft workflow', instantiate({}, draft.id), StateError],
          ['a retired workflow', instantiate({}, retired.id), StateError],
          ['malformed workflow id', instantiate({}, 'pipeline'), ValidationError, ['workflowId']],
          ['unknown workflow', instantiate({}, UNKNOWN_ID), NotFoundError, 'workflow'],
          ["another organization's workflow", instantiate({}, otherWorkflow), NotFoundError, 'workflow'],
          ['null input', instantiate(null), ValidationError, ['(input)']],
          ['input a string', instantiate({ input: 'go' }), ValidationError, ['input']],
          ['priority out of range', instantiate({ priority: -1001 }), ValidationError, ['priority']],
          ['priority not an integer', instantiate({ priority: 0.5 }), ValidationError, ['priority']],
          ['malformed project', instantiate({ projectId: 'p' }), ValidationError, ['projectId']],
          ['malformed parent', instantiate({ parentTaskId: 'p' }), ValidationError, ['parentTaskId']],
          ['unknown parent', instantiate({ parentTaskId: UNKNOWN_ID }), ValidationError, ['parentTaskId']],
          ["another organization's parent", instantiate({ parentTaskId: otherTask }), ValidationError, ['parentTaskId']],
          ['unknown property', instantiate({ steps: ['lint'] }), ValidationError, ['steps']],
          ['malformed organization', () => tasks.instantiateWorkflow('acme', workflowId), TenantError],
        ]);
      });
    });

    it('adds and removes dependencies: the task waits, is released, or is blocked by a failed dependency', async () => {
      const [first, second] = [await tasks.enqueue(org, { title: 'first', priority: 1000 }), await tasks.enqueue(org, { title: 'second' })];
      expect(await tasks.addDependency(org, second.id, first.id)).toMatchObject({ id: second.id, status: 'pending' });
      expect(await tasks.dependencies(org, second.id)).toEqual({ dependsOn: [first.id], dependents: [] });
      expect(await tasks.dependencies(org, first.id)).toEqual({ dependsOn: [], dependents: [second.id] });
      expect(await tasks.removeDependency(org, second.id, first.id)).toMatchObject({ status: 'ready' });
      expect(await tasks.dependencies(org, second.id)).toEqual({ dependsOn: [], dependents: [] });

      // A dependency that already succeeded does not hold the task back.
      await finish(first.id, 'complete');
      expect(await tasks.addDependency(org, second.id, first.id)).toMatchObject({ status: 'ready' });

      // One that failed blocks the task and everything downstream of it.
      const doomed = await tasks.enqueue(org, { title: 'doomed', priority: 1000 });
      const downstream = await tasks.enqueue(org, { title: 'downstream', dependsOn: [second.id] });
      await finish(doomed.id, 'fail');
      expect(await tasks.addDependency(org, second.id, doomed.id)).toMatchObject({ status: 'blocked' });
      expect(await statusOf(downstream.id)).toBe('blocked');

      // Removing one of two unfinished dependencies keeps the task waiting; removing the last releases it.
      const [x, y] = [await tasks.enqueue(org, { title: 'x' }), await tasks.enqueue(org, { title: 'y' })];
      const z = await tasks.enqueue(org, { title: 'z', dependsOn: [x.id, y.id] });
      expect((await tasks.removeDependency(org, z.id, x.id)).status).toBe('pending');
      expect((await tasks.removeDependency(org, z.id, y.id)).status).toBe('ready');
      expect(await rankViolations(db, org)).toEqual([]);
    });

    it('keeps ranks consistent when a chain is linked against its creation order', async () => {
      const chain: string[] = [];
      for (let i = 0; i < 5; i++) chain.push((await tasks.enqueue(org, { title: `chain ${i}` })).id);
      // chain[i] depends on chain[i + 1]: every new edge points against the order the tasks were made in.
      for (let i = 0; i < 4; i++) await tasks.addDependency(org, chain[i], chain[i + 1]);
      expect(await rankViolations(db, org)).toEqual([]);
      const ranks = await db.query<{ id: string; dag_rank: number }>('SELECT id, dag_rank FROM tasks.tasks WHERE id = ANY ($1)', [chain]);
      const rankOf = new Map(ranks.map((r) => [r.id, r.dag_rank]));
      expect(chain.map((id) => rankOf.get(id))).toEqual([4, 3, 2, 1, 0]);
      await expectRefusals(db, [
        ['closing the chain into a cycle', () => tasks.addDependency(org, chain[4], chain[0]), ValidationError, ['dependsOnTaskId']],
      ]);
    });

    it('lists in creation order, with filters and paging; removed tasks are left out', async () => {
      const lister = await createOrganization(db, 'task-lister');
      const parent = await tasks.enqueue(lister, { title: 'parent', projectId: UNKNOWN_ID });
      const children = [];
      for (let i = 0; i < 4; i++)
        children.push(await tasks.enqueue(lister, { title: `child ${i}`, parentTaskId: parent.id, dependsOn: i === 3 ? [parent.id] : [] }));
      const flow = await workflows.create(lister, {
        name: 'pair',
        status: 'active',
        definition: {
          steps: [
            { key: 'one', title: 'one' },
            { key: 'two', title: 'two' },
          ],
        },
      });
      const run = await tasks.instantiateWorkflow(lister, flow.id);
      const titles = async (filter?: Parameters<TasksService['list']>[1]) => (await tasks.list(lister, filter)).items.map((t) => t.title);

      const all = await titles();
      expect(all.slice(0, 5)).toEqual(['parent', 'child 0', 'child 1', 'child 2', 'child 3']);
      // One run's tasks share their creation time: they come in id order.
      expect(all.slice(5)).toEqual([...run.tasks].sort((x, y) => x.id.localeCompare(y.id)).map((t) => t.title));
      const firstTwo = await tasks.list(lister, { parentTaskId: parent.id, limit: 2 });
      expect(firstTwo.items.map((t) => t.title)).toEqual(['child 0', 'child 1']);
      expect(await titles({ parentTaskId: parent.id, limit: 2, cursor: firstTwo.nextCursor! })).toEqual(['child 2', 'child 3']);
      expect(await titles({ status: 'pending' })).toEqual(['child 3']);
      expect(await titles({ projectId: UNKNOWN_ID })).toEqual(['parent']);
      expect((await titles({ workflowRunId: run.workflowRunId })).sort()).toEqual(['one', 'two']);
      expect(await titles({ status: 'running' })).toEqual([]);

      await tasks.remove(lister, children[0].id);
      expect(await titles({ parentTaskId: parent.id })).toEqual(['child 1', 'child 2', 'child 3']);
      expect(await titles({ status: 'cancelled' })).toEqual([]);
    });

    it('remove is a soft delete: a ready task is cancelled, and removed tasks are hidden from lookups, claims and stats', async () => {
      const remover = await createOrganization(db, 'task-remover');
      const [finished, ready, kept] = [
        await tasks.enqueue(remover, { title: 'finished', priority: 10 }),
        await tasks.enqueue(remover, { title: 'ready', priority: 5 }),
        await tasks.enqueue(remover, { title: 'kept' }),
      ];
      const child = await tasks.enqueue(remover, { title: 'child of ready', parentTaskId: ready.id });
      const [claimed] = await queue.claim(remover, { workerId: 'w', count: 1, leaseSeconds: 60 });
      expect(claimed.id).toBe(finished.id);
      await queue.complete(remover, finished.id, { workerId: 'w' });

      await tasks.remove(remover, ready.id);
      await tasks.remove(remover, finished.id);
      await expectRefusals(db, [
        ['get a removed task', () => tasks.get(remover, ready.id), NotFoundError, 'task'],
        ['get a removed finished task', () => tasks.get(remover, finished.id), NotFoundError, 'task'],
      ]);
      expect(
        await db.query(
          'SELECT title, status, deleted_at IS NOT NULL AS removed FROM tasks.tasks WHERE organization_id = $1 ORDER BY title',
          [remover],
        ),
      ).toEqual([
        { title: 'child of ready', status: 'cancelled', removed: false },
        { title: 'finished', status: 'succeeded', removed: true },
        { title: 'kept', status: 'ready', removed: false },
        { title: 'ready', status: 'cancelled', removed: true },
      ]);
      expect((await tasks.get(remover, child.id)).lastError).toBe('removed');
      const rest = await queue.claim(remover, { workerId: 'w', count: 100, leaseSeconds: 60 });
      expect(rest.map((t) => t.id)).toEqual([kept.id]);
      expect((await stats.stats(remover, { from: new Date(Date.now() - 60_000), to: new Date(Date.now() + 60_000) })).queue).toMatchObject({
        running: 1,
        cancelled: 1,
        succeeded: 0,
        ready: 0,
      });
    });

    it("enqueueing again with a removed task's idempotency key is answered, not an untyped error", async () => {
      const first = await tasks.enqueue(org, { title: 'once', idempotencyKey: 'removed-key' });
      await tasks.remove(org, first.id);
      const before = await rowCounts(db);
      const outcome = await tasks.enqueue(org, { title: 'once more', idempotencyKey: 'removed-key' }).then(
        (task) => ({ task: task.id }),
        (error: unknown) => ({
          error: (error as Error).constructor.name,
          fields: (error as { fields?: string[] }).fields,
          message: (error as Error).message,
        }),
      );
      // Either the first task is the answer (the key's promise), or a conflict naming the key.
      if ('task' in outcome) expect(outcome.task).toBe(first.id);
      else expect(outcome).toEqual({ error: 'ConflictError', fields: ['idempotencyKey'], message: expect.any(String) });
      expect(await rowCounts(db)).toEqual(before);
    });

    it('refuses bad input to enqueue, naming each field; writes nothing', async () => {
      const ready = await tasks.enqueue(org, { title: 'a dependency' });
      const enqueue = (input: unknown) => () => tasks.enqueue(org, input as never);
      await expectRefusals(db, [
        ['nothing', enqueue({}), ValidationError, ['title']],
        ['null', enqueue(null), ValidationError, ['(input)']],
        ['a string', enqueue('do it'), ValidationError, ['(input)']],
        ['empty title', enqueue({ title: '' }), ValidationError, ['title']],
        ['long title', enqueue({ title: 't'.repeat(501) }), ValidationError, ['title']],
        ['title a number', enqueue({ title: 5 }), ValidationError, ['title']],
        [
          'malformed ids',
          enqueue({ title: 'x', definitionId: 'd', projectId: 'p', parentTaskId: 'q' }),
          ValidationError,
          ['definitionId', 'projectId', 'parentTaskId'],
        ],
        ['priority out of range', enqueue({ title: 'x', priority: 1001 }), ValidationError, ['priority']],
        ['priority a string', enqueue({ title: 'x', priority: '5' }), ValidationError, ['priority']],
        ['priority fractional', enqueue({ title: 'x', priority: 1.5 }), ValidationError, ['priority']],
        ['input an array', enqueue({ title: 'x', input: [1, 2] }), ValidationError, ['input']],
        ['input a string', enqueue({ title: 'x', input: '{}' }), ValidationError, ['input']],
        ['runAfter not a date', enqueue({ title: 'x', runAfter: 'tomorrow' }), ValidationError, ['runAfter']],
        ['maxAttempts 0', enqueue({ title: 'x', maxAttempts: 0 }), ValidationError, ['maxAttempts']],
        ['maxAttempts negative', enqueue({ title: 'x', maxAttempts: -2 }), ValidationError, ['maxAttempts']],
        ['maxAttempts 101', enqueue({ title: 'x', maxAttempts: 101 }), ValidationError, ['maxAttempts']],
        ['empty idempotency key', enqueue({ title: 'x', idempotencyKey: '' }), ValidationError, ['idempotencyKey']],
        ['dependsOn a string', enqueue({ title: 'x', dependsOn: ready.id }), ValidationError, ['dependsOn']],
        ['dependsOn malformed', enqueue({ title: 'x', dependsOn: [ready.id, 'nope'] }), ValidationError, ['dependsOn']],
        [
          'dependsOn too many',
          enqueue({ title: 'x', dependsOn: Array.from({ length: 1001 }, () => ready.id) }),
          ValidationError,
          ['dependsOn'],
        ],
        ['status cannot be set', enqueue({ title: 'x', status: 'running' }), ValidationError, ['status']],
        ['unknown property', enqueue({ title: 'x', colour: 'red' }), ValidationError, ['colour']],
        ['unknown definition', enqueue({ title: 'x', definitionId: UNKNOWN_ID }), ValidationError, ['definitionId']],
        [
          'unknown definition, attempts given',
          enqueue({ title: 'x', definitionId: UNKNOWN_ID, maxAttempts: 2 }),
          ValidationError,
          ['definitionId'],
        ],
        ["another organization's definition", enqueue({ title: 'x', definitionId: otherDefinition }), ValidationError, ['definitionId']],
        ['unknown parent', enqueue({ title: 'x', parentTaskId: UNKNOWN_ID }), ValidationError, ['parentTaskId']],
        ["another organization's parent", enqueue({ title: 'x', parentTaskId: otherTask }), ValidationError, ['parentTaskId']],
        ['unknown dependency', enqueue({ title: 'x', dependsOn: [ready.id, UNKNOWN_ID] }), ValidationError, ['dependsOn']],
        ["another organization's dependency", enqueue({ title: 'x', dependsOn: [otherTask] }), ValidationError, ['dependsOn']],
        ['unknown organization', () => tasks.enqueue(UNKNOWN_ID, { title: 'x' }), NotFoundError, 'organization'],
        ['malformed organization', () => tasks.enqueue('acme', { title: 'x' }), TenantError],
      ]);
    });

    it("refuses bad ids, filters and graph edits: malformed, unknown, other organizations', cycles, duplicates, started tasks", async () => {
      const base = await tasks.enqueue(org, { title: 'base', priority: 1000 });
      const top = await tasks.enqueue(org, { title: 'top', dependsOn: [base.id] });
      const cancelMe = await tasks.enqueue(org, { title: 'cancel with a bad reason' });
      const [running] = await queue.claim(org, { workerId: 'holder', count: 1, leaseSeconds: 600 });
      expect(running.id).toBe(base.id);
      const done = await tasks.enqueue(org, { title: 'already done' });
      await tasks.cancel(org, done.id);
      await tasks.addDependency(org, cancelMe.id, top.id);
      await expectRefusals(db, [
        ['get: malformed', () => tasks.get(org, 'task-1'), ValidationError, ['taskId']],
        ['get: a number', () => tasks.get(org, 1 as never), ValidationError, ['taskId']],
        ['get: unknown', () => tasks.get(org, UNKNOWN_ID), NotFoundError, 'task'],
        ['get: other organization', () => tasks.get(org, otherTask), NotFoundError, 'task'],
        ['list: null', () => tasks.list(org, null as never), ValidationError, ['(input)']],
        ['list: unknown status', () => tasks.list(org, { status: 'paused' } as never), ValidationError, ['status']],
        ['list: limit 0', () => tasks.list(org, { limit: 0 }), ValidationError, ['limit']],
        ['list: limit 1001', () => tasks.list(org, { limit: 1001 }), ValidationError, ['limit']],
        ['list: limit a string', () => tasks.list(org, { limit: '10' } as never), ValidationError, ['limit']],
        ['list: offset (pages are by cursor)', () => tasks.list(org, { offset: 1 } as never), ValidationError, ['offset']],
        ['list: tampered cursor', () => tasks.list(org, { cursor: 'eyJsaXN0IjoidGFza3MifQ' }), ValidationError, ['cursor']],
        [
          'list: malformed ids',
          () => tasks.list(org, { projectId: 'p', workflowRunId: 'r', parentTaskId: 'q' }),
          ValidationError,
          ['projectId', 'workflowRunId', 'parentTaskId'],
        ],
        ['list: unknown filter', () => tasks.list(org, { title: 'top' } as never), ValidationError, ['title']],
        ['dependencies: malformed', () => tasks.dependencies(org, 'x'), ValidationError, ['taskId']],
        ['dependencies: unknown', () => tasks.dependencies(org, UNKNOWN_ID), ValidationError, ['taskId']],
        ['addDependency: malformed task', () => tasks.addDependency(org, 'x', base.id), ValidationError, ['taskId']],
        ['addDependency: malformed dependency', () => tasks.addDependency(org, top.id, 'x'), ValidationError, ['dependsOnTaskId']],
        ['addDependency: both malformed', () => tasks.addDependency(org, 'x', 'y'), ValidationError, ['taskId', 'dependsOnTaskId']],
        ['addDependency: unknown task', () => tasks.addDependency(org, UNKNOWN_ID, base.id), NotFoundError, 'task'],
        ['addDependency: unknown dependency', () => tasks.addDependency(org, top.id, UNKNOWN_ID), ValidationError, ['dependsOnTaskId']],
        [
          "addDependency: another organization's dependency",
          () => tasks.addDependency(org, top.id, otherTask),
          ValidationError,
          ['dependsOnTaskId'],
        ],
        ["addDependency: another organization's task", () => tasks.addDependency(org, otherTask, top.id), NotFoundError, 'task'],
        ['addDependency: itself', () => tasks.addDependency(org, top.id, top.id), ValidationError, ['dependsOnTaskId']],
        ['addDependency: a cycle', () => tasks.addDependency(org, top.id, cancelMe.id), ValidationError, ['dependsOnTaskId']],
        ['addDependency: twice', () => tasks.addDependency(org, top.id, base.id), ConflictError, ['dependsOnTaskId']],
        ['addDependency: a running task', () => tasks.addDependency(org, base.id, done.id), StateError],
        ['addDependency: a finished task', () => tasks.addDependency(org, done.id, top.id), StateError],
        ['removeDependency: malformed', () => tasks.removeDependency(org, top.id, 'x'), ValidationError, ['dependsOnTaskId']],
        ['removeDependency: unknown task', () => tasks.removeDependency(org, UNKNOWN_ID, base.id), NotFoundError, 'task'],
        ['removeDependency: no such edge', () => tasks.removeDependency(org, base.id, top.id), NotFoundError, 'task dependency'],
        ['cancel: malformed', () => tasks.cancel(org, 'x'), ValidationError, ['taskId']],
        ['cancel: unknown', () => tasks.cancel(org, UNKNOWN_ID), NotFoundError, 'task'],
        ['cancel: finished', () => tasks.cancel(org, done.id), StateError],
        ['cancel: reason a number', () => tasks.cancel(org, cancelMe.id, 42 as never), ValidationError, ['reason']],
        ['remove: malformed', () => tasks.remove(org, 'x'), ValidationError, ['taskId']],
        ['remove: unknown', () => tasks.remove(org, UNKNOWN_ID), NotFoundError, 'task'],
        ['remove: other organization', () => tasks.remove(org, otherTask), NotFoundError, 'task'],
        ['get: malformed organization', () => tasks.get('acme', top.id), TenantError],
      ]);
      expect(await db.query('SELECT status, deleted_at FROM tasks.tasks WHERE id = $1', [otherTask])).toEqual([
        { status: 'ready', deleted_at: null },
      ]);
      expect(await statusOf(base.id)).toBe('running');
      expect(await statusOf(top.id)).toBe('pending');
    });
  });

  describe('WorkQueueService and TaskStatsService', () => {
    let org: string;
    let held: string;
    beforeAll(async () => {
      org = await createOrganization(db, 'queue');
      held = (await tasks.enqueue(org, { title: 'held' })).id;
      await tasks.enqueue(org, { title: 'waiting in line', priority: -1 });
      await queue.claim(org, { workerId: 'w', count: 1, leaseSeconds: 600 });
    });

    it('refuses bad claims, reports and stats windows, naming each field; writes nothing and changes nothing', async () => {
      const before = await db.query('SELECT * FROM tasks.tasks WHERE organization_id = $1 ORDER BY id', [org]);
      const claim = (input: unknown) => () => queue.claim(org, input as never);
      const complete =
        (input: unknown, id = held) =>
        () =>
          queue.complete(org, id, input as never);
      const fail =
        (input: unknown, id = held) =>
        () =>
          queue.fail(org, id, input as never);
      const heartbeat =
        (input: unknown, id = held) =>
        () =>
          queue.heartbeat(org, id, input as never);
      const window = (input: unknown) => () => stats.stats(org, input as never);
      const now = new Date();
      await expectRefusals(db, [
        ['claim: nothing', claim({}), ValidationError, ['workerId', 'count', 'leaseSeconds']],
        ['claim: null', claim(null), ValidationError, ['(input)']],
        ['claim: empty worker', claim({ workerId: '', count: 1, leaseSeconds: 60 }), ValidationError, ['workerId']],
        ['claim: long worker', claim({ workerId: 'w'.repeat(256), count: 1, leaseSeconds: 60 }), ValidationError, ['workerId']],
        ['claim: worker a number', claim({ workerId: 7, count: 1, leaseSeconds: 60 }), ValidationError, ['workerId']],
        ...[0, -1, 1.5, 1001, '1'].map((count): [string, () => Promise<unknown>, typeof ValidationError, string[]] => [
          `claim: count ${JSON.stringify(count)}`,
          claim({ workerId: 'w2', count, leaseSeconds: 60 }),
          ValidationError,
          ['count'],
        ]),
        ...[0, -60, 86_401, 2.5].map((leaseSeconds): [string, () => Promise<unknown>, typeof ValidationError, string[]] => [
          `claim: leaseSeconds ${leaseSeconds}`,
          claim({ workerId: 'w2', count: 1, leaseSeconds }),
          ValidationError,
          ['leaseSeconds'],
        ]),
        ['claim: unknown property', claim({ workerId: 'w2', count: 1, leaseSeconds: 60, kind: 'lint' }), ValidationError, ['kind']],
        ['claim: malformed organization', () => queue.claim('acme', { workerId: 'w2', count: 1, leaseSeconds: 60 }), TenantError],

        ['heartbeat: malformed task', heartbeat({ workerId: 'w', leaseSeconds: 60 }, 'x'), ValidationError, ['taskId']],
        ['heartbeat: no lease', heartbeat({ workerId: 'w' }), ValidationError, ['leaseSeconds']],
        ['heartbeat: lease 0', heartbeat({ workerId: 'w', leaseSeconds: 0 }), ValidationError, ['leaseSeconds']],
        ['heartbeat: lease over a day', heartbeat({ workerId: 'w', leaseSeconds: 86_401 }), ValidationError, ['leaseSeconds']],
        ['heartbeat: no worker', heartbeat({ leaseSeconds: 60 }), ValidationError, ['workerId']],
        ['heartbeat: unknown property', heartbeat({ workerId: 'w', leaseSeconds: 60, status: 'ok' }), ValidationError, ['status']],
        ['heartbeat: unknown task', heartbeat({ workerId: 'w', leaseSeconds: 60 }, UNKNOWN_ID), NotFoundError, 'task'],
        ["heartbeat: another organization's task", heartbeat({ workerId: 'w', leaseSeconds: 60 }, otherTask), NotFoundError, 'task'],
        ['heartbeat: another worker', heartbeat({ workerId: 'intruder', leaseSeconds: 60 }), StateError],

        ['complete: malformed task', complete({ workerId: 'w' }, 'x'), ValidationError, ['taskId']],
        ['complete: no worker', complete({}), ValidationError, ['workerId']],
        ['complete: null', complete(null), ValidationError, ['(input)']],
        ['complete: output a string', complete({ workerId: 'w', output: 'done' }), ValidationError, ['output']],
        [
          'complete: negative usage',
          complete({ workerId: 'w', cpuMs: -1, peakMemoryBytes: -1 }),
          ValidationError,
          ['cpuMs', 'peakMemoryBytes'],
        ],
        [
          'complete: fractional tokens',
          complete({ workerId: 'w', inputTokens: 1.5, outputTokens: '3' }),
          ValidationError,
          ['inputTokens', 'outputTokens'],
        ],
        ['complete: metadata an array', complete({ workerId: 'w', metadata: [] }), ValidationError, ['metadata']],
        ['complete: unknown property', complete({ workerId: 'w', status: 'succeeded' }), ValidationError, ['status']],
        ['complete: unknown task', complete({ workerId: 'w' }, UNKNOWN_ID), NotFoundError, 'task'],
        ["complete: another organization's task", complete({ workerId: 'w' }, otherTask), NotFoundError, 'task'],
        ['complete: another worker', complete({ workerId: 'intruder' }), StateError],

        ['fail: malformed task', fail({ workerId: 'w', error: 'x' }, 'x'), ValidationError, ['taskId']],
        ['fail: no error', fail({ workerId: 'w' }), ValidationError, ['error']],
        ['fail: empty error', fail({ workerId: 'w', error: '' }), ValidationError, ['error']],
        ['fail: error too long', fail({ workerId: 'w', error: 'e'.repeat(10_001) }), ValidationError, ['error']],
        ['fail: retryable a string', fail({ workerId: 'w', error: 'x', retryable: 'no' }), ValidationError, ['retryable']],
        ['fail: unknown property', fail({ workerId: 'w', error: 'x', attempts: 0 }), ValidationError, ['attempts']],
        ['fail: unknown task', fail({ workerId: 'w', error: 'x' }, UNKNOWN_ID), NotFoundError, 'task'],
        ['fail: another worker', fail({ workerId: 'intruder', error: 'x' }), StateError],

        ['releaseExpiredLeases: malformed organization', () => queue.releaseExpiredLeases('acme'), TenantError],

        ['stats: nothing', window({}), ValidationError, ['from', 'to']],
        ['stats: null', window(null), ValidationError, ['(input)']],
        ['stats: not dates', window({ from: 'yesterday', to: now }), ValidationError, ['from']],
        ['stats: empty window', window({ from: now, to: now }), ValidationError, ['to']],
        ['stats: backwards window', window({ from: now, to: new Date(now.getTime() - 1000) }), ValidationError, ['to']],
        ['stats: unknown property', window({ from: new Date(0), to: now, workerId: 'w' }), ValidationError, ['workerId']],
        ['stats: malformed organization', () => stats.stats('acme', { from: new Date(0), to: now }), TenantError],
      ]);
      expect(await db.query('SELECT * FROM tasks.tasks WHERE organization_id = $1 ORDER BY id', [org])).toEqual(before);
      expect(await db.query(`SELECT status, worker_id FROM tasks.task_executions WHERE organization_id = $1`, [org])).toEqual([
        { status: 'running', worker_id: 'w' },
      ]);
    });
  });
});
