import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NotFoundError, ValidationError, baseModule, withTenant } from '@strata/base';
import { useTestDatabase } from '@strata/testing';
import { execFileSync } from 'node:child_process';
import { AnalyzeProgress, CodebasesService, SnapshotsService, codebaseModule, listFiles } from '../src';
import { GO_SHAPES, PYTHON_WORKER } from './fixtures';

function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

const TREE: Record<string, string> = {
  'src/a.ts': `export function helper(n: number): number {\n  return n > 0 ? n : -n;\n}\n\nexport class Base {}\n`,
  'src/b.ts': [
    `import { Base, helper } from './a';`,
    `import { readFileSync } from 'node:fs';`,
    ``,
    `export class Child extends Base {`,
    `  run(): number {`,
    `    return this.other() + helper(2);`,
    `  }`,
    `  other(): number {`,
    `    return readFileSync('x').length;`,
    `  }`,
    `}`,
    ``,
  ].join('\n'),
  'py/pkg/__init__.py': '',
  'py/pkg/util.py': 'def helper(x):\n    return x * 2\n',
  'py/pkg/worker.py': PYTHON_WORKER,
  'go.mod': 'module example.com/shapes\n\ngo 1.22\n',
  'shapes/shapes.go': GO_SHAPES,
  'cmd/main.go': 'package main\n\nimport "example.com/shapes/shapes"\n\nfunc main() { shapes.Classify(1, true) }\n',
};

describe('analysing a directory into a snapshot', () => {
  const db = useTestDatabase({ modules: [baseModule, codebaseModule] });
  let org: string;
  let codebases: CodebasesService;
  let snapshots: SnapshotsService;
  let root: string;

  beforeAll(async () => {
    [{ id: org }] = await db.query<{ id: string }>(`INSERT INTO base.organizations (name, slug) VALUES ('A', 'snapshots-a') RETURNING id`);
    codebases = new CodebasesService(db.dataSource);
    snapshots = new SnapshotsService(db.dataSource);
  });
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'strata-codebase-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const rows = <T>(sql: string, params: unknown[] = []) =>
    withTenant(db.dataSource, org, (m) => m.query(sql, [org, ...params]) as Promise<T[]>);

  /** Every element and relation of a snapshot, as comparable text (no ids). */
  async function contents(snapshotId: string) {
    const files = await rows<Record<string, unknown>>(
      `SELECT path, language, size_bytes, content_hash, physical_lines, source_lines, comment_lines, blank_lines, parse_error, complexity, maintainability
         FROM codebase.file_analysis WHERE organization_id = $1 AND snapshot_id = $2 ORDER BY path`,
      [snapshotId],
    );
    const elements = await rows<{ row: string }>(
      `SELECT concat_ws(' ', f.path, e.kind, e.qualified_name, e.start_line, e.start_column, e.end_line, e.end_column, e.complexity,
                        e.parameter_count, e.exported, p.qualified_name) AS row
         FROM codebase.code_elements e JOIN codebase.file_analysis f ON f.organization_id = e.organization_id AND f.id = e.file_id
         LEFT JOIN codebase.code_elements p ON p.organization_id = e.organization_id AND p.id = e.parent_id
        WHERE e.organization_id = $1 AND e.snapshot_id = $2 ORDER BY 1`,
      [snapshotId],
    );
    const relations = await rows<{ row: string }>(
      `SELECT concat_ws(' ', f.path, s.qualified_name, r.kind, r.target_name, r.line, '->', tf.path, tfile.path, t.qualified_name) AS row
         FROM codebase.element_relations r JOIN codebase.file_analysis f ON f.organization_id = r.organization_id AND f.id = r.file_id
         LEFT JOIN codebase.code_elements s ON s.organization_id = r.organization_id AND s.id = r.source_element_id
         LEFT JOIN codebase.code_elements t ON t.organization_id = r.organization_id AND t.id = r.target_element_id
         LEFT JOIN codebase.file_analysis tf ON tf.organization_id = t.organization_id AND tf.id = t.file_id
         LEFT JOIN codebase.file_analysis tfile ON tfile.organization_id = r.organization_id AND tfile.id = r.target_file_id
        WHERE r.organization_id = $1 AND r.snapshot_id = $2 ORDER BY 1`,
      [snapshotId],
    );
    return { files, elements: elements.map((e) => e.row), relations: relations.map((r) => r.row) };
  }

  it('stores files, elements and relations, resolving imports to files and calls and extends to elements', async () => {
    writeTree(root, TREE);
    const codebase = await codebases.create(org, { name: 'fixture' });
    const seen: AnalyzeProgress[] = [];
    const snapshot = await snapshots.analyze(
      org,
      codebase.id,
      { path: root, commit: 'abc1234', branch: 'main' },
      { onProgress: (p) => seen.push(p) },
    );
    expect(snapshot).toMatchObject({
      status: 'succeeded',
      commitSha: 'abc1234',
      branch: 'main',
      tool: 'strata-tree-sitter',
      fileCount: 8,
      parsedFileCount: 8,
      reusedFileCount: 0,
      errorFileCount: 0,
      resolutionRate: 1, // './a', '.util', 'example.com/shapes/shapes'; node:fs and os are outside the tree
    });
    expect(snapshot.finishedAt).not.toBeNull();
    expect(seen.at(-1)).toEqual({ phase: 'done', done: 8, total: 8 });
    const { relations, elements } = await contents(snapshot.id);
    expect(relations).toEqual(
      expect.arrayContaining([
        'src/b.ts imports ./a 1 -> src/a.ts',
        'src/b.ts imports node:fs 2 ->',
        'src/b.ts Child extends Base 4 -> src/a.ts Base',
        'src/b.ts Child.run calls this.other 6 -> src/b.ts Child.other',
        'src/b.ts Child.run calls helper 6 -> src/a.ts helper',
        'src/b.ts Child.other calls readFileSync 9 ->',
        'py/pkg/worker.py imports .util 2 -> py/pkg/util.py',
        'py/pkg/worker.py Worker extends Base 11 -> py/pkg/worker.py Base',
        'py/pkg/worker.py Worker.run calls helper 16 -> py/pkg/util.py helper',
        'py/pkg/worker.py main calls Worker 28 -> py/pkg/worker.py Worker',
        'cmd/main.go imports example.com/shapes/shapes 3 -> shapes/shapes.go',
      ]),
    );
    expect(elements).toEqual(
      expect.arrayContaining(['src/a.ts function helper 1 7 3 1 2 1 t', 'shapes/shapes.go method Square.Area 17 0 19 1 1 0 t Square']),
    );
    expect(relations).toHaveLength(19);
    const scores = await rows<Record<string, unknown>>(
      `SELECT f.path, s.function_count, s.max_complexity, s.mean_complexity, s.complex_function_count, s.rating, s.maintainability = f.maintainability AS same
         FROM codebase.file_quality_scores s JOIN codebase.file_analysis f ON f.organization_id = s.organization_id AND f.id = s.file_id
        WHERE s.organization_id = $1 AND s.snapshot_id = $2 ORDER BY f.path`,
      [snapshot.id],
    );
    // go.mod has no language: no score. worker.py: run 5, _name 2, main 2; shapes.go: Area 1, Classify 7, helper 1.
    expect(scores.map((s) => s.path)).toEqual([
      'cmd/main.go',
      'py/pkg/__init__.py',
      'py/pkg/util.py',
      'py/pkg/worker.py',
      'shapes/shapes.go',
      'src/a.ts',
      'src/b.ts',
    ]);
    expect(scores.find((s) => s.path === 'py/pkg/worker.py')).toMatchObject({
      function_count: 3,
      max_complexity: 5,
      mean_complexity: 3,
      complex_function_count: 0,
      rating: 'good',
      same: true,
    });
    expect(scores.find((s) => s.path === 'shapes/shapes.go')).toMatchObject({
      function_count: 3,
      max_complexity: 7,
      mean_complexity: 3,
      rating: 'good',
    });
    expect(scores.find((s) => s.path === 'py/pkg/__init__.py')).toMatchObject({ function_count: 0, max_complexity: null, rating: null });
  });

  it('a syntax error, a binary file, a 5 MB generated file and an unknown extension are stored and reported, not fatal', async () => {
    const line = 'export const generated_000 = 1;\n';
    writeTree(root, {
      'ok.ts': 'export const ok = 1;\n',
      'bad.ts': 'export function fine() {}\nfunction broken( {\n',
      'logo.ts': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 1, 2]),
      'bundle.js': line.repeat(Math.ceil((5 * 1024 * 1024) / line.length)),
      'notes.xyz': 'a\n\nb\n',
    });
    const codebase = await codebases.create(org, { name: 'broken' });
    const snapshot = await snapshots.analyze(org, codebase.id, { path: root });
    expect(snapshot).toMatchObject({ status: 'succeeded', fileCount: 5, errorFileCount: 3 });
    const files = await rows<{ path: string; language: string | null; parse_error: string | null; physical_lines: number }>(
      `SELECT path, language, parse_error, physical_lines FROM codebase.file_analysis WHERE organization_id = $1 AND snapshot_id = $2 ORDER BY path`,
      [snapshot.id],
    );
    expect(files.map((f) => [f.path, f.language, f.parse_error?.replace(/\d+ bytes/, 'N bytes') ?? null])).toEqual([
      ['bad.ts', 'typescript', 'syntax error at 2:1'],
      ['bundle.js', 'javascript', 'not parsed: N bytes is more than the 1048576-byte limit'],
      ['logo.ts', null, 'binary file'],
      ['notes.xyz', null, null],
      ['ok.ts', 'typescript', null],
    ]);
    expect((await contents(snapshot.id)).elements).toEqual(['bad.ts function fine 1 7 1 25 1 0 t', 'ok.ts variable ok 1 13 1 19 t']);
  });

  it('re-analysis parses only the files whose content changed, and equals an analysis from scratch', async () => {
    writeTree(root, TREE);
    const codebase = await codebases.create(org, { name: 'incremental' });
    const first = await snapshots.analyze(org, codebase.id, { path: root, commit: 'aaaaaaa' });
    expect(first).toMatchObject({ parsedFileCount: 8, reusedFileCount: 0 });
    // Commit B: two files change; a.ts loses helper's ternary, util.py gains a function.
    writeTree(root, {
      'src/a.ts': `export function helper(n: number): number {\n  return n;\n}\n\nexport class Base {}\n`,
      'py/pkg/util.py': 'def helper(x):\n    return x * 2\n\n\ndef other():\n    return helper(1)\n',
    });
    const second = await snapshots.analyze(org, codebase.id, { path: root, commit: 'bbbbbbb' });
    expect(second).toMatchObject({ status: 'succeeded', fileCount: 8, parsedFileCount: 2, reusedFileCount: 6 });

    const scratch = await snapshots.analyze(org, (await codebases.create(org, { name: 'from-scratch' })).id, { path: root });
    expect(scratch).toMatchObject({ parsedFileCount: 8, reusedFileCount: 0 });
    const [incremental, fresh] = await Promise.all([contents(second.id), contents(scratch.id)]);
    expect(incremental).toEqual(fresh);
    expect(incremental.elements).toContain('src/a.ts function helper 1 7 3 1 1 1 t');
    expect(incremental.relations).toContain('py/pkg/util.py other calls helper 6 -> py/pkg/util.py helper');
    // The first snapshot is untouched.
    expect((await contents(first.id)).elements).toContain('src/a.ts function helper 1 7 3 1 2 1 t');
  });

  it("analyses this repository's packages: workspace imports resolve to sources, with a known cross-file call edge", async () => {
    const codebase = await codebases.create(org, { name: 'strata' });
    const snapshot = await snapshots.analyze(org, codebase.id, { path: join(__dirname, '../..') });
    expect(snapshot.status).toBe('succeeded');
    expect(snapshot.fileCount).toBeGreaterThan(100);
    // Relative imports, workspace packages (@strata/base → packages/base/src/index.ts) and tsconfig paths.
    expect(snapshot.resolutionRate).toBeGreaterThan(0.95);
    const [workspace] = await rows<{ target: string }>(
      `SELECT t.path AS target FROM codebase.element_relations r
         JOIN codebase.file_analysis f ON f.organization_id = r.organization_id AND f.id = r.file_id
         JOIN codebase.file_analysis t ON t.organization_id = r.organization_id AND t.id = r.target_file_id
        WHERE r.organization_id = $1 AND r.snapshot_id = $2 AND f.path = 'projects/src/services/projects.service.ts' AND r.target_name = '@strata/base'`,
      [snapshot.id],
    );
    expect(workspace).toEqual({ target: 'base/src/index.ts' });
    const edges = await rows<{ edge: string }>(
      `SELECT s.qualified_name || ' -> ' || tf.path || ' ' || t.qualified_name AS edge FROM codebase.element_relations r
         JOIN codebase.file_analysis f ON f.organization_id = r.organization_id AND f.id = r.file_id
         JOIN codebase.code_elements s ON s.organization_id = r.organization_id AND s.id = r.source_element_id
         JOIN codebase.code_elements t ON t.organization_id = r.organization_id AND t.id = r.target_element_id
         JOIN codebase.file_analysis tf ON tf.organization_id = t.organization_id AND tf.id = t.file_id
        WHERE r.organization_id = $1 AND r.snapshot_id = $2 AND f.path = 'base/src/tenancy/tenant-scope.ts' AND r.kind = 'calls'`,
      [snapshot.id],
    );
    expect(edges.map((e) => e.edge)).toContain('TenantScope.queryPrepared -> base/src/database/prepared.ts queryPrepared');
  });

  it('lists a git work tree by git ls-files (ignored files left out), and walks an ignored directory of one', () => {
    writeTree(root, {
      '.gitignore': 'vendor/\n*.log\n',
      'src/a.ts': 'x',
      'debug.log': 'x',
      'vendor/lib/v.js': 'x',
      'node_modules/m/i.js': 'x',
    });
    execFileSync('git', ['init', '-q', root]);
    execFileSync('git', ['-C', root, 'add', 'src/a.ts']);
    writeTree(root, { 'new.py': 'x' }); // untracked, not ignored: listed
    expect(listFiles(root)).toEqual(['.gitignore', 'new.py', 'node_modules/m/i.js', 'src/a.ts']);
    expect(listFiles(join(root, 'vendor'))).toEqual(['lib/v.js']);
  });

  it('bad input is a typed error naming the field, and nothing is written', async () => {
    const codebase = await codebases.create(org, { name: 'inputs' });
    const count = async () =>
      (await rows<{ n: number }>(`SELECT count(*)::int AS n FROM codebase.snapshots WHERE organization_id = $1`))[0].n;
    const before = await count();
    const fields = async (promise: Promise<unknown>) => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ValidationError);
      return (error as ValidationError).fields;
    };
    expect(await fields(snapshots.analyze(org, codebase.id, { path: join(root, 'missing') }))).toEqual(['path']);
    expect(await fields(snapshots.analyze(org, codebase.id, { path: root, commit: 'not a sha' }))).toEqual(['commit']);
    expect(await fields(snapshots.analyze(org, 'nope', { path: root }))).toEqual(['codebaseId']);
    expect(await fields(codebases.create(org, { name: '' }))).toEqual(['name']);
    await expect(snapshots.analyze(org, '00000000-0000-4000-8000-000000000000', { path: root })).rejects.toBeInstanceOf(NotFoundError);
    expect(await count()).toBe(before);
    await expect(codebases.create(org, { name: 'inputs' })).rejects.toMatchObject({ fields: ['name'] });
  });
});
