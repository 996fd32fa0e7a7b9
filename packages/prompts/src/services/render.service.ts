import { ErrorObject, ValidateFunction } from 'ajv';
import { IsInt, IsObject, IsOptional, IsString, Length, Matches, Min } from 'class-validator';
import { EntityManager } from 'typeorm';
import { FieldError, NotFoundError, StateError, TenantConnection, TenantService, ValidationError, validateInput } from '@strata/base';
import { ChatMessage, PromptTemplate, PromptVersion } from '../entities';
import type { TemplateType } from '../entities';
import { promptsModule } from '../prompts.module';
import { LABEL_NAME, TEMPLATE_NAME, canonicalJson, selectEntities, sha256 } from './support';
import { VersionRef, ajv, findVersion } from './versions.service';
import { armsOf, assignVersion, findRollout } from './rollouts.service';

export class RenderInput {
  @IsString() @Matches(TEMPLATE_NAME) name!: string;
  /** Which version: a label, or a number; neither = `latest`. */
  @IsOptional() @IsString() @Matches(LABEL_NAME) label?: string;
  @IsOptional() @IsInt() @Min(1) version?: number;
  @IsOptional() @IsObject() variables?: Record<string, unknown>;
  /** The unit (user, session…) a rollout of the label assigns a version to, stickily. */
  @IsOptional() @IsString() @Length(1, 255) unitId?: string;
}

export interface RenderedPrompt {
  templateId: string;
  name: string;
  type: TemplateType;
  version: number;
  /** The label the version was chosen by (null when chosen by number). */
  label: string | null;
  /** The rollout of that label that chose the version for `unitId`, if one did. */
  rolloutId: string | null;
  unitId: string | null;
  /** The compiled text of a text template. */
  text?: string;
  /** The compiled messages of a chat template. */
  messages?: ChatMessage[];
  /** sha256 of the compiled text or messages. */
  renderedInputHash: string;
  /** Every version included, in the order met: `{ name, version }`. */
  includes: { name: string; version: number }[];
  /** The version's model config, for the call. */
  modelConfig: Record<string, unknown>;
}

/** `{{> other}}`, `{{> other@production}}`, `{{> other@3}}`: another template's text, resolved recursively. */
const INCLUDE = /\{\{>\s*([A-Za-z0-9][A-Za-z0-9_.-]*)(?:@([a-z0-9][a-z0-9_.-]*))?\s*\}\}/g;
/** `{{ variable }}` or `{{ a.b }}`. */
const VARIABLE = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}/g;
const MAX_DEPTH = 16;

/** Compiled variable schemas, by content hash (a version never changes, so its schema compiles once). */
const compiled = new Map<string, ValidateFunction>();

interface Resolution {
  includes: { name: string; version: number }[];
  schemas: PromptVersion[];
}

/**
 * Compiles a template version: includes resolved (recursively; a cycle is a
 * StateError naming it), then variables substituted, after they were validated
 * against the schema of every version involved (a missing or wrong-typed
 * variable is a ValidationError naming `variables.<name>`).
 */
export class PromptRenderer extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, promptsModule);
  }

  async render(organizationId: string, input: RenderInput): Promise<RenderedPrompt> {
    const valid = await validateInput(RenderInput, input, 'render');
    if (valid.label !== undefined && valid.version !== undefined) {
      throw ValidationError.forField('(input)', 'give at most one of label, version', 'render');
    }
    const ref: VersionRef = valid.version !== undefined ? { version: valid.version } : { label: valid.label ?? 'latest' };
    const variables = valid.variables ?? {};
    return this.scope.run(organizationId, async (m) => {
      const chosen = await lookup(m, organizationId, valid.name, ref);
      const { template } = chosen;
      let { version } = chosen;
      let rolloutId: string | null = null;
      if (ref.label !== undefined && valid.unitId !== undefined) {
        const rollout = await findRollout(m, organizationId, template.id, ref.label);
        if (rollout) {
          const number = assignVersion(rollout.seed, valid.unitId, armsOf(rollout));
          const assigned = await findVersion(m, organizationId, template.id, { version: number });
          if (!assigned) throw new StateError(`rollout of ${template.name}@${ref.label} names version ${number}, which does not exist`);
          version = assigned;
          rolloutId = rollout.id;
        }
      }
      const resolution: Resolution = { includes: [], schemas: [version] };
      const chain = [`${template.name.toLowerCase()}`];
      const expand = (text: string) => expandIncludes(m, organizationId, text, chain, resolution);
      let text: string | undefined;
      let messages: ChatMessage[] | undefined;
      if (typeof version.content === 'string') text = await expand(version.content);
      else {
        messages = [];
        for (const message of version.content) messages.push({ role: message.role, content: await expand(message.content) });
      }
      checkVariables(resolution.schemas, variables, [text ?? '', ...(messages ?? []).map((message) => message.content)]);
      if (text !== undefined) text = substitute(text, variables);
      if (messages) messages = messages.map((message) => ({ role: message.role, content: substitute(message.content, variables) }));
      return {
        templateId: template.id,
        name: template.name,
        type: template.type,
        version: version.version,
        label: ref.label ?? null,
        rolloutId,
        unitId: valid.unitId ?? null,
        ...(text !== undefined ? { text } : { messages }),
        renderedInputHash: sha256(text !== undefined ? text : canonicalJson(messages)),
        includes: resolution.includes,
        modelConfig: version.modelConfig,
      };
    });
  }
}

async function lookup(
  m: EntityManager,
  organizationId: string,
  name: string,
  ref: VersionRef,
): Promise<{ template: PromptTemplate; version: PromptVersion }> {
  const [template] = await selectEntities(
    m,
    PromptTemplate,
    'SELECT * FROM prompts.prompt_templates WHERE organization_id = $1 AND lower(name) = lower($2) AND deleted_at IS NULL',
    [organizationId, name],
  );
  if (!template) throw new NotFoundError('prompt template', { name });
  const version = await findVersion(m, organizationId, template.id, ref);
  if (!version) throw new NotFoundError('prompt version', { name, ...ref });
  return { template, version };
}

async function expandIncludes(
  m: EntityManager,
  organizationId: string,
  text: string,
  chain: string[],
  resolution: Resolution,
): Promise<string> {
  let out = '';
  let last = 0;
  for (const match of text.matchAll(INCLUDE)) {
    const [whole, name, refText] = match;
    const ref: VersionRef =
      refText === undefined ? { label: 'latest' } : /^\d+$/.test(refText) ? { version: Number(refText) } : { label: refText };
    const key = name.toLowerCase();
    const step = `${name}@${refText ?? 'latest'}`;
    if (chain.includes(key)) throw new StateError(`prompt includes form a cycle: ${[...chain, key].join(' → ')}`);
    if (chain.length >= MAX_DEPTH) throw new StateError(`prompt includes nest deeper than ${MAX_DEPTH} at ${step}`);
    const included = await lookup(m, organizationId, name, ref).catch((error: unknown) => {
      if (error instanceof NotFoundError) throw new StateError(`included prompt ${step} does not exist`);
      throw error;
    });
    if (typeof included.version.content !== 'string')
      throw new StateError(`included prompt ${step} is a chat template: only text templates can be included`);
    resolution.includes.push({ name: included.template.name, version: included.version.version });
    resolution.schemas.push(included.version);
    out += text.slice(last, match.index) + (await expandIncludes(m, organizationId, included.version.content, [...chain, key], resolution));
    last = (match.index ?? 0) + whole.length;
  }
  return out + text.slice(last);
}

function checkVariables(versions: PromptVersion[], variables: Record<string, unknown>, texts: string[]): void {
  const errors: FieldError[] = [];
  const seen = new Set<string>();
  const add = (field: string, message: string) => {
    if (seen.has(field)) return;
    seen.add(field);
    errors.push({ field, messages: [message] });
  };
  for (const version of versions) {
    if (Object.keys(version.variablesSchema).length === 0) continue;
    let validate = compiled.get(version.contentHash);
    if (!validate) {
      validate = ajv.compile(version.variablesSchema);
      compiled.set(version.contentHash, validate);
    }
    if (!validate(variables)) for (const error of validate.errors ?? []) add(fieldOf(error), error.message ?? 'is invalid');
  }
  // A variable the text uses must be given, whether or not a schema names it.
  for (const text of texts) {
    for (const [, path] of text.matchAll(VARIABLE)) {
      if (lookupPath(variables, path) === undefined) add(`variables.${path}`, 'is used by the prompt but not given');
    }
  }
  if (errors.length > 0) throw new ValidationError(errors, 'render');
}

function fieldOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').filter(Boolean).join('.');
  const base = path ? `variables.${path}` : 'variables';
  const params = error.params as { missingProperty?: string; additionalProperty?: string };
  if (error.keyword === 'required' && params.missingProperty) return `${base}.${params.missingProperty}`;
  if (error.keyword === 'additionalProperties' && params.additionalProperty) return `${base}.${params.additionalProperty}`;
  return base;
}

function lookupPath(variables: Record<string, unknown>, path: string): unknown {
  let value: unknown = variables;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object' || !Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function substitute(text: string, variables: Record<string, unknown>): string {
  return text.replace(VARIABLE, (_whole, path: string) => {
    const value = lookupPath(variables, path);
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}
