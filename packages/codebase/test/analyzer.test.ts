import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Analyzer, FileAnalysisResult, maintainabilityIndex } from '../src/analyzer/analyzer';
import { GO_SHAPES, PYTHON_WORKER } from './fixtures';

const BASE_SRC = join(__dirname, '../../base/src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? tsFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function element(result: FileAnalysisResult, qualifiedName: string) {
  const found = result.elements.filter((e) => e.qualifiedName === qualifiedName);
  expect(found).toHaveLength(1);
  return found[0];
}

function relations(result: FileAnalysisResult, kind: string, from: string | null) {
  return result.relations
    .filter((r) => r.kind === kind && (r.source === null ? null : result.elements[r.source].qualifiedName) === from)
    .map((r) => r.targetName);
}

describe('the analyzer', () => {
  let analyzer: Analyzer;
  beforeAll(async () => {
    analyzer = await Analyzer.create();
  });

  describe("on this repository's own code", () => {
    const path = join(BASE_SRC, 'naming/naming-strategy.ts');
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n');
    /** 1-based line of the first line starting with `prefix`, and of the first `}` closing it at column 0 / 2. */
    const spanOf = (prefix: string, indent = '') => {
      const start = lines.findIndex((line) => line.startsWith(prefix)) + 1;
      const end = lines.findIndex((line, i) => i >= start && line === `${indent}}`) + 1;
      expect(start).toBeGreaterThan(0);
      return { startLine: start, endLine: end };
    };

    it('finds the functions of base/naming/naming-strategy.ts with their spans, export and complexity', async () => {
      const result = await analyzer.analyze('packages/base/src/naming/naming-strategy.ts', readFileSync(path));
      expect(result.language).toBe('typescript');
      expect(result.parseError).toBeNull();
      for (const name of ['snakeCase', 'pluralize', 'constraintName']) {
        expect(element(result, name)).toMatchObject({
          kind: 'function',
          exported: true,
          parent: null,
          ...spanOf(`export function ${name}(`),
        });
      }
      expect(element(result, 'bareTableName')).toMatchObject({ kind: 'function', exported: false, ...spanOf('function bareTableName(') });
      // pluralize: two ifs and one ternary → 3 decisions + 1.
      expect(element(result, 'pluralize')).toMatchObject({ complexity: 4, parameterCount: 1 });
      expect(element(result, 'snakeCase').complexity).toBe(1);
      expect(element(result, 'constraintName')).toMatchObject({ complexity: 2, parameterCount: 3 });
    });

    it('finds the class, its methods as children, its base class and a known call edge', async () => {
      const result = await analyzer.analyze('naming-strategy.ts', readFileSync(path));
      const cls = element(result, 'StrataNamingStrategy');
      expect(cls).toMatchObject({ kind: 'class', exported: true, ...spanOf('export class StrataNamingStrategy') });
      const tableName = element(result, 'StrataNamingStrategy.tableName');
      expect(tableName).toMatchObject({ kind: 'method', parameterCount: 2, complexity: 2, ...spanOf('  override tableName(', '  ') });
      expect(result.elements[tableName.parent!]).toBe(cls);
      expect(relations(result, 'extends', 'StrataNamingStrategy')).toEqual(['DefaultNamingStrategy']);
      expect(relations(result, 'implements', 'StrataNamingStrategy')).toEqual(['NamingStrategyInterface']);
      expect(relations(result, 'calls', 'StrataNamingStrategy.tableName').sort()).toEqual(['pluralize', 'snakeCase']);
      expect(relations(result, 'imports', null)).toEqual(['node:crypto', 'typeorm']);
    });

    it('counts its lines: physical and blank as the text says, comments and code adding up', async () => {
      const result = await analyzer.analyze('naming-strategy.ts', readFileSync(path));
      const physical = text.endsWith('\n') ? lines.length - 1 : lines.length;
      expect(result.lines.physical).toBe(physical);
      expect(result.lines.blank).toBe(lines.slice(0, physical).filter((line) => line.trim() === '').length);
      const commentOnly = lines.slice(0, physical).filter((line) => /^\s*(\/\/|\/\*\*?|\*)/.test(line)).length;
      expect(result.lines.comment).toBe(commentOnly);
      expect(result.lines.source + result.lines.comment + result.lines.blank).toBe(physical);
    });

    it('parses every TypeScript file of packages/base/src without error and finds known elements', async () => {
      const files = tsFiles(BASE_SRC);
      expect(files.length).toBeGreaterThan(30);
      const results = await Promise.all(files.map(async (file) => analyzer.analyze(relative(BASE_SRC, file), readFileSync(file))));
      expect(results.filter((r) => r.parseError !== null).map((r) => r.path)).toEqual([]);
      const byPath = new Map(results.map((r) => [r.path, r]));
      expect(element(byPath.get('migration/tenant-table.ts')!, 'createTenantTable')).toMatchObject({ kind: 'function', exported: true });
      expect(element(byPath.get('tenancy/tenant-scope.ts')!, 'TenantService')).toMatchObject({ kind: 'class', exported: true });
      expect(element(byPath.get('migration/tenant-table.ts')!, 'TenantTable')).toMatchObject({ kind: 'interface', exported: true });
      expect(relations(byPath.get('migration/tenant-table.ts')!, 'calls', 'createTenantTable')).toContain('registerPartitionedTable');
      for (const result of results) expect(result.contentHash).toMatch(/^[0-9a-f]{64}$/);
    });
  });

  describe('Python', () => {
    it('finds classes, methods, functions and module variables with hand-counted complexity', async () => {
      const result = await analyzer.analyze('pkg/worker.py', Buffer.from(PYTHON_WORKER));
      expect(result).toMatchObject({ language: 'python', parseError: null });
      expect(result.elements.map((e) => [e.kind, e.qualifiedName, e.startLine, e.endLine, e.complexity])).toEqual([
        ['variable', 'LIMIT', 4, 4, null],
        ['class', 'Base', 7, 8, null],
        ['class', 'Worker', 11, 23, null],
        ['method', 'Worker.run', 12, 19, 5], // for, if, and, elif
        ['method', 'Worker._name', 21, 23, 2], // conditional expression
        ['function', 'main', 26, 31, 2], // except
      ]);
      expect(element(result, 'Worker.run').parameterCount).toBe(2);
      expect(element(result, 'main').exported).toBe(true);
      expect(relations(result, 'imports', null)).toEqual(['os', '.util']);
      expect(relations(result, 'extends', 'Worker')).toEqual(['Base']);
      expect(relations(result, 'calls', 'Worker.run')).toEqual(['helper', 'ValueError']);
      expect(relations(result, 'calls', 'Worker._name')).toEqual(['os.path.basename']);
      expect(relations(result, 'calls', 'main')).toEqual(['Worker']);
      expect(result.lines).toEqual({ physical: 31, source: 22, comment: 1, blank: 8 });
      expect(result.complexity).toBe(9);
    });
  });

  describe('Go', () => {
    it('finds types, functions and methods attached to their receiver, with hand-counted complexity', async () => {
      const result = await analyzer.analyze('shapes/shapes.go', Buffer.from(GO_SHAPES));
      expect(result).toMatchObject({ language: 'go', parseError: null });
      expect(result.elements.map((e) => [e.kind, e.qualifiedName, e.startLine, e.endLine, e.complexity, e.exported])).toEqual([
        ['interface', 'Shape', 9, 11, null, true],
        ['class', 'Square', 13, 15, null, true],
        ['method', 'Square.Area', 17, 19, 1, true],
        ['function', 'Classify', 21, 35, 7, true], // if, &&, for, case, case, ||
        ['function', 'helper', 37, 37, 1, false],
      ]);
      expect(result.elements[element(result, 'Square.Area').parent!].name).toBe('Square');
      expect(element(result, 'Classify').parameterCount).toBe(2);
      expect(relations(result, 'imports', null)).toEqual(['fmt', 'strings']);
      expect(relations(result, 'calls', 'Classify')).toEqual(['fmt.Sprintf', 'strings.ToUpper']);
      expect(result.lines).toEqual({ physical: 37, source: 30, comment: 1, blank: 6 });
    });
  });

  describe('the maintainability index', () => {
    it("is Microsoft's 0–100 rescaling, checked on hand-computed values", () => {
      // 171 − 5.2 ln 100 − 0.23 − 16.2 ln 10 = 109.5212; × 100 / 171 = 64.0475
      expect(maintainabilityIndex(100, 1, 10)).toBeCloseTo(64.0475, 3);
      // 171 − 5.2 ln 1000 − 0.23 × 5 − 16.2 ln 50 = 70.5549; × 100 / 171 = 41.2602
      expect(maintainabilityIndex(1000, 5, 50)).toBeCloseTo(41.2602, 3);
      expect(maintainabilityIndex(1e6, 50, 10_000)).toBe(0);
      expect(maintainabilityIndex(0, 1, 10)).toBeNull();
    });

    it('of a one-line Python file: V = 3 log2 3 (x, =, 1), G = 1, LOC = 1 → 95.12', async () => {
      const result = await analyzer.analyze('one.py', Buffer.from('x = 1\n'));
      expect(result.halsteadVolume).toBeCloseTo(3 * Math.log2(3), 9);
      expect(result.maintainability).toBeCloseTo(95.124, 2);
    });
  });

  describe('files that cannot be analysed are reported, never thrown', () => {
    it('a syntax error is recorded with its position, and what tree-sitter recovered is kept', async () => {
      const result = await analyzer.analyze('bad.ts', Buffer.from('export function ok() { return 1 }\nfunction broken( {\n'));
      expect(result.parseError).toMatch(/^syntax error at 2:/);
      expect(result.elements.map((e) => e.name)).toContain('ok');
    });

    it('a binary file, a too-large generated file and an unknown extension', async () => {
      const binary = await analyzer.analyze('logo.ts', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d]));
      expect(binary).toMatchObject({ language: null, parseError: 'binary file', elements: [] });
      const line = 'export const value_0000000 = 1;\n';
      const generated = Buffer.from(line.repeat(Math.ceil((5 * 1024 * 1024) / line.length)));
      const big = await analyzer.analyze('generated.ts', generated);
      expect(big.parseError).toMatch(/^not parsed: \d+ bytes is more than the 1048576-byte limit$/);
      expect(big.lines.physical).toBe(Math.ceil((5 * 1024 * 1024) / line.length));
      expect(big.contentHash).toMatch(/^[0-9a-f]{64}$/);
      const unknown = await analyzer.analyze('notes.xyz', Buffer.from('one\n\ntwo\n'));
      expect(unknown).toMatchObject({ language: null, parseError: null, lines: { physical: 3, source: 2, comment: 0, blank: 1 } });
      const empty = await analyzer.analyze('empty.py', Buffer.alloc(0));
      expect(empty).toMatchObject({ language: 'python', parseError: null, elements: [], lines: { physical: 0 } });
    });
  });

  describe('the other grammars, as far as the generic tables go', () => {
    const cases: [string, string, [string, string, number | null][]][] = [
      [
        'a.rs',
        'use std::fmt;\nstruct P { x: i32 }\nfn f(a: i32) -> i32 { if a > 0 && a < 9 { 1 } else { 2 } }\n',
        [
          ['class', 'P', null],
          ['function', 'f', 3],
        ],
      ],
      [
        'A.java',
        'import java.util.List;\nclass A {\n  int f(int a) { if (a > 0) { return g(a); } return 0; }\n}\n',
        [
          ['class', 'A', null],
          ['method', 'A.f', 2],
        ],
      ],
      [
        'a.cs',
        'using System;\nclass A { int F(int a) { return a > 0 ? 1 : 2; } }\n',
        [
          ['class', 'A', null],
          ['method', 'A.F', 2],
        ],
      ],
      [
        'a.cpp',
        '#include <vector>\nint f(int a) { if (a) return 1; return 0; }\nclass C { };\n',
        [
          ['function', 'f', 2],
          ['class', 'C', null],
        ],
      ],
      [
        'a.rb',
        'class A\n  def f(a)\n    if a then 1 else 2 end\n  end\nend\n',
        [
          ['class', 'A', null],
          ['method', 'A.f', 2],
        ],
      ],
      [
        'a.php',
        '<?php\nfunction f($a) { if ($a) { return 1; } return 0; }\nclass C { function m() {} }\n',
        [
          ['function', 'f', 2],
          ['class', 'C', null],
          ['method', 'C.m', 1],
        ],
      ],
      ['a.sh', 'f() {\n  if [ -n "$1" ]; then echo hi; fi\n}\n', [['function', 'f', 2]]],
      ['App.tsx', 'export const App = () => <div>{a ? 1 : 2}</div>;\n', [['function', 'App', 2]]],
      [
        'a.js',
        'class A extends B { m(x) { return x || 1; } }\n',
        [
          ['class', 'A', null],
          ['method', 'A.m', 2],
        ],
      ],
    ];
    it.each(cases)('%s', async (path, source, expected) => {
      const result = await analyzer.analyze(path, Buffer.from(source));
      expect(result.parseError).toBeNull();
      expect(result.elements.map((e) => [e.kind, e.qualifiedName, e.complexity])).toEqual(expected);
    });
  });
});
