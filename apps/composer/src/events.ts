import { EntityManager } from 'typeorm';
import { TenantConnection } from '@strata/base';
import { EventsService, InternalHandler, RepositoryResolver } from '@strata/events';
import { RepositoriesService } from '@strata/projects';
import { TasksService } from '@strata/tasks';

/**
 * The repository (and its project, when it belongs to exactly one) an event
 * names, from the projects module, in the ingest transaction: GitHub events by
 * the repository's external id (it survives renames), else by full name.
 */
export const resolveRepositoryFromProjects: RepositoryResolver = async (tx, organizationId, repository) => {
  if (repository.source !== 'github') return null;
  const repositories = new RepositoriesService(tx.connection).with(tx);
  const found =
    (repository.externalId ? await repositories.findByExternalId(organizationId, 'github', repository.externalId) : null) ??
    (repository.fullName ? await repositories.findByFullName(organizationId, 'github', repository.fullName) : null);
  if (!found) return null;
  const projects = await repositories.listProjectsForRepository(organizationId, found.id, { limit: 2 });
  return { repositoryId: found.id, projectId: projects.items.length === 1 ? projects.items[0].id : null };
};

/** The events service of the composed platform: repository_id and project_id resolved from the projects module. */
export function composedEventsService(connection: TenantConnection): EventsService {
  return new EventsService(connection, { resolveRepository: resolveRepositoryFromProjects });
}

/** The internal handler that turns an event into a task: subscribe with `{ kind: 'internal', handler: ENQUEUE_TASK }` and a filter. */
export const ENQUEUE_TASK = 'composer.enqueue_task';

/**
 * Enqueues a task for the event, in the delivery's transaction: the task and
 * the delivery's success commit together. The idempotency key is the
 * subscription's and the event's, so a redelivery or a replay never makes a
 * second task.
 */
export const enqueueTaskForEvent: InternalHandler = async (tx: EntityManager, event, delivery) => {
  await new TasksService(tx.connection).with(tx).enqueue(delivery.organizationId, {
    title: event.summary.slice(0, 500),
    ...(event.projectId ? { projectId: event.projectId } : {}),
    idempotencyKey: `event:${delivery.subscriptionId}:${event.id}`,
    input: {
      event: {
        id: event.id,
        source: event.source,
        type: event.eventType,
        action: event.action,
        repository: event.repositoryFullName,
        subject: event.subject,
        actor: event.actor,
      },
    },
  });
};

/** The composer's internal handlers, for the delivery worker. */
export const composerEventHandlers: Record<string, InternalHandler> = { [ENQUEUE_TASK]: enqueueTaskForEvent };
