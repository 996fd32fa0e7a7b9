import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import {
  NotFoundError,
  Page,
  PageInput,
  TenantConnection,
  TenantService,
  ValidationError,
  keysetPage,
  translateDatabaseError,
  validateId,
  validateInput,
} from '@strata/base';
import { ENDPOINT_SOURCES } from '../entities';
import type { EndpointSource } from '../entities';
import { eventsModule } from '../events.module';
import { generateSecret } from '../signatures';

export class CreateEndpointInput {
  @IsIn(ENDPOINT_SOURCES) source!: EndpointSource;
  @IsString() @Length(1, 255) name!: string;
  /** The provider's signing secret (Slack and Linear issue theirs); left out, one is generated and returned once. */
  @IsOptional() @IsString() @Length(16, 1024) secret?: string;
  @IsOptional() @IsInt() @Min(1) @Max(1_000_000) rateLimitPerMinute?: number;
}

export class RotateSecretInput {
  /** The new secret; left out, one is generated and returned once. */
  @IsOptional() @IsString() @Length(16, 1024) secret?: string;
  /** How long the previous secret stays valid, so the provider can be switched over meanwhile (default one day; 0 ends it now). */
  @IsOptional() @IsInt() @Min(0) @Max(30 * 24 * 3600) previousValidForSeconds?: number;
}

export class UpdateEndpointInput {
  @IsOptional() @IsBoolean() active?: boolean;
  @IsOptional() @IsInt() @Min(1) @Max(1_000_000) rateLimitPerMinute?: number;
}

/** An endpoint as services return it: never its secrets. `path` is where the provider posts (`/webhooks/<token>`). */
export interface WebhookEndpointView {
  id: string;
  organizationId: string;
  source: EndpointSource;
  name: string;
  active: boolean;
  rateLimitPerMinute: number;
  /** Until when the previous secret is still accepted; null when there is none. */
  previousSecretExpiresAt: Date | null;
  path: string;
  createdAt: Date;
  updatedAt: Date;
}

/** What the receiver needs to check a request: the secrets valid now. Never returned by the service's public reads, never logged. */
export interface VerificationKeys {
  endpointId: string;
  source: EndpointSource;
  active: boolean;
  rateLimitPerMinute: number;
  secrets: string[];
}

const CONSTRAINT_FIELDS = { webhook_endpoints_organization_id_name_key: ['name'] };
const DEFAULT_PREVIOUS_VALID_SECONDS = 24 * 3600;

/**
 * The URL token of an endpoint: its organization and id (32 bytes, base64url),
 * so the receiver finds the endpoint inside its organization's row-level
 * security without any lookup across tenants. Unguessable as the ids are
 * random; knowing it lets one post, not read.
 */
export function endpointToken(organizationId: string, endpointId: string): string {
  return Buffer.from(`${organizationId}${endpointId}`.replace(/-/g, ''), 'hex').toString('base64url');
}

/** The organization and endpoint a token names, or null for anything that is not a token. */
export function parseEndpointToken(token: string): { organizationId: string; endpointId: string } | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const hex = Buffer.from(token, 'base64url').toString('hex');
  if (hex.length !== 64) return null;
  const uuid = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return { organizationId: uuid(hex.slice(0, 32)), endpointId: uuid(hex.slice(32)) };
}

/** Webhook endpoints: create, rotate the secret (the previous one stays valid for a stated period), switch on and off. */
export class WebhookEndpointsService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, eventsModule);
  }

  /** The endpoint, and its secret: shown this once, never again. */
  async create(organizationId: string, input: CreateEndpointInput): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
    const valid = await validateInput(CreateEndpointInput, input, 'webhook endpoint');
    const secret = valid.secret ?? generateSecret();
    const rows = await this.scope
      .run(organizationId, (tx) =>
        tx.query(
          `INSERT INTO events.webhook_endpoints (organization_id, source, name, secret, rate_limit_per_minute)
           VALUES ($1, $2, $3, $4, coalesce($5, 600)) RETURNING ${VIEW_COLUMNS}`,
          [organizationId, valid.source, valid.name, secret, valid.rateLimitPerMinute ?? null],
        ),
      )
      .catch((error: unknown) => translateDatabaseError(error, 'webhook endpoint', CONSTRAINT_FIELDS));
    return { endpoint: view(rows[0]), secret };
  }

  /** A new secret; the current one becomes the previous, accepted for `previousValidForSeconds` more. */
  async rotateSecret(
    organizationId: string,
    endpointId: string,
    input: RotateSecretInput = {},
  ): Promise<{ endpoint: WebhookEndpointView; secret: string }> {
    validateId(endpointId, 'endpointId', 'webhook endpoint');
    const valid = await validateInput(RotateSecretInput, input, 'secret rotation');
    const secret = valid.secret ?? generateSecret();
    const seconds = valid.previousValidForSeconds ?? DEFAULT_PREVIOUS_VALID_SECONDS;
    const rows = await this.scope.run(organizationId, (tx) =>
      tx.query(
        `UPDATE events.webhook_endpoints
            SET previous_secret = CASE WHEN $4 > 0 THEN secret END,
                previous_secret_expires_at = CASE WHEN $4 > 0 THEN now() + make_interval(secs => $4) END,
                secret = $3, updated_at = now()
          WHERE organization_id = $1 AND id = $2 RETURNING ${VIEW_COLUMNS}`,
        [organizationId, endpointId, secret, seconds],
      ),
    );
    const [updated] = rows[0] as Record<string, unknown>[];
    if (!updated) throw new NotFoundError('webhook endpoint', { id: endpointId });
    return { endpoint: view(updated), secret };
  }

  /** Switch the endpoint on or off (an inactive endpoint answers 404 and stores nothing), or change its rate limit. */
  async update(organizationId: string, endpointId: string, input: UpdateEndpointInput): Promise<WebhookEndpointView> {
    validateId(endpointId, 'endpointId', 'webhook endpoint');
    const valid = await validateInput(UpdateEndpointInput, input, 'webhook endpoint');
    if (valid.active === undefined && valid.rateLimitPerMinute === undefined) {
      throw ValidationError.forField('(input)', 'give active or rateLimitPerMinute', 'webhook endpoint');
    }
    const rows = await this.scope.run(organizationId, (tx) =>
      tx.query(
        `UPDATE events.webhook_endpoints SET active = coalesce($3, active), rate_limit_per_minute = coalesce($4, rate_limit_per_minute), updated_at = now()
          WHERE organization_id = $1 AND id = $2 RETURNING ${VIEW_COLUMNS}`,
        [organizationId, endpointId, valid.active ?? null, valid.rateLimitPerMinute ?? null],
      ),
    );
    const [updated] = rows[0] as Record<string, unknown>[];
    if (!updated) throw new NotFoundError('webhook endpoint', { id: endpointId });
    return view(updated);
  }

  deactivate(organizationId: string, endpointId: string): Promise<WebhookEndpointView> {
    return this.update(organizationId, endpointId, { active: false });
  }

  async get(organizationId: string, endpointId: string): Promise<WebhookEndpointView> {
    validateId(endpointId, 'endpointId', 'webhook endpoint');
    const rows: Record<string, unknown>[] = await this.scope.run(organizationId, (tx) =>
      tx.query(`SELECT ${VIEW_COLUMNS} FROM events.webhook_endpoints WHERE organization_id = $1 AND id = $2`, [organizationId, endpointId]),
    );
    if (rows.length === 0) throw new NotFoundError('webhook endpoint', { id: endpointId });
    return view(rows[0]);
  }

  async list(organizationId: string, page: PageInput = {}): Promise<Page<WebhookEndpointView>> {
    const valid = await validateInput(PageInput, page, 'webhook endpoint list');
    return this.scope.run(organizationId, async (tx) => {
      const result = await keysetPage<Record<string, unknown>>(
        tx,
        {
          list: 'webhook endpoints',
          select: VIEW_COLUMNS,
          from: 'events.webhook_endpoints',
          where: ['organization_id = $1'],
          parameters: [organizationId],
          orderBy: [
            { expression: 'name', type: 'text' },
            { expression: 'id', type: 'uuid' },
          ],
        },
        valid,
        'webhook endpoint list',
      );
      return { items: result.items.map(view), nextCursor: result.nextCursor };
    });
  }

  /**
   * For the receiver only: the endpoint's secrets valid now (the current one,
   * and the previous one until its window ends), or null for no such endpoint.
   */
  async verificationKeys(organizationId: string, endpointId: string): Promise<VerificationKeys | null> {
    const rows: { id: string; source: EndpointSource; active: boolean; rate_limit_per_minute: number; secrets: string[] }[] =
      await this.scope.run(organizationId, (tx) =>
        tx.query(
          `SELECT id, source, active, rate_limit_per_minute,
                  array_remove(ARRAY[secret, CASE WHEN previous_secret_expires_at > now() THEN previous_secret END], NULL) AS secrets
             FROM events.webhook_endpoints WHERE organization_id = $1 AND id = $2`,
          [organizationId, endpointId],
        ),
      );
    if (rows.length === 0) return null;
    const [row] = rows;
    return {
      endpointId: row.id,
      source: row.source,
      active: row.active,
      rateLimitPerMinute: row.rate_limit_per_minute,
      secrets: row.secrets,
    };
  }
}

const VIEW_COLUMNS = 'id, organization_id, source, name, active, rate_limit_per_minute, previous_secret_expires_at, created_at, updated_at';

function view(row: Record<string, unknown>): WebhookEndpointView {
  const organizationId = row.organization_id as string;
  const id = row.id as string;
  return {
    id,
    organizationId,
    source: row.source as EndpointSource,
    name: row.name as string,
    active: row.active as boolean,
    rateLimitPerMinute: row.rate_limit_per_minute as number,
    previousSecretExpiresAt: row.previous_secret_expires_at === null ? null : new Date(row.previous_secret_expires_at as string),
    path: `/webhooks/${endpointToken(organizationId, id)}`,
    createdAt: new Date(row.created_at as string),
    updatedAt: new Date(row.updated_at as string),
  };
}
