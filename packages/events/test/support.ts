import { OrganizationsService } from '@strata/base';
import { TestDatabase, rowCounts as rowCountsOf, expectNothingWritten as nothingWrittenIn } from '@strata/testing';

/** The seven tables of schema `events`, parents first. */
export const EVENT_TABLES = [
  'events.webhook_endpoints',
  'events.events',
  'events.event_receipts',
  'events.event_aggregations',
  'events.subscriptions',
  'events.deliveries',
  'events.delivery_attempts',
] as const;

export const rowCounts = (db: TestDatabase) => rowCountsOf(db, EVENT_TABLES);
export const expectNothingWritten = (db: TestDatabase, refusals: () => Promise<void>) => nothingWrittenIn(db, EVENT_TABLES, refusals);

/** Creates an organization; `name` makes its slug unique within the test file. */
export async function createOrganization(db: TestDatabase, name: string): Promise<string> {
  return (await new OrganizationsService(db.dataSource).create({ name: `Org ${name}`, slug: `org-${name}` })).id;
}
