import { OrganizationsService, withTenant } from '@strata/base';
import { Refusal, TestDatabase, expectRefusals as refusalsIn } from '@strata/testing';

/** The tables of schema `prompts`, parents first. */
export const PROMPT_TABLES = [
  'prompts.model_prices',
  'prompts.prompt_templates',
  'prompts.prompt_versions',
  'prompts.prompt_labels',
  'prompts.prompt_label_moves',
  'prompts.prompt_rollouts',
  'prompts.prompt_executions',
  'prompts.llm_interactions',
  'prompts.llm_usage',
  'prompts.repricings',
  'prompts.execution_scores',
] as const;

/** What a refused call must leave untouched: every prompts table and the audit log. */
const WATCHED = [...PROMPT_TABLES, 'base.audit_log'];
export const expectRefusals = (db: TestDatabase, refusals: Refusal[]) => refusalsIn(db, WATCHED, refusals);

/** Creates an organization; `name` makes its slug unique within the test file. */
export async function createOrganization(db: TestDatabase, name: string): Promise<string> {
  return (await new OrganizationsService(db.dataSource).create({ name: `Org ${name}`, slug: `org-${name}` })).id;
}

/** Adds a member with a role (through the invitation function, as the application does), returning the user id. */
export async function addMember(db: TestDatabase, organizationId: string, email: string, role: 'owner' | 'admin' | 'member' | 'viewer') {
  const membership = await new OrganizationsService(db.dataSource).inviteMember(organizationId, { email, role, name: email });
  return membership.userId;
}

/** Runs one statement as the application role inside the organization (row-level security applies). */
export function asTenant<T = unknown>(db: TestDatabase, organizationId: string, sql: string, params: unknown[] = []): Promise<T> {
  return withTenant(db.dataSource, organizationId, (m) => m.query(sql, params) as Promise<T>);
}
