import { createHash } from 'node:crypto';
import { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';
import { ValidationError, hydrate, translateDatabaseError } from '@strata/base';

/**
 * The input fields behind this module's constraints. Under row-level security
 * PostgreSQL leaves the key out of its error detail, and a constraint name
 * alone cannot say where one column ends.
 */
const CONSTRAINT_FIELDS: Record<string, string[]> = {
  prompt_templates_organization_id_name_key: ['name'],
  prompt_templates_name_check: ['name'],
  prompt_versions_organization_id_template_id_fkey: ['templateId'],
  prompt_labels_organization_id_template_id_version_fkey: ['version'],
  prompt_labels_name_check: ['label'],
  prompt_executions_organization_id_template_id_version_fkey: ['version'],
  llm_interactions_organization_id_execution_id_fkey: ['executionId'],
  model_prices_no_overlap: ['effectiveFrom', 'effectiveTo'],
  // The composer's cross-module references.
  prompt_templates_organization_id_project_id_fkey: ['projectId'],
  prompt_executions_organization_id_task_id_fkey: ['taskId'],
};

/** Base's `translateDatabaseError`, told this module's fields (a protected label's refusal is a ForbiddenError there). */
export function rethrowDatabaseError(error: unknown, subject: string): never {
  translateDatabaseError(error, subject, CONSTRAINT_FIELDS);
}

/** Runs `work`, translating a database failure into typed errors. */
export async function translated<T>(subject: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    rethrowDatabaseError(error, subject);
  }
}

/** Rows of a raw query as entities. */
export async function selectEntities<T extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<T>,
  sql: string,
  parameters: unknown[],
): Promise<T[]> {
  return hydrate(manager, entity, await manager.query(sql, parameters));
}

/** JSON with object keys sorted, so equal values always hash alike. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A template or label name passed as a plain argument. */
export function validateName(value: unknown, field: string, pattern: RegExp, subject: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) throw ValidationError.forField(field, `must match ${pattern.source}`, subject);
  return value;
}

export const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
export const LABEL_NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
