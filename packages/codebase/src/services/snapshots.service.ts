import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { IsOptional, IsString, Length, Matches } from 'class-validator';
import { EntityManager } from 'typeorm';
import { NotFoundError, TenantConnection, TenantService, ValidationError, validateId, validateInput } from '@strata/base';
import { ANALYZER_TOOL, ANALYZER_VERSION, Analyzer, FileAnalysisResult, sha256 } from '../analyzer/analyzer';
import { languageOf } from '../analyzer/languages';
import { ImportResolver } from '../analyzer/resolver';
import { Snapshot } from '../entities';
import { codebaseModule } from '../codebase.module';

export class AnalyzeSnapshotInput {
  /** A directory: the working tree to analyse. */
  @IsString() @Length(1, 4096) path!: string;
  @IsOptional() @IsString() @Matches(/^[0-9a-f]{7,64}$/, { message: 'commit must be a hex commit sha' }) commit?: string | null;
  @IsOptional() @IsString() @Matches(/^\S{1,255}$/, { message: 'branch must be a branch name' }) branch?: string | null;
}

export interface AnalyzeProgress {
  phase: 'listing' | 'analysing' | 'resolving' | 'done';
  done: number;
  total: number;
}

export interface AnalyzeOptions {
  onProgress?: (progress: AnalyzeProgress) => void;
  /** Files analysed and written per batch (default 200). */
  batchSize?: number;
}

/** Directories never walked when the tree is not a git work tree. */
const SKIPPED_DIRECTORIES = new Set(['.git', 'node_modules', 'dist', '.nx', '.strata']);

/**
 * Snapshots of a codebase: `analyze` reads a directory, parses every file
 * whose content hash the previous snapshot does not have, carries the others'
 * rows over from it, resolves imports and calls across the snapshot, and
 * records the counts and the resolution rate.
 */
export class SnapshotsService extends TenantService {
  private analyzer?: Promise<Analyzer>;

  constructor(connection: TenantConnection) {
    super(connection, codebaseModule);
  }

  async get(organizationId: string, snapshotId: string): Promise<Snapshot> {
    validateId(snapshotId, 'snapshotId', 'snapshot');
    const found = await this.scope.run(organizationId, (m) => m.getRepository(Snapshot).findOneBy({ organizationId, id: snapshotId }));
    if (!found) throw new NotFoundError('snapshot', { id: snapshotId });
    return found;
  }

  async analyze(organizationId: string, codebaseId: string, input: AnalyzeSnapshotInput, options: AnalyzeOptions = {}): Promise<Snapshot> {
    validateId(codebaseId, 'codebaseId', 'snapshot');
    const valid = await validateInput(AnalyzeSnapshotInput, input, 'snapshot');
    const root = resolve(valid.path);
    if (!isDirectory(root)) throw ValidationError.forField('path', `is not a directory: ${valid.path}`, 'snapshot');
    const batchSize = options.batchSize ?? 200;
    const progress = options.onProgress ?? (() => undefined);

    const { snapshotId, previousId } = await this.scope.run(organizationId, async (m) => {
      const [codebase] = await m.query(`SELECT id FROM codebase.codebases WHERE organization_id = $1 AND id = $2`, [
        organizationId,
        codebaseId,
      ]);
      if (!codebase) throw new NotFoundError('codebase', { id: codebaseId });
      const [previous] = await m.query(
        `SELECT id FROM codebase.snapshots WHERE organization_id = $1 AND codebase_id = $2 AND status = 'succeeded'
          ORDER BY finished_at DESC, id DESC LIMIT 1`,
        [organizationId, codebaseId],
      );
      const [created] = await m.query(
        `INSERT INTO codebase.snapshots (organization_id, codebase_id, commit_sha, branch, tool, tool_version)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
        [organizationId, codebaseId, valid.commit ?? null, valid.branch ?? null, ANALYZER_TOOL, ANALYZER_VERSION],
      );
      return { snapshotId: created.id as string, previousId: (previous?.id as string | undefined) ?? null };
    });

    try {
      progress({ phase: 'listing', done: 0, total: 0 });
      const paths = listFiles(root);
      const analyzer = await (this.analyzer ??= Analyzer.create());
      await this.scope.run(organizationId, async (m) => {
        const previous = new Map<string, string>();
        if (previousId) {
          const rows: { content_hash: string; id: string }[] = await m.query(
            `SELECT content_hash, id FROM codebase.file_analysis WHERE organization_id = $1 AND snapshot_id = $2`,
            [organizationId, previousId],
          );
          for (const row of rows) previous.set(row.content_hash, row.id);
        }
        const store = new SnapshotWriter(m, organizationId, snapshotId);
        let done = 0;
        for (let start = 0; start < paths.length; start += batchSize) {
          const batch = paths.slice(start, start + batchSize);
          const parsed: FileAnalysisResult[] = [];
          const reused: { path: string; from: string }[] = [];
          for (const path of batch) {
            const bytes = readFileSync(join(root, path));
            const from = previous.get(sha256(bytes));
            if (from) reused.push({ path, from });
            else parsed.push(await analyzer.analyze(path, bytes));
          }
          await store.carryOver(reused);
          await store.insert(parsed);
          done += batch.length;
          progress({ phase: 'analysing', done, total: paths.length });
        }
        progress({ phase: 'resolving', done, total: paths.length });
        const resolver = new ImportResolver(paths, (path) => {
          try {
            return readFileSync(join(root, path), 'utf8');
          } catch {
            return undefined;
          }
        });
        await store.resolve(resolver, { parsed: store.parsedCount, reused: store.reusedCount });
      });
      progress({ phase: 'done', done: paths.length, total: paths.length });
    } catch (error) {
      await this.scope.run(organizationId, (m) =>
        m.query(`UPDATE codebase.snapshots SET status = 'failed', finished_at = now(), error = $3 WHERE organization_id = $1 AND id = $2`, [
          organizationId,
          snapshotId,
          String((error as Error).message ?? error).slice(0, 10_000),
        ]),
      );
      throw error;
    }
    return this.get(organizationId, snapshotId);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The files of a tree, relative, sorted: `git ls-files` (tracked and untracked
 * but not ignored) in a git work tree, else a walk that skips build and
 * dependency directories.
 */
export function listFiles(root: string): string[] {
  let listed: string[] | undefined;
  try {
    const out = execFileSync('git', ['-C', root, 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 256 * 1024 * 1024,
    });
    listed = out.split('\0').filter((path) => path !== '');
    // An ignored directory of a work tree (a vendored tree, node_modules) lists nothing: walk it instead.
    if (listed.length === 0) listed = undefined;
  } catch {
    listed = undefined;
  }
  const files =
    listed?.filter((path) => {
      try {
        return statSync(join(root, path)).isFile();
      } catch {
        return false; // deleted in the working tree
      }
    }) ?? walk(root, '');
  return [...new Set(files)].sort();
}

function walk(root: string, dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return SKIPPED_DIRECTORIES.has(entry.name) ? [] : walk(root, path);
    return entry.isFile() ? [path] : [];
  });
}

const ELEMENT_CHUNK = 5000;

/** Writes one snapshot's rows with multi-row INSERT … SELECT FROM unnest (the embedded database has no COPY). */
class SnapshotWriter {
  parsedCount = 0;
  reusedCount = 0;

  constructor(
    private readonly m: EntityManager,
    private readonly org: string,
    private readonly snapshot: string,
  ) {}

  async insert(results: FileAnalysisResult[]): Promise<void> {
    if (results.length === 0) return;
    this.parsedCount += results.length;
    const fileIds = results.map(() => randomUUID());
    await this.m.query(
      `INSERT INTO codebase.file_analysis (organization_id, snapshot_id, id, path, language, size_bytes, content_hash, physical_lines,
              source_lines, comment_lines, blank_lines, parse_error, complexity, maintainability)
       SELECT $1, $2, * FROM unnest($3::uuid[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::int[], $9::int[], $10::int[],
              $11::int[], $12::text[], $13::int[], $14::float8[])`,
      [
        this.org,
        this.snapshot,
        fileIds,
        results.map((r) => r.path),
        results.map((r) => r.language),
        results.map((r) => r.sizeBytes),
        results.map((r) => r.contentHash),
        results.map((r) => r.lines.physical),
        results.map((r) => r.lines.source),
        results.map((r) => r.lines.comment),
        results.map((r) => r.lines.blank),
        results.map((r) => r.parseError),
        results.map((r) => r.complexity),
        results.map((r) => r.maintainability),
      ],
    );
    // Chunks hold whole files, so a parent is always in the same statement as its children or before it.
    const elementChunks: unknown[][][] = [[]];
    const relations: unknown[][] = [];
    results.forEach((result, f) => {
      const ids = result.elements.map(() => randomUUID());
      if (elementChunks[elementChunks.length - 1].length >= ELEMENT_CHUNK) elementChunks.push([]);
      const chunk = elementChunks[elementChunks.length - 1];
      result.elements.forEach((e, i) =>
        chunk.push([
          ids[i],
          fileIds[f],
          e.parent === null ? null : ids[e.parent],
          e.kind,
          e.name,
          e.qualifiedName,
          e.startLine,
          e.startColumn,
          e.endLine,
          e.endColumn,
          e.complexity,
          e.parameterCount,
          e.exported,
        ]),
      );
      for (const r of result.relations)
        relations.push([fileIds[f], r.source === null ? null : ids[r.source], r.kind, r.targetName, r.line]);
    });
    for (const chunk of elementChunks) {
      if (chunk.length === 0) continue;
      await this.m.query(
        `INSERT INTO codebase.code_elements (organization_id, snapshot_id, id, file_id, parent_id, kind, name, qualified_name, start_line,
                start_column, end_line, end_column, complexity, parameter_count, exported)
         SELECT $1, $2, * FROM unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::int[], $10::int[],
                $11::int[], $12::int[], $13::int[], $14::int[], $15::boolean[])`,
        [this.org, this.snapshot, ...columns(chunk, 13)],
      );
    }
    for (let i = 0; i < relations.length; i += ELEMENT_CHUNK) {
      const chunk = relations.slice(i, i + ELEMENT_CHUNK);
      await this.m.query(
        `INSERT INTO codebase.element_relations (organization_id, snapshot_id, file_id, source_element_id, kind, target_name, line)
         SELECT $1, $2, * FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::int[])`,
        [this.org, this.snapshot, ...columns(chunk, 5)],
      );
    }
  }

  /**
   * Copies the rows of files whose content the previous snapshot had, under
   * their new path: elements get new ids (parents mapped), relations are
   * copied unresolved and resolved again with the rest of the snapshot.
   */
  async carryOver(files: { path: string; from: string }[]): Promise<void> {
    if (files.length === 0) return;
    this.reusedCount += files.length;
    const newIds = files.map(() => randomUUID());
    const params = [this.org, this.snapshot, newIds, files.map((f) => f.from), files.map((f) => f.path)];
    await this.m.query(
      `INSERT INTO codebase.file_analysis (organization_id, snapshot_id, id, path, language, size_bytes, content_hash, physical_lines,
              source_lines, comment_lines, blank_lines, parse_error, complexity, maintainability)
       SELECT $1, $2, n.id, n.path, f.language, f.size_bytes, f.content_hash, f.physical_lines, f.source_lines, f.comment_lines,
              f.blank_lines, f.parse_error, f.complexity, f.maintainability
         FROM unnest($3::uuid[], $4::uuid[], $5::text[]) AS n(id, old_id, path)
         JOIN codebase.file_analysis f ON f.organization_id = $1 AND f.id = n.old_id`,
      params,
    );
    await this.m.query(
      `WITH files AS (SELECT * FROM unnest($3::uuid[], $4::uuid[]) AS n(id, old_id)),
            mapped AS MATERIALIZED (
              SELECT e.id AS old_id, gen_random_uuid() AS id, files.id AS file_id
                FROM files JOIN codebase.code_elements e ON e.organization_id = $1 AND e.file_id = files.old_id),
            elements AS (
              INSERT INTO codebase.code_elements (organization_id, snapshot_id, id, file_id, parent_id, kind, name, qualified_name,
                     start_line, start_column, end_line, end_column, complexity, parameter_count, exported)
              SELECT $1, $2, mapped.id, mapped.file_id, parent.id, e.kind, e.name, e.qualified_name, e.start_line, e.start_column,
                     e.end_line, e.end_column, e.complexity, e.parameter_count, e.exported
                FROM mapped JOIN codebase.code_elements e ON e.organization_id = $1 AND e.id = mapped.old_id
                LEFT JOIN mapped parent ON parent.old_id = e.parent_id
              RETURNING 1)
       INSERT INTO codebase.element_relations (organization_id, snapshot_id, file_id, source_element_id, kind, target_name, line)
       SELECT $1, $2, files.id, source.id, r.kind, r.target_name, r.line
         FROM files JOIN codebase.element_relations r ON r.organization_id = $1 AND r.file_id = files.old_id
         LEFT JOIN mapped source ON source.old_id = r.source_element_id`,
      params.slice(0, 4),
    );
  }

  /**
   * Imports to files (in the application: the resolver needs the tree), then
   * calls and extends to elements in SQL: `this.x` / `self.x` to a method of
   * the enclosing class, a plain name to a top-level element of the same file,
   * else to an exported top-level element of a file the file imports.
   */
  async resolve(resolver: ImportResolver, counts: { parsed: number; reused: number }): Promise<void> {
    const imports: { id: string; path: string; language: string | null; target_name: string }[] = await this.m.query(
      `SELECT r.id, f.path, f.language, r.target_name FROM codebase.element_relations r
         JOIN codebase.file_analysis f ON f.organization_id = r.organization_id AND f.id = r.file_id
        WHERE r.organization_id = $1 AND r.snapshot_id = $2 AND r.kind = 'imports'`,
      [this.org, this.snapshot],
    );
    const internal = imports.filter((i) => resolver.isInternal(i.language ?? languageOf(i.path)?.id ?? null, i.path, i.target_name));
    const resolved = internal
      .map((i) => ({ id: i.id, target: resolver.resolve(i.language, i.path, i.target_name) }))
      .filter((r): r is { id: string; target: string } => r.target !== null);
    await this.m.query(
      `UPDATE codebase.element_relations r SET target_file_id = f.id
         FROM unnest($3::uuid[], $4::text[]) AS n(id, path)
         JOIN codebase.file_analysis f ON f.organization_id = $1 AND f.snapshot_id = $2 AND f.path = n.path
        WHERE r.organization_id = $1 AND r.id = n.id`,
      [this.org, this.snapshot, resolved.map((r) => r.id), resolved.map((r) => r.target)],
    );
    // One statement per rule, each a join on the (snapshot, name) index; a rule only fills what the ones before left.
    const rules = [
      // this.x / self.x: a method of the class the call sits in, same file.
      `SELECT r.id, t.id AS target, t.start_line FROM codebase.element_relations r
         JOIN codebase.code_elements s ON s.organization_id = r.organization_id AND s.id = r.source_element_id
         JOIN codebase.code_elements t ON t.organization_id = r.organization_id AND t.snapshot_id = r.snapshot_id
              AND t.name = split_part(r.target_name, '.', 2) AND t.kind = 'method' AND t.file_id = r.file_id
              AND t.parent_id = coalesce(CASE WHEN s.kind = 'class' THEN s.id END, s.parent_id)
        WHERE r.organization_id = $1 AND r.snapshot_id = $2 AND r.kind = 'calls' AND r.target_element_id IS NULL
          AND r.target_name ~ '^(this|self)\\.[^.]+$'`,
      // A plain name: a top-level element of the same file.
      `SELECT r.id, t.id AS target, t.start_line FROM codebase.element_relations r
         JOIN codebase.code_elements t ON t.organization_id = r.organization_id AND t.snapshot_id = r.snapshot_id
              AND t.name = r.target_name AND t.parent_id IS NULL AND t.file_id = r.file_id
        WHERE r.organization_id = $1 AND r.snapshot_id = $2 AND r.kind IN ('calls', 'extends', 'implements') AND r.target_element_id IS NULL`,
      // A plain name: an exported top-level element of a file this file imports.
      `SELECT r.id, t.id AS target, t.start_line FROM codebase.element_relations r
         JOIN codebase.element_relations i ON i.organization_id = r.organization_id AND i.file_id = r.file_id AND i.kind = 'imports'
         JOIN codebase.code_elements t ON t.organization_id = r.organization_id AND t.snapshot_id = r.snapshot_id
              AND t.name = r.target_name AND t.parent_id IS NULL AND t.exported AND t.file_id = i.target_file_id
        WHERE r.organization_id = $1 AND r.snapshot_id = $2 AND r.kind IN ('calls', 'extends', 'implements') AND r.target_element_id IS NULL`,
    ];
    for (const rule of rules) {
      await this.m.query(
        `WITH c AS (SELECT DISTINCT ON (id) id, target FROM (${rule}) AS matches ORDER BY id, start_line, target)
         UPDATE codebase.element_relations r SET target_element_id = c.target FROM c WHERE r.organization_id = $1 AND r.id = c.id`,
        [this.org, this.snapshot],
      );
    }
    // Visual Studio's maintainability rating; McCabe's threshold of 10 for a complex function.
    await this.m.query(
      `INSERT INTO codebase.file_quality_scores (organization_id, snapshot_id, file_id, maintainability, rating, function_count,
              max_complexity, mean_complexity, complex_function_count)
       SELECT $1, $2, f.id, f.maintainability,
              CASE WHEN f.maintainability >= 20 THEN 'good' WHEN f.maintainability >= 10 THEN 'moderate' WHEN f.maintainability IS NOT NULL THEN 'poor' END,
              coalesce(e.functions, 0), e.max_complexity, e.mean_complexity, coalesce(e.complex, 0)
         FROM codebase.file_analysis f
         LEFT JOIN (SELECT file_id, count(*)::int AS functions, max(complexity) AS max_complexity, avg(complexity)::float8 AS mean_complexity,
                           count(*) FILTER (WHERE complexity > 10)::int AS complex
                      FROM codebase.code_elements WHERE organization_id = $1 AND snapshot_id = $2 AND kind IN ('function', 'method')
                     GROUP BY file_id) e ON e.file_id = f.id
        WHERE f.organization_id = $1 AND f.snapshot_id = $2 AND f.language IS NOT NULL`,
      [this.org, this.snapshot],
    );
    await this.m.query(
      `UPDATE codebase.snapshots s SET status = 'succeeded', finished_at = now(),
              file_count = f.files, error_file_count = f.errors, element_count = e.elements, relation_count = r.relations,
              parsed_file_count = $3, reused_file_count = $4,
              resolution_rate = CASE WHEN $5::int > 0 THEN $6::float8 / $5 END
         FROM (SELECT count(*)::int AS files, count(parse_error)::int AS errors FROM codebase.file_analysis
                WHERE organization_id = $1 AND snapshot_id = $2) f,
              (SELECT count(*)::int AS elements FROM codebase.code_elements WHERE organization_id = $1 AND snapshot_id = $2) e,
              (SELECT count(*)::int AS relations FROM codebase.element_relations WHERE organization_id = $1 AND snapshot_id = $2) r
        WHERE s.organization_id = $1 AND s.id = $2`,
      [this.org, this.snapshot, counts.parsed, counts.reused, internal.length, resolved.length],
    );
  }
}

/** Rows → one array per column, for unnest. */
function columns(rows: unknown[][], width: number): unknown[][] {
  return Array.from({ length: width }, (_, c) => rows.map((row) => row[c]));
}
