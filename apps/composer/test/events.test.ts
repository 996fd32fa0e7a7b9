import { OrganizationsService, ValidationError, runMaintenance, validateIntegrity, withTenant } from '@strata/base';
import { DeliveryWorker, IngestInput, OutboxService, SubscriptionsService } from '@strata/events';
import { ProjectsService, RepositoriesService } from '@strata/projects';
import { TasksService } from '@strata/tasks';
import { expectNothingWritten, expectRefused, useTestDatabase } from '@strata/testing';
import { ENQUEUE_TASK, composedEventsService, composerEventHandlers } from '../src';
import { installedModules } from '../src/modules';

/** Events in the composed platform: resolved to repositories and projects, tenant-consistently, and turned into tasks. */
describe('events in the composed platform', () => {
  const db = useTestDatabase({ modules: installedModules });
  let a: string;
  let b: string;
  let repository: string;
  let project: string;
  let foreignRepository: string;

  const pullRequest = (deliveryId: string, action = 'opened', fullName = 'acme/web', externalId = '1001'): IngestInput => ({
    source: 'github',
    deliveryId,
    eventType: 'pull_request',
    action,
    repository: { externalId, fullName },
    subject: 'pull_request#5',
    summary: `pull_request.${action} ${fullName} pull_request#5 Fix the build`,
    payload: { action, number: 5 },
  });

  beforeAll(async () => {
    await runMaintenance(db);
    const orgs = new OrganizationsService(db.dataSource);
    a = (await orgs.create({ name: 'A', slug: 'events-a' })).id;
    b = (await orgs.create({ name: 'B', slug: 'events-b' })).id;
    const repositories = new RepositoriesService(db.dataSource);
    repository = (await repositories.register(a, { provider: 'github', fullName: 'acme/web', externalId: '1001' })).id;
    project = (await new ProjectsService(db.dataSource).create(a, { name: 'Web', slug: 'web' })).id;
    await repositories.linkToProject(a, project, repository);
    foreignRepository = (await repositories.register(b, { provider: 'github', fullName: 'acme/web', externalId: '1001' })).id;
  });

  it('resolves the repository and its project in the ingest transaction, by external id or full name', async () => {
    const events = composedEventsService(db.dataSource);
    const byId = await events.ingest(a, pullRequest('c-1', 'opened', 'acme/renamed'));
    const byName = await events.ingest(a, pullRequest('c-2', 'opened', 'ACME/web', '999'));
    const unknown = await events.ingest(a, pullRequest('c-3', 'opened', 'acme/other', '2002'));
    expect(
      [await events.get(a, byId.eventId), await events.get(a, byName.eventId), await events.get(a, unknown.eventId)].map((e) => [
        e.repositoryId,
        e.projectId,
      ]),
    ).toEqual([
      [repository, project],
      [repository, project],
      [null, null],
    ]);
    expect((await events.list(a, { repositoryId: repository })).items.map((e) => e.deliveryId)).toEqual(['c-2', 'c-1']);
  });

  it("the references are tenant-consistent: an event cannot name another organization's repository", async () => {
    await expectNothingWritten(db, ['events.events', 'events.event_receipts'], () =>
      expectRefused(
        withTenant(db.dataSource, a, (tx) =>
          composedEventsService(tx.connection)
            .with(tx)
            .ingest(a, { ...pullRequest('c-foreign'), repositoryId: foreignRepository }),
        ),
        ValidationError,
        ['repositoryId'],
      ).then(() => undefined),
    );
    const report = await validateIntegrity(db);
    expect(report.checks.filter((c) => c.violations.length > 0)).toEqual([]);
  });

  it('deleting a repository or a project keeps its events and clears the reference', async () => {
    const repositories = new RepositoriesService(db.dataSource);
    const doomed = (await repositories.register(a, { provider: 'github', fullName: 'acme/doomed', externalId: '3003' })).id;
    const doomedProject = (await new ProjectsService(db.dataSource).create(a, { name: 'Doomed', slug: 'doomed' })).id;
    await repositories.linkToProject(a, doomedProject, doomed);
    const events = composedEventsService(db.dataSource);
    const event = await events.ingest(a, pullRequest('c-doomed', 'opened', 'acme/doomed', '3003'));
    expect(await events.get(a, event.eventId)).toMatchObject({ repositoryId: doomed, projectId: doomedProject });
    await withTenant(db.dataSource, a, async (tx) => {
      await tx.query('DELETE FROM projects.projects WHERE organization_id = $1 AND id = $2', [a, doomedProject]);
      await tx.query('DELETE FROM projects.repositories WHERE organization_id = $1 AND id = $2', [a, doomed]);
    });
    expect(await events.get(a, event.eventId)).toMatchObject({ repositoryId: null, projectId: null, repositoryFullName: 'acme/doomed' });
  });

  it('an internal subscriber turns chosen events into tasks, atomically with the delivery, once per event', async () => {
    const { subscription } = await new SubscriptionsService(db.dataSource).create(a, {
      name: 'review opened pull requests',
      kind: 'internal',
      handler: ENQUEUE_TASK,
      filter: { sources: ['github'], eventTypes: ['pull_request'], actions: ['opened'] },
    });
    const events = composedEventsService(db.dataSource);
    const opened = await events.ingest(a, pullRequest('t-1'));
    const closed = await events.ingest(a, pullRequest('t-2', 'closed'));
    expect([opened.deliveries, closed.deliveries]).toEqual([1, 0]);
    const worker = new DeliveryWorker(db.dataSource, { organizations: [a], handlers: composerEventHandlers, listen: false });
    expect(await worker.deliverDue(a)).toBe(1);
    const tasks = new TasksService(db.dataSource);
    const key = `event:${subscription.id}:${opened.eventId}`;
    const [task] = await db.query<{ id: string; title: string; project_id: string; input: Record<string, unknown> }>(
      'SELECT id, title, project_id, input FROM tasks.tasks WHERE idempotency_key = $1',
      [key],
    );
    expect(task).toMatchObject({ title: 'pull_request.opened acme/web pull_request#5 Fix the build', project_id: project });
    expect(task.input).toMatchObject({ event: { id: opened.eventId, type: 'pull_request', action: 'opened', repository: 'acme/web' } });
    expect((await new OutboxService(db.dataSource).deliveriesOf(a, opened.eventId)).map((d) => d.status)).toEqual(['succeeded']);
    // A replay delivers again, and finds the task already there.
    await new OutboxService(db.dataSource).replay(a, opened.eventId, subscription.id);
    await worker.deliverDue(a);
    expect(await db.query('SELECT count(*)::int AS n FROM tasks.tasks WHERE idempotency_key = $1', [key])).toEqual([{ n: 1 }]);
    expect((await tasks.get(a, task.id)).status).toBe('ready');
  });
});
