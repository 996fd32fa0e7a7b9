import { expectRefused, useTestDatabase } from '@strata/testing';
import { DEFAULT_PAGE_LIMIT, KeysetQuery, MAX_PAGE_LIMIT, PageInput, ValidationError, baseModule, keysetPage, validateInput } from '../src';

type Row = { id: string; name: string; rank: number; created_at: Date };

/** Keyset pages over a scratch table; the services' lists are the same helper over their own tables. */
describe('keyset pagination', () => {
  const db = useTestDatabase({ modules: [baseModule] });

  beforeAll(async () => {
    // Few names and ranks, so the sort keys tie often; created_at ties too, and differs in microseconds only.
    await db.query(`
      CREATE TABLE public.pages_test (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL, rank integer NOT NULL,
                                      created_at timestamptz NOT NULL);
      INSERT INTO public.pages_test (name, rank, created_at)
      SELECT 'name ' || (i % 4), i % 3, timestamptz '2026-01-01 00:00:00.000001+00' + make_interval(secs => (i % 5) * 0.000001)
        FROM generate_series(1, 47) AS i`);
  });

  const byName: KeysetQuery = {
    list: 'pages',
    select: 'p.*',
    from: 'public.pages_test p',
    orderBy: [
      { expression: 'p.name', type: 'text' },
      { expression: 'p.id', type: 'uuid' },
    ],
  };
  const mixed: KeysetQuery = {
    ...byName,
    orderBy: [
      { expression: 'p.name', type: 'text' },
      { expression: 'p.rank', type: 'integer', descending: true },
      { expression: 'p.id', type: 'uuid' },
    ],
  };
  const byTime: KeysetQuery = {
    ...byName,
    list: 'pages by time',
    orderBy: [
      { expression: 'p.created_at', type: 'timestamptz' },
      { expression: 'p.id', type: 'uuid' },
    ],
  };

  /** Every page from the first to the last, with a hook run between pages. */
  async function allPages(query: KeysetQuery, limit: number, between: (page: number) => Promise<void> = async () => undefined) {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; ; page++) {
      const result = await keysetPage<Row>(db.dataSource.manager, query, { limit, cursor });
      expect(result.items.length).toBeLessThanOrEqual(limit);
      seen.push(...result.items.map((r) => r.id));
      if (result.nextCursor === null) return seen;
      cursor = result.nextCursor;
      await between(page);
    }
  }

  const ordered = async (orderBy: string) =>
    (await db.query<{ id: string }>(`SELECT id FROM public.pages_test ORDER BY ${orderBy}`)).map((r) => r.id);

  it('pages through more rows than a page: every row once, in the total order, ties on the sort key broken by the id', async () => {
    expect(await allPages(byName, 5)).toEqual(await ordered('name, id'));
    expect(await allPages(mixed, 4)).toEqual(await ordered('name, rank DESC, id'));
    // Microseconds count: a JS Date would merge created_at values that differ there.
    expect(await allPages(byTime, 3)).toEqual(await ordered('created_at, id'));
    expect(await allPages(byName, 47)).toEqual(await ordered('name, id'));
  });

  it('rows inserted or removed between pages shift nothing: the rest is seen exactly once, new rows after the cursor too', async () => {
    const before = await ordered('name, id');
    let removed: string | undefined;
    const seen = await allPages(byName, 6, async (page) => {
      if (page !== 1) return;
      // One row that sorts before everything (behind the cursor), one after everything, and one removed ahead.
      await db.query(`INSERT INTO public.pages_test (name, rank, created_at) VALUES ('a first', 0, now()), ('z last', 0, now())`);
      removed = before[before.length - 2];
      await db.query('DELETE FROM public.pages_test WHERE id = $1', [removed]);
    });
    const [last] = await db.query<{ id: string }>(`SELECT id FROM public.pages_test WHERE name = 'z last'`);
    expect(seen).toEqual([...before.filter((id) => id !== removed), last.id]);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('limit: default and maximum; a limit above the maximum is a ValidationError naming limit', async () => {
    const first = await keysetPage<Row>(db.dataSource.manager, byName, {});
    expect(DEFAULT_PAGE_LIMIT).toBe(100);
    expect(first.items).toHaveLength(Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM public.pages_test'))[0].n));
    expect(first.nextCursor).toBeNull();
    expect(await validateInput(PageInput, { limit: MAX_PAGE_LIMIT })).toMatchObject({ limit: 1000 });
    await expectRefused(validateInput(PageInput, { limit: MAX_PAGE_LIMIT + 1 }), ValidationError, ['limit']);
    await expectRefused(validateInput(PageInput, { limit: 0 }), ValidationError, ['limit']);
    await expectRefused(validateInput(PageInput, { limit: 2.5 }), ValidationError, ['limit']);
    await expectRefused(validateInput(PageInput, { cursor: 7 }), ValidationError, ['cursor']);
  });

  it('a tampered cursor, or one of another list, is a ValidationError naming cursor', async () => {
    const { nextCursor } = await keysetPage<Row>(db.dataSource.manager, byTime, { limit: 2 });
    const payload = JSON.parse(Buffer.from(nextCursor!, 'base64url').toString('utf8')) as { list: string; after: string[] };
    const forge = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const tampered: [string, KeysetQuery, string][] = [
      ['not base64 JSON', byTime, 'not a cursor'],
      ['JSON but no cursor', byTime, forge([1, 2])],
      ['another list', byName, nextCursor!],
      ['a key missing', byTime, forge({ ...payload, after: payload.after.slice(0, 1) })],
      ['a uuid that is not one', byTime, forge({ ...payload, after: [payload.after[0], 'x'] })],
      ['a timestamp that is not one', byTime, forge({ ...payload, after: ['2026-02-31T00:00:00.000000Z', payload.after[1]] })],
      ['a number for a timestamp', byTime, forge({ ...payload, after: [1, payload.after[1]] })],
      ['an integer key that is not one', mixed, forge({ list: 'pages', after: ['name 1', '1; DROP TABLE x', payload.after[1]] })],
    ];
    for (const [label, query, cursor] of tampered) {
      const error = await expectRefused(keysetPage(db.dataSource.manager, query, { cursor }, 'page'), ValidationError, ['cursor']);
      expect({ label, message: error.message }).toEqual({
        label,
        message: 'Invalid page: cursor (is not a cursor of this list: pass the nextCursor of its previous page)',
      });
    }
    // Untouched, the same cursor goes on where the page ended.
    expect((await keysetPage<Row>(db.dataSource.manager, byTime, { limit: 2, cursor: nextCursor! })).items).toHaveLength(2);
  });
});
