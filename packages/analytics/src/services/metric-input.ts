import { FieldError, ValidationError } from '@strata/base';

/** One measurement to ingest. */
export interface MetricPointInput {
  /** `api.latency`, `db/connections`: letters, digits and `_ . : / -`, at most 255. */
  name: string;
  /** When it was measured: a Date or an ISO 8601 string. */
  ts: Date | string;
  /** A finite number. */
  value: number;
  unit?: string | null;
  category?: string | null;
  /** Flat string → string (at most 32 tags); the rollups group by the whole tag set. */
  tags?: Record<string, string>;
  /** The component that produced it. */
  source?: string | null;
}

/** A point as it is written: everything checked and normalized. */
export interface ValidPoint {
  name: string;
  ts: string;
  value: number;
  unit: string | null;
  category: string | null;
  tags: string;
  source: string | null;
}

export const METRIC_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$/;
export const TAG_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
export const MAX_POINTS_PER_BATCH = 10_000;
const MAX_TAGS = 32;
const MAX_REPORTED = 50;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Checks a batch by hand rather than with class-validator: a batch is up to
 * 10,000 points, and every bad field is named (`points.3.value`), the first 50
 * of them. Throws one ValidationError; nothing is written then.
 */
export function validatePoints(points: unknown, subject = 'metric points'): ValidPoint[] {
  if (!Array.isArray(points)) throw ValidationError.forField('points', 'must be an array of points', subject);
  if (points.length === 0 || points.length > MAX_POINTS_PER_BATCH)
    throw ValidationError.forField('points', `must hold 1 to ${MAX_POINTS_PER_BATCH} points, got ${points.length}`, subject);
  const errors: FieldError[] = [];
  const bad = (field: string, message: string) => {
    if (errors.length < MAX_REPORTED) errors.push({ field, messages: [message] });
  };
  const valid: ValidPoint[] = [];
  points.forEach((point: unknown, i) => {
    const at = `points.${i}`;
    if (point === null || typeof point !== 'object' || Array.isArray(point)) return bad(at, 'must be an object');
    const p = point as Record<string, unknown>;
    for (const key of Object.keys(p)) {
      if (!['name', 'ts', 'value', 'unit', 'category', 'tags', 'source'].includes(key))
        bad(`${at}.${key}`, 'is not a field of a metric point');
    }
    if (typeof p.name !== 'string' || !METRIC_NAME_PATTERN.test(p.name))
      bad(`${at}.name`, 'must be 1 to 255 letters, digits and _ . : / - (starting with a letter or digit)');
    const ts = timestamp(p.ts);
    if (ts === null) bad(`${at}.ts`, 'must be a valid Date or ISO 8601 timestamp with a time zone');
    if (typeof p.value !== 'number' || !Number.isFinite(p.value)) bad(`${at}.value`, 'must be a finite number');
    const unit = optionalText(p.unit, 32, `${at}.unit`, bad);
    const category = optionalText(p.category, 64, `${at}.category`, bad);
    const source = optionalText(p.source, 255, `${at}.source`, bad);
    const tags = tagSet(p.tags, `${at}.tags`, bad);
    if (errors.length === 0 && ts !== null && tags !== null) {
      valid.push({ name: p.name as string, ts, value: p.value as number, unit, category, tags, source });
    }
  });
  if (errors.length > 0) throw new ValidationError(errors, subject);
  return valid;
}

function timestamp(value: unknown): string | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value === 'string' && ISO_8601.test(value)) {
    const parsed = new Date(value);
    return Number.isNaN(parsed.getTime()) ? null : parsed.toISOString();
  }
  return null;
}

function optionalText(value: unknown, max: number, field: string, bad: (field: string, message: string) => void): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    bad(field, `must be a string of 1 to ${max} characters`);
    return null;
  }
  return value;
}

/** The tags as canonical JSON (keys sorted), so one tag set is one rollup key whatever the order given. */
function tagSet(value: unknown, field: string, bad: (field: string, message: string) => void): string | null {
  if (value === undefined) return '{}';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    bad(field, 'must be an object of string values');
    return null;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_TAGS) {
    bad(field, `must have at most ${MAX_TAGS} tags`);
    return null;
  }
  let ok = true;
  for (const [key, tag] of entries) {
    if (!TAG_KEY_PATTERN.test(key)) {
      bad(`${field}.${key}`, 'tag names are 1 to 64 letters, digits and _ . - (starting with a letter or _)');
      ok = false;
    } else if (typeof tag !== 'string' || tag.length > 255) {
      bad(`${field}.${key}`, 'must be a string of at most 255 characters');
      ok = false;
    }
  }
  return ok ? JSON.stringify(Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))) : null;
}
