import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError, ValidationError, baseModule } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { CodebasesService, ImpactService, SnapshotsService, codebaseModule } from '../src';

/**
 * The fixture graph: a → b → c → a is a cycle, c → d; e (in e.ts) calls a and
 * imports a.ts; f (in f.ts) calls e and imports e.ts; g.ts stands alone.
 */
const GRAPH = {
  'a.ts': [
    'export function a() { b(); }',
    'export function b() { c(); }',
    'export function c() { a(); d(); }',
    'export function d() {}',
    '',
  ].join('\n'),
  'e.ts': "import { a } from './a';\nexport function e() { a(); }\n",
  'f.ts': "import { e } from './e';\nfunction f() { e(); }\n",
  'g.ts': 'export function g() {}\n',
};

describe('impact queries', () => {
  const db = useTestDatabase({ modules: [baseModule, codebaseModule] });
  let org: string;
  let snapshotId: string;
  let impact: ImpactService;
  const ids = new Map<string, string>();

  beforeAll(async () => {
    [{ id: org }] = await db.query<{ id: string }>(`INSERT INTO base.organizations (name, slug) VALUES ('A', 'impact-a') RETURNING id`);
    const root = mkdtempSync(join(tmpdir(), 'strata-impact-'));
    try {
      for (const [path, text] of Object.entries(GRAPH)) writeFileSync(join(root, path), text);
      const codebase = await new CodebasesService(db.dataSource).create(org, { name: 'graph' });
      snapshotId = (await new SnapshotsService(db.dataSource).analyze(org, codebase.id, { path: root })).id;
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    impact = new ImpactService(db.dataSource);
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) {
      const [found] = await impact.findElements(org, snapshotId, name);
      ids.set(name, found.elementId);
    }
  });

  const names = (rows: { qualifiedName: string; depth: number }[]) => rows.map((r) => `${r.qualifiedName}@${r.depth}`);

  it('callers, transitively and depth-bounded, through a cycle', async () => {
    expect(names(await impact.callers(org, ids.get('d')!))).toEqual(['c@1', 'b@2', 'a@3', 'e@4', 'f@5']);
    expect(names(await impact.callers(org, ids.get('d')!, { depth: 3 }))).toEqual(['c@1', 'b@2', 'a@3']);
    // a is on the cycle: its callers include b and c, never a itself.
    expect(names(await impact.callers(org, ids.get('a')!))).toEqual(['c@1', 'e@1', 'b@2', 'f@2']);
    expect(await impact.callers(org, ids.get('g')!)).toEqual([]);
  });

  it('callees, transitively', async () => {
    expect(names(await impact.callees(org, ids.get('f')!))).toEqual(['e@1', 'a@2', 'b@3', 'c@4', 'd@5']);
    expect(names(await impact.callees(org, ids.get('a')!, { depth: 2 }))).toEqual(['b@1', 'c@2']);
  });

  it('what a change to a file reaches through imports and calls', async () => {
    const files = await impact.fileImpact(org, snapshotId, 'a.ts');
    expect(files.map((f) => `${f.path}@${f.depth}`)).toEqual(['e.ts@1', 'f.ts@2']);
    expect((await impact.fileImpact(org, snapshotId, 'a.ts', { depth: 1 })).map((f) => f.path)).toEqual(['e.ts']);
    expect(await impact.fileImpact(org, snapshotId, 'g.ts')).toEqual([]);
  });

  it('bad input is a typed error naming the field', async () => {
    await expect(impact.callers(org, ids.get('a')!, { depth: 0 })).rejects.toMatchObject({ fields: ['depth'] });
    await expect(impact.callers(org, ids.get('a')!, { depth: 21 })).rejects.toBeInstanceOf(ValidationError);
    await expect(impact.callers(org, 'x')).rejects.toMatchObject({ fields: ['elementId'] });
    await expect(impact.callers(org, '00000000-0000-4000-8000-000000000000')).rejects.toBeInstanceOf(NotFoundError);
    await expect(impact.fileImpact(org, snapshotId, 'missing.ts')).rejects.toBeInstanceOf(NotFoundError);
    await expect(impact.findElements(org, snapshotId, '')).rejects.toMatchObject({ fields: ['qualifiedName'] });
  });
});
