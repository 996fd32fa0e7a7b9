import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Length,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import {
  NotFoundError,
  Page,
  PageInput,
  TenantConnection,
  TenantService,
  ValidationError,
  hydrate,
  keysetPage,
  translateDatabaseError,
  validateId,
  validateInput,
} from '@strata/base';
import { EVENT_SOURCES, SUBSCRIBER_KINDS, Subscription } from '../entities';
import type { SubscriberKind } from '../entities';
import { eventsModule } from '../events.module';
import { generateSecret } from '../signatures';

/** Which events a subscription receives; a list left out means any. */
export class SubscriptionFilter {
  @IsOptional() @IsArray() @ArrayNotEmpty() @ArrayMaxSize(20) @IsIn(EVENT_SOURCES, { each: true }) sources?: string[];
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @Length(1, 255, { each: true })
  eventTypes?: string[];
  @IsOptional() @IsArray() @ArrayNotEmpty() @ArrayMaxSize(100) @IsString({ each: true }) @Length(1, 255, { each: true }) actions?: string[];
  /** `owner/name`, compared without regard to case. */
  @IsOptional() @IsString() @Length(1, 255) repositoryFullName?: string;
}

/** Attempt n waits min(cap, base × 2^(n−1)) halved and jittered up to the full value (so waits grow), then `maxAttempts` makes it dead. */
export class RetryPolicy {
  @IsOptional() @IsInt() @Min(1) @Max(100) maxAttempts?: number;
  @IsOptional() @IsInt() @Min(1) @Max(86_400_000) backoffBaseMs?: number;
  @IsOptional() @IsInt() @Min(1) @Max(7 * 86_400_000) backoffCapMs?: number;
}

export class CreateSubscriptionInput {
  @IsString() @Length(1, 255) name!: string;
  @IsIn(SUBSCRIBER_KINDS) kind!: SubscriberKind;
  /** For `http`: where deliveries are POSTed. */
  @ValidateIf((input: CreateSubscriptionInput) => input.kind === 'http' || input.url !== undefined)
  @IsUrl({ protocols: ['http', 'https'], require_tld: false, require_protocol: true })
  url?: string;
  /** For `internal`: the name of a handler registered with the delivery worker. */
  @ValidateIf((input: CreateSubscriptionInput) => input.kind === 'internal' || input.handler !== undefined)
  @IsString()
  @Matches(/^[a-z][a-z0-9_.:-]{0,99}$/, { message: 'handler must be a lower-case name of up to 100 characters' })
  handler?: string;
  /** For `http`: the Standard Webhooks secret (`whsec_…`); left out, one is generated and returned once. */
  @IsOptional() @IsString() @Length(16, 1024) signingSecret?: string;
  @IsOptional() @ValidateNested() @Type(() => SubscriptionFilter) filter?: SubscriptionFilter;
  @IsOptional() @ValidateNested() @Type(() => RetryPolicy) retry?: RetryPolicy;
  @IsOptional() @IsInt() @Min(100) @Max(60_000) timeoutMs?: number;
}

export class UpdateSubscriptionInput {
  @IsOptional() @IsBoolean() active?: boolean;
}

/** A subscription as services return it: never its signing secret. */
export type SubscriptionView = Omit<Subscription, 'signingSecret' | 'organization'>;

const CONSTRAINT_FIELDS = {
  subscriptions_organization_id_name_key: ['name'],
  subscriptions_retry_check: ['retry.backoffCapMs'],
};

/** Who is told about which events, and how deliveries to them are retried. */
export class SubscriptionsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, eventsModule);
  }

  /** The subscription, and for `http` its signing secret: shown this once. */
  async create(
    organizationId: string,
    input: CreateSubscriptionInput,
  ): Promise<{ subscription: SubscriptionView; signingSecret: string | null }> {
    const valid = await validateInput(CreateSubscriptionInput, input, 'subscription');
    const wrongKind = [
      ...(valid.kind === 'internal' && valid.url !== undefined ? ['url'] : []),
      ...(valid.kind === 'internal' && valid.signingSecret !== undefined ? ['signingSecret'] : []),
      ...(valid.kind === 'http' && valid.handler !== undefined ? ['handler'] : []),
    ];
    if (wrongKind.length > 0) {
      throw new ValidationError(
        wrongKind.map((field) => ({ field, messages: [`is not for a subscription of kind ${valid.kind}`] })),
        'subscription',
      );
    }
    const signingSecret = valid.kind === 'http' ? (valid.signingSecret ?? generateSecret()) : null;
    const retry = valid.retry ?? {};
    const filter = valid.filter ?? {};
    const rows = await this.scope
      .run(organizationId, (tx) =>
        tx.query(
          `INSERT INTO events.subscriptions (organization_id, name, kind, url, signing_secret, handler, sources, event_types, actions,
                                             repository_full_name, max_attempts, backoff_base_ms, backoff_cap_ms, timeout_ms)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11, 8), coalesce($12, 1000), coalesce($13, 3600000), coalesce($14, 10000))
           RETURNING *`,
          [
            organizationId,
            valid.name,
            valid.kind,
            valid.url ?? null,
            signingSecret,
            valid.handler ?? null,
            filter.sources ?? null,
            filter.eventTypes ?? null,
            filter.actions ?? null,
            filter.repositoryFullName ?? null,
            retry.maxAttempts ?? null,
            retry.backoffBaseMs ?? null,
            retry.backoffCapMs ?? null,
            valid.timeoutMs ?? null,
          ],
        ),
      )
      .catch((error: unknown) => translateDatabaseError(error, 'subscription', CONSTRAINT_FIELDS));
    return { subscription: this.view(rows), signingSecret };
  }

  async get(organizationId: string, subscriptionId: string): Promise<SubscriptionView> {
    validateId(subscriptionId, 'subscriptionId', 'subscription');
    return this.scope.run(organizationId, async (tx) => {
      const rows = await tx.query('SELECT * FROM events.subscriptions WHERE organization_id = $1 AND id = $2', [
        organizationId,
        subscriptionId,
      ]);
      if (rows.length === 0) throw new NotFoundError('subscription', { id: subscriptionId });
      return this.viewOf(hydrate(tx, Subscription, rows)[0]);
    });
  }

  async list(organizationId: string, page: PageInput = {}): Promise<Page<SubscriptionView>> {
    const valid = await validateInput(PageInput, page, 'subscription list');
    return this.scope.run(organizationId, async (tx) => {
      const result = await keysetPage(
        tx,
        {
          list: 'subscriptions',
          select: '*',
          from: 'events.subscriptions',
          where: ['organization_id = $1'],
          parameters: [organizationId],
          orderBy: [
            { expression: 'name', type: 'text' },
            { expression: 'id', type: 'uuid' },
          ],
        },
        valid,
        'subscription list',
      );
      return { items: hydrate(tx, Subscription, result.items).map((s) => this.viewOf(s)), nextCursor: result.nextCursor };
    });
  }

  /** Switch a subscription on (its pending deliveries go out again) or off (they wait); switching on clears why it was switched off. */
  async update(organizationId: string, subscriptionId: string, input: UpdateSubscriptionInput): Promise<SubscriptionView> {
    validateId(subscriptionId, 'subscriptionId', 'subscription');
    const valid = await validateInput(UpdateSubscriptionInput, input, 'subscription');
    if (valid.active === undefined) throw ValidationError.forField('(input)', 'give active', 'subscription');
    return this.scope.run(organizationId, async (tx) => {
      const [rows] = await tx.query(
        `UPDATE events.subscriptions SET active = $3, disabled_reason = CASE WHEN $3 THEN NULL ELSE disabled_reason END, updated_at = now()
          WHERE organization_id = $1 AND id = $2 RETURNING *`,
        [organizationId, subscriptionId, valid.active],
      );
      if (rows.length === 0) throw new NotFoundError('subscription', { id: subscriptionId });
      return this.viewOf(hydrate(tx, Subscription, rows)[0]);
    });
  }

  private view(rows: Record<string, unknown>[]): SubscriptionView {
    const { signing_secret: _secret, ...rest } = rows[0];
    return this.viewOf(hydrate(this.scope.dataSource.manager, Subscription, [rest])[0]);
  }

  private viewOf(subscription: Subscription): SubscriptionView {
    const { signingSecret: _secret, organization: _organization, ...view } = subscription;
    return view;
  }
}
