import { IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { EntityManager } from 'typeorm';
import { ValidationError } from '../errors';
import { isUuid } from '../validation';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** The paging fields of every list's input: list inputs extend it. */
export class PageInput {
  /** Rows per page, 1 to MAX_PAGE_LIMIT (1000); default DEFAULT_PAGE_LIMIT (100). */
  @IsOptional() @IsInt() @Min(1) @Max(MAX_PAGE_LIMIT) limit?: number;
  /** The `nextCursor` of the previous page; left out for the first page. */
  @IsOptional() @IsString() @MaxLength(4096) cursor?: string;
}

/** One page of a list; `nextCursor` is null on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** How a sort key is carried in a cursor and cast back in SQL. */
export type KeysetType = 'text' | 'uuid' | 'integer' | 'timestamptz';

export interface KeysetKey {
  /** A SQL expression over the query's tables, e.g. `p.name`. Never NULL. */
  expression: string;
  type: KeysetType;
  descending?: boolean;
}

export interface KeysetQuery {
  /** Names the list in its cursors, so a cursor of one list is refused by another. */
  list: string;
  /** The select list, e.g. `p.*, (SELECT count(*) …) AS repository_count`. */
  select: string;
  /** The FROM clause (tables and joins), e.g. `projects.projects p`. */
  from: string;
  /** Conditions, ANDed, on `$1 … $n` of `parameters`. */
  where?: string[];
  parameters?: unknown[];
  /** The sort order; it must be total: its last key is unique (the id), which breaks every tie. */
  orderBy: KeysetKey[];
}

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const INTEGER = /^-?\d{1,19}$/;

/**
 * One page of a keyset-paginated list: the rows after the cursor's position in
 * the query's total order, at most `limit` of them. The cursor is the last row's
 * sort key, so a page costs an index range scan whatever its depth, and rows
 * inserted or removed between pages shift nothing: every row that exists
 * throughout is seen exactly once. A cursor that was tampered with, or belongs
 * to another list, is a ValidationError on `cursor`.
 * The sort keys travel as text (timestamps in UTC with microseconds: a JS Date
 * would drop them and skip or repeat rows that differ only there).
 */
export async function keysetPage<Row extends Record<string, unknown>>(
  manager: EntityManager,
  query: KeysetQuery,
  page: PageInput,
  subject = query.list,
): Promise<Page<Row>> {
  const limit = page.limit ?? DEFAULT_PAGE_LIMIT;
  const parameters = [...(query.parameters ?? [])];
  const where = [...(query.where ?? [])];
  const keys = query.orderBy;
  if (page.cursor !== undefined) {
    const after = decodeCursor(page.cursor, query, subject);
    const placeholders = after.map((value, i) => {
      parameters.push(value);
      return `$${parameters.length}::${keys[i].type}`;
    });
    where.push(`(${afterCondition(keys, placeholders)})`);
  }
  parameters.push(limit + 1);
  const keyColumns = keys.map((key, i) => `${asText(key)} AS "strata_key_${i}"`);
  const rows: Row[] = await manager.query(
    `SELECT ${query.select}, ${keyColumns.join(', ')}
       FROM ${query.from}
      ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ${keys.map((key) => `${key.expression} ${key.descending ? 'DESC' : 'ASC'}`).join(', ')}
      LIMIT $${parameters.length}`,
    parameters,
  );
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const nextCursor =
    rows.length > limit
      ? encodeCursor(
          query.list,
          keys.map((_, i) => String(last[`strata_key_${i}`])),
        )
      : null;
  for (const row of items) keys.forEach((_, i) => delete row[`strata_key_${i}`]);
  return { items, nextCursor };
}

/** The rows strictly after the cursor: a row comparison when every key sorts the same way (an index range), else spelled out. */
function afterCondition(keys: KeysetKey[], values: string[]): string {
  const descending = keys[0].descending ?? false;
  if (keys.every((key) => (key.descending ?? false) === descending)) {
    return `(${keys.map((k) => k.expression).join(', ')}) ${descending ? '<' : '>'} (${values.join(', ')})`;
  }
  // a > x OR (a = x AND (b < y OR (b = y AND c > z))) for a ASC, b DESC, c ASC
  return keys
    .map((key, i) => `${key.expression} ${key.descending ? '<' : '>'} ${values[i]}`)
    .reduceRight((inner, beyond, i) => `${beyond} OR (${keys[i].expression} = ${values[i]} AND (${inner}))`);
}

function asText(key: KeysetKey): string {
  return key.type === 'timestamptz'
    ? `to_char((${key.expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
    : `(${key.expression})::text`;
}

function encodeCursor(list: string, values: string[]): string {
  return Buffer.from(JSON.stringify({ list, after: values })).toString('base64url');
}

function decodeCursor(cursor: string, query: KeysetQuery, subject: string): string[] {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const { list, after } = (typeof decoded === 'object' && decoded !== null ? decoded : {}) as { list?: unknown; after?: unknown };
  const valid =
    list === query.list &&
    Array.isArray(after) &&
    after.length === query.orderBy.length &&
    after.every((value, i) => typeof value === 'string' && fits(value, query.orderBy[i].type));
  if (!valid) throw ValidationError.forField('cursor', `is not a cursor of this list: pass the nextCursor of its previous page`, subject);
  return after as string[];
}

function fits(value: string, type: KeysetType): boolean {
  switch (type) {
    case 'uuid':
      return isUuid(value);
    case 'integer':
      return INTEGER.test(value);
    case 'timestamptz':
      // The pattern, and a real instant: no February 31st.
      return TIMESTAMP.test(value) && !Number.isNaN(Date.parse(value)) && new Date(value).toISOString().slice(0, 19) === value.slice(0, 19);
    case 'text':
      return true;
  }
}
