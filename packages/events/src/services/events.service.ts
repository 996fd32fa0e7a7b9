import { randomUUID } from 'node:crypto';
import { Type } from 'class-transformer';
import { Allow, IsDate, IsIn, IsObject, IsOptional, IsString, IsUUID, Length, MaxLength, ValidateNested } from 'class-validator';
import { EntityManager } from 'typeorm';
import {
  FieldError,
  NotFoundError,
  Page,
  PageInput,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  keysetPage,
  queryPrepared,
  translateDatabaseError,
  validateId,
  validateInput,
} from '@strata/base';
import { EVENT_SOURCES, EventAggregation, EventReceipt, StoredEvent } from '../entities';
import type { EventSource } from '../entities';
import { eventsModule } from '../events.module';

/** The NOTIFY channel an ingest that created deliveries signals (payload: the organization id); workers listen on it. */
export const DELIVERIES_CHANNEL = 'strata_events_deliveries';

/** The repository an event is about, as the provider names it. */
export class RepositoryReference {
  @IsOptional() @IsString() @Length(1, 255) externalId?: string | null;
  @IsOptional() @IsString() @Length(1, 255) fullName?: string | null;
}

/** One event to store: what the receiver reads from a webhook, or what code records as an `internal` event. */
export class IngestInput {
  @IsIn(EVENT_SOURCES) source!: EventSource;
  /** Unique per source in the organization: a second ingest with it is a duplicate. */
  @IsString() @Length(1, 255) deliveryId!: string;
  @IsString() @Length(1, 255) eventType!: string;
  @IsOptional() @IsString() @Length(1, 255) action?: string | null;
  /** Default: now. */
  @IsOptional() @Type(() => Date) @IsDate() occurredAt?: Date;
  @IsOptional() @IsUUID() endpointId?: string | null;
  @IsOptional() @ValidateNested() @Type(() => RepositoryReference) repository?: RepositoryReference | null;
  /** Given, these win over the resolver's answer. */
  @IsOptional() @IsUUID() repositoryId?: string | null;
  @IsOptional() @IsUUID() projectId?: string | null;
  @IsOptional() @IsString() @MaxLength(255) actor?: string | null;
  @IsOptional() @IsString() @MaxLength(255) subject?: string | null;
  @IsOptional() @IsString() @MaxLength(1000) summary?: string;
  @IsOptional() @IsObject() headers?: Record<string, string>;
  /** The raw payload (any JSON object or array), stored as jsonb; checked apart from the envelope (see validEvent). */
  @Allow() payload!: unknown;
}

export interface IngestResult {
  eventId: string;
  occurredAt: Date;
  /** true: the delivery id was seen before; `eventId` is the first copy's event (which retention may have dropped since). */
  duplicate: boolean;
  /** Deliveries created for matching subscriptions (0 for a duplicate). */
  deliveries: number;
}

/** The organization's repository (and its project) for a provider's repository reference, or null when it is unknown. */
export type RepositoryResolver = (
  transaction: EntityManager,
  organizationId: string,
  repository: { source: EventSource; externalId: string | null; fullName: string | null },
) => Promise<{ repositoryId: string; projectId: string | null } | null>;

export interface EventsServiceOptions {
  /**
   * Resolves `repository_id` / `project_id` in the ingest transaction. The
   * events module depends on base only, so it cannot read projects itself:
   * the composer passes a resolver that does. Without one, events keep the
   * provider's repository id and full name, which queries can use too.
   */
  resolveRepository?: RepositoryResolver;
}

export class EventListInput extends PageInput {
  @IsOptional() @IsUUID() repositoryId?: string;
  @IsOptional() @IsString() @Length(1, 255) repositoryFullName?: string;
  @IsOptional() @IsString() @Length(1, 255) eventType?: string;
  @IsOptional() @IsIn(EVENT_SOURCES) source?: EventSource;
  /** occurred_at >= since */
  @IsOptional() @Type(() => Date) @IsDate() since?: Date;
  /** occurred_at < until */
  @IsOptional() @Type(() => Date) @IsDate() until?: Date;
}

export class AggregationQuery {
  @IsIn(['hour', 'day']) granularity!: 'hour' | 'day';
  @Type(() => Date) @IsDate() since!: Date;
  @Type(() => Date) @IsDate() until!: Date;
  @IsOptional() @IsIn(EVENT_SOURCES) source?: EventSource;
  @IsOptional() @IsString() @Length(1, 255) eventType?: string;
  @IsOptional() @IsString() @Length(0, 255) repository?: string;
}

/**
 * Receipt, event, aggregation counters and the deliveries of every matching
 * subscription, for a batch of events, in one statement: one round trip per
 * batch (and a prepared statement, parsed once per connection). The receipt
 * goes first: `ON CONFLICT … DO UPDATE` waits for a concurrent transaction
 * inserting the same delivery id and then returns its event id, so of two
 * copies arriving at once exactly one is stored; a duplicate's input joins no
 * receipt and so writes nothing else. Rows are locked in one order (inputs
 * sorted by delivery id, counters by key) so two batches cannot deadlock.
 */
const INGEST = `
WITH input AS (
  SELECT * FROM unnest($2::uuid[], $3::timestamptz[], $4::text[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[],
                       $10::text[], $11::uuid[], $12::uuid[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[])
    AS i(id, occurred_at, source, endpoint_id, delivery_id, event_type, action, repository_external_id,
         repository_full_name, repository_id, project_id, actor, subject, summary, payload, headers)
),
receipts AS (
  INSERT INTO events.event_receipts AS r (organization_id, source, delivery_id, event_id, event_occurred_at)
  SELECT $1, i.source, i.delivery_id, i.id, i.occurred_at FROM input i
  ON CONFLICT (organization_id, source, delivery_id) DO UPDATE SET last_received_at = now(), received_count = r.received_count + 1
  RETURNING r.source, r.delivery_id, r.event_id, r.event_occurred_at
),
stored AS (
  INSERT INTO events.events (organization_id, id, occurred_at, source, endpoint_id, delivery_id, event_type, action, repository_external_id,
                             repository_full_name, repository_id, project_id, actor, subject, summary, payload, headers)
  SELECT $1, i.id, i.occurred_at, i.source, i.endpoint_id, i.delivery_id, i.event_type, i.action, i.repository_external_id,
         i.repository_full_name, i.repository_id, i.project_id, i.actor, i.subject, i.summary, i.payload::jsonb, i.headers::jsonb
    FROM input i JOIN receipts r ON r.event_id = i.id
  RETURNING id, occurred_at, source, event_type, action, repository_full_name
),
counted AS (
  INSERT INTO events.event_aggregations AS a (organization_id, granularity, bucket_start, source, event_type, action, repository, event_count, last_occurred_at)
  SELECT $1, g.granularity, date_trunc(g.granularity, s.occurred_at, 'UTC'), s.source, s.event_type, coalesce(s.action, ''),
         coalesce(s.repository_full_name, ''), count(*), max(s.occurred_at)
    FROM stored s CROSS JOIN (VALUES ('day'), ('hour')) AS g(granularity)
   GROUP BY 2, 3, 4, 5, 6, 7
   ORDER BY 2, 3, 4, 5, 6, 7
  ON CONFLICT (organization_id, granularity, bucket_start, source, event_type, action, repository)
  DO UPDATE SET event_count = a.event_count + EXCLUDED.event_count, last_occurred_at = greatest(a.last_occurred_at, EXCLUDED.last_occurred_at)
),
fanned AS (
  INSERT INTO events.deliveries (organization_id, subscription_id, event_id, event_occurred_at)
  SELECT $1, sub.id, s.id, s.occurred_at
    FROM stored s
    JOIN events.subscriptions sub
      ON sub.organization_id = $1 AND sub.active
     AND (sub.sources IS NULL OR s.source = ANY (sub.sources))
     AND (sub.event_types IS NULL OR s.event_type = ANY (sub.event_types))
     AND (sub.actions IS NULL OR s.action = ANY (sub.actions))
     AND (sub.repository_full_name IS NULL OR lower(s.repository_full_name) = lower(sub.repository_full_name))
  RETURNING event_id
)
SELECT r.delivery_id, r.source, r.event_id, r.event_occurred_at, s.id IS NULL AS duplicate, coalesce(f.n, 0) AS deliveries,
       (SELECT count(*) FROM (SELECT pg_notify('${DELIVERIES_CHANNEL}', $1::text) WHERE EXISTS (SELECT 1 FROM fanned)) n) AS notified
  FROM receipts r
  LEFT JOIN stored s ON s.id = r.event_id
  LEFT JOIN (SELECT event_id, count(*)::int AS n FROM fanned GROUP BY event_id) f ON f.event_id = r.event_id`;

/**
 * How long a delivery id is remembered after it was last received: longer
 * than the events are kept (13 months), so a redelivery of an event retention
 * already dropped is still a duplicate. GitHub redelivers for days, Slack
 * retries for an hour: two years is far past any provider's replay.
 */
export const RECEIPT_RETENTION = '25 months';

/** The references the composer adds to events (to the projects module), by the input field they check. */
const REFERENCE_FIELDS = {
  events_organization_id_repository_id_fkey: ['repositoryId'],
  events_organization_id_project_id_fkey: ['projectId'],
};

/** At most this many events in one ingestMany call (one statement). */
export const MAX_INGEST_BATCH = 1000;

/**
 * The inbox: stores events (deduplicated by delivery id for good), counts
 * them and fans them out to subscriptions, in one transaction; and reads them
 * back. `ingest` is what the receiver calls; `events.with(tx).ingest(…)` records
 * an internal event inside the caller's transaction, with whatever else it writes.
 */
export class EventsService extends TenantService {
  constructor(
    connection: TenantConnection,
    private readonly options: EventsServiceOptions = {},
  ) {
    super(connection, eventsModule);
  }

  async ingest(organizationId: string, input: IngestInput): Promise<IngestResult> {
    const [result] = await this.ingestMany(organizationId, [input]);
    return result;
  }

  /**
   * Several events in one transaction and one statement, results in input
   * order. A delivery id repeated within the batch is one event (the first copy).
   */
  async ingestMany(organizationId: string, inputs: IngestInput[]): Promise<IngestResult[]> {
    if (!Array.isArray(inputs) || inputs.length === 0 || inputs.length > MAX_INGEST_BATCH) {
      throw ValidationError.forField('(input)', `give 1 to ${MAX_INGEST_BATCH} events`, 'event batch');
    }
    const valid = await Promise.all(inputs.map((input, i) => validEvent(input, inputs.length > 1 ? `event ${i}` : 'event')));
    const now = new Date();
    // One row per (source, delivery id), in key order: the lock order of the receipts.
    const unique = new Map<string, Row>();
    for (const event of valid) {
      const key = `${event.source}\u0000${event.deliveryId}`;
      if (!unique.has(key)) unique.set(key, row(event, now));
    }
    const rows = [...unique.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const results = await this.scope
      .run(organizationId, async (tx) => {
        await this.resolveRepositories(tx, organizationId, rows);
        return queryPrepared<IngestedRow>(tx, INGEST, [organizationId, ...columns(rows)]);
      })
      .catch((error: unknown) => translateDatabaseError(error, 'event', REFERENCE_FIELDS));
    const byKey = new Map(results.map((r) => [`${r.source}\u0000${r.delivery_id}`, r]));
    const firstOfBatch = new Set<string>();
    return valid.map((event) => {
      const key = `${event.source}\u0000${event.deliveryId}`;
      const stored = byKey.get(key);
      // Every input's (source, delivery id) has a receipt row: inserted, or the one that was there.
      if (!stored) throw new Error(`ingest: no receipt came back for delivery ${event.deliveryId}`);
      const repeat = firstOfBatch.has(key);
      firstOfBatch.add(key);
      return {
        eventId: stored.event_id,
        occurredAt: new Date(stored.event_occurred_at),
        duplicate: stored.duplicate || repeat,
        deliveries: repeat ? 0 : stored.deliveries,
      };
    });
  }

  async get(organizationId: string, eventId: string): Promise<StoredEvent> {
    validateId(eventId, 'eventId', 'event');
    return this.scope.run(organizationId, async (tx) => {
      const rows = await tx.query('SELECT * FROM events.events WHERE organization_id = $1 AND id = $2', [organizationId, eventId]);
      if (rows.length === 0) throw new NotFoundError('event', { id: eventId });
      return hydrate(tx, StoredEvent, rows)[0];
    });
  }

  /** The receipt of a delivery id and its event, which is null once retention dropped it (the receipt stays). */
  async findByDeliveryId(
    organizationId: string,
    source: EventSource,
    deliveryId: string,
  ): Promise<{ receipt: EventReceipt; event: StoredEvent | null } | null> {
    if (!(EVENT_SOURCES as readonly string[]).includes(source))
      throw ValidationError.forField('source', `must be one of ${EVENT_SOURCES.join(', ')}`, 'event');
    if (typeof deliveryId !== 'string' || deliveryId.length === 0)
      throw ValidationError.forField('deliveryId', 'must be a non-empty string', 'event');
    return this.scope.run(organizationId, async (tx) => {
      const receipt = await tx.getRepository(EventReceipt).findOneBy({ organizationId, source, deliveryId });
      if (!receipt) return null;
      const rows = await tx.query('SELECT * FROM events.events WHERE organization_id = $1 AND id = $2 AND occurred_at = $3', [
        organizationId,
        receipt.eventId,
        receipt.eventOccurredAt,
      ]);
      return { receipt, event: rows.length > 0 ? hydrate(tx, StoredEvent, rows)[0] : null };
    });
  }

  /** Newest first: a repository's events (by id or full name), a type's, a source's, in a window; keyset pages. */
  async list(organizationId: string, input: EventListInput = {}): Promise<Page<StoredEvent>> {
    const valid = await validateInput(EventListInput, input, 'event list');
    const where = ['e.organization_id = $1'];
    const parameters: unknown[] = [organizationId];
    const filter = (condition: (n: number) => string, value: unknown) => {
      if (value === undefined) return;
      parameters.push(value);
      where.push(condition(parameters.length));
    };
    filter((n) => `e.repository_id = $${n}`, valid.repositoryId);
    filter((n) => `e.repository_full_name = $${n}`, valid.repositoryFullName);
    filter((n) => `e.event_type = $${n}`, valid.eventType);
    filter((n) => `e.source = $${n}`, valid.source);
    filter((n) => `e.occurred_at >= $${n}`, valid.since);
    filter((n) => `e.occurred_at < $${n}`, valid.until);
    return this.scope.run(organizationId, async (tx) => {
      const page = await keysetPage(
        tx,
        {
          list: 'events',
          select: 'e.*',
          from: 'events.events e',
          where,
          parameters,
          orderBy: [
            { expression: 'e.occurred_at', type: 'timestamptz', descending: true },
            { expression: 'e.id', type: 'uuid', descending: true },
          ],
        },
        valid,
        'event list',
      );
      return { items: hydrate(tx, StoredEvent, page.items), nextCursor: page.nextCursor };
    });
  }

  /** The counters of a window, oldest bucket first. */
  async aggregations(organizationId: string, query: AggregationQuery): Promise<EventAggregation[]> {
    const valid = await validateInput(AggregationQuery, query, 'aggregation query');
    return this.scope.run(organizationId, async (tx) => {
      const rows = await tx.query(
        `SELECT * FROM events.event_aggregations
          WHERE organization_id = $1 AND granularity = $2 AND bucket_start >= $3 AND bucket_start < $4
            AND ($5::text IS NULL OR source = $5) AND ($6::text IS NULL OR event_type = $6) AND ($7::text IS NULL OR repository = $7)
          ORDER BY bucket_start, source, event_type, action, repository`,
        [
          organizationId,
          valid.granularity,
          valid.since,
          valid.until,
          valid.source ?? null,
          valid.eventType ?? null,
          valid.repository ?? null,
        ],
      );
      return hydrate(tx, EventAggregation, rows);
    });
  }

  /**
   * Forgets the delivery ids last received longer ago than `olderThan` (a
   * PostgreSQL interval, default RECEIPT_RETENTION): the receipts' own
   * retention, run by the nightly maintenance for each organization. Returns
   * how many were removed.
   */
  async expireReceipts(organizationId: string, olderThan: string = RECEIPT_RETENTION): Promise<number> {
    if (typeof olderThan !== 'string' || !/^\d{1,4} (year|month|week|day|hour)s?$/.test(olderThan)) {
      throw ValidationError.forField('olderThan', 'must be a count and a unit, e.g. "25 months" or "90 days"', 'receipt retention');
    }
    return this.scope.run(organizationId, async (tx) => {
      const [, removed]: [unknown, number] = await tx.query(
        'DELETE FROM events.event_receipts WHERE organization_id = $1 AND last_received_at < now() - $2::interval',
        [organizationId, olderThan],
      );
      return removed;
    });
  }

  private async resolveRepositories(tx: EntityManager, organizationId: string, rows: Row[]): Promise<void> {
    const resolve = this.options.resolveRepository;
    if (!resolve) return;
    const answers = new Map<string, { repositoryId: string; projectId: string | null } | null>();
    for (const row of rows) {
      if (row.repositoryId !== null || (row.repositoryExternalId === null && row.repositoryFullName === null)) continue;
      const key = `${row.source}\u0000${row.repositoryExternalId}\u0000${row.repositoryFullName}`;
      // One at a time: the resolver works in the transaction, whose connection runs one statement at a time.
      let found = answers.get(key);
      if (found === undefined) {
        found = await resolve(tx, organizationId, {
          source: row.source,
          externalId: row.repositoryExternalId,
          fullName: row.repositoryFullName,
        });
        answers.set(key, found);
      }
      if (found) {
        row.repositoryId = found.repositoryId;
        row.projectId = row.projectId ?? found.projectId;
      }
    }
  }
}

interface IngestedRow {
  delivery_id: string;
  source: string;
  event_id: string;
  event_occurred_at: Date | string;
  duplicate: boolean;
  deliveries: number;
}

interface Row {
  key: string;
  id: string;
  occurredAt: Date;
  source: EventSource;
  endpointId: string | null;
  deliveryId: string;
  eventType: string;
  action: string | null;
  repositoryExternalId: string | null;
  repositoryFullName: string | null;
  repositoryId: string | null;
  projectId: string | null;
  actor: string | null;
  subject: string | null;
  summary: string;
  payload: string;
  headers: string;
}

async function validEvent(input: IngestInput, subject: string): Promise<IngestInput> {
  // The payload is checked here and kept as it is: class-transformer would copy every nested value of a large payload.
  const { payload, ...envelope } = (input ?? {}) as IngestInput;
  const payloadError: FieldError[] =
    typeof payload === 'object' && payload !== null ? [] : [{ field: 'payload', messages: ['must be a JSON object or array'] }];
  const valid = await validateInput(IngestInput, envelope, subject).catch((error: unknown) => {
    throw error instanceof ValidationError ? new ValidationError([...error.errors, ...payloadError], subject) : error;
  });
  if (payloadError.length > 0) throw new ValidationError(payloadError, subject);
  valid.payload = payload;
  return valid;
}

function row(event: IngestInput, now: Date): Row {
  return {
    key: `${event.source}\u0000${event.deliveryId}`,
    id: randomUUID(),
    occurredAt: event.occurredAt ?? now,
    source: event.source,
    endpointId: event.endpointId ?? null,
    deliveryId: event.deliveryId,
    eventType: event.eventType,
    action: event.action ?? null,
    repositoryExternalId: event.repository?.externalId ?? null,
    repositoryFullName: event.repository?.fullName ?? null,
    repositoryId: event.repositoryId ?? null,
    projectId: event.projectId ?? null,
    actor: event.actor ?? null,
    subject: event.subject ?? null,
    summary: event.summary ?? (event.action ? `${event.eventType}.${event.action}` : event.eventType),
    payload: JSON.stringify(event.payload),
    headers: JSON.stringify(event.headers ?? {}),
  };
}

/** The statement's parameters $2 … $17: one array per column. */
function columns(rows: Row[]): unknown[] {
  const fields: (keyof Row)[] = [
    'id',
    'occurredAt',
    'source',
    'endpointId',
    'deliveryId',
    'eventType',
    'action',
    'repositoryExternalId',
    'repositoryFullName',
    'repositoryId',
    'projectId',
    'actor',
    'subject',
    'summary',
    'payload',
    'headers',
  ];
  return fields.map((field) => rows.map((r) => r[field]));
}
