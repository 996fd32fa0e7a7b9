import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { NotFoundError, TenantConnection, TenantService, ValidationError, validateId, validateInput } from '@strata/base';
import { codebaseModule } from '../codebase.module';

export class ImpactOptions {
  /** How many steps to follow (default 5, at most 20). */
  @IsOptional() @IsInt() @Min(1) @Max(20) depth?: number;
}

export interface ReachedElement {
  elementId: string;
  qualifiedName: string;
  kind: string;
  path: string;
  /** The fewest steps it takes to get there. */
  depth: number;
}

export interface ReachedFile {
  fileId: string;
  path: string;
  depth: number;
}

/**
 * Each step of these recursive queries keeps one row per (node, depth) — UNION,
 * not UNION ALL — so a level holds at most every node once, cycles end at the
 * depth bound, and the work is at most nodes × depth; the answer is each
 * node's smallest depth.
 */
const REACH = (from: 'source_element_id' | 'target_element_id', to: 'source_element_id' | 'target_element_id') => `
  WITH RECURSIVE reach(id, depth) AS (
      SELECT r.${to}, 1 FROM codebase.element_relations r
       WHERE r.organization_id = $1 AND r.${from} = $2 AND r.kind = 'calls' AND r.${to} IS NOT NULL
    UNION
      SELECT r.${to}, reach.depth + 1 FROM reach
        JOIN codebase.element_relations r ON r.organization_id = $1 AND r.${from} = reach.id AND r.kind = 'calls'
       WHERE reach.depth < $3 AND r.${to} IS NOT NULL)
  SELECT e.id AS "elementId", e.qualified_name AS "qualifiedName", e.kind, f.path, min(reach.depth)::int AS depth
    FROM reach
    JOIN codebase.code_elements e ON e.organization_id = $1 AND e.id = reach.id
    JOIN codebase.file_analysis f ON f.organization_id = $1 AND f.id = e.file_id
   WHERE reach.id <> $2
   GROUP BY e.id, e.qualified_name, e.kind, f.path
   ORDER BY depth, f.path, e.qualified_name`;

/**
 * The files whose code depends on a file, directly or not: a file depends on
 * another when it imports it or calls (or extends) one of its elements.
 */
const FILE_IMPACT = `
  WITH RECURSIVE edges(dependent, dependency) AS MATERIALIZED (
      SELECT r.file_id, r.target_file_id FROM codebase.element_relations r
       WHERE r.organization_id = $1 AND r.snapshot_id = $2 AND r.target_file_id IS NOT NULL
    UNION
      SELECT r.file_id, t.file_id FROM codebase.element_relations r
        JOIN codebase.code_elements t ON t.organization_id = $1 AND t.id = r.target_element_id
       WHERE r.organization_id = $1 AND r.snapshot_id = $2),
  reach(id, depth) AS (
      SELECT e.dependent, 1 FROM edges e WHERE e.dependency = $3 AND e.dependent <> $3
    UNION
      SELECT e.dependent, reach.depth + 1 FROM reach JOIN edges e ON e.dependency = reach.id
       WHERE reach.depth < $4 AND e.dependent <> e.dependency)
  SELECT f.id AS "fileId", f.path, min(reach.depth)::int AS depth
    FROM reach JOIN codebase.file_analysis f ON f.organization_id = $1 AND f.id = reach.id
   WHERE reach.id <> $3
   GROUP BY f.id, f.path
   ORDER BY depth, f.path`;

/** What a change touches, answered in SQL with depth-bounded recursive queries over a snapshot's relations. */
export class ImpactService extends TenantService {
  constructor(connection: TenantConnection) {
    super(connection, codebaseModule);
  }

  /** Elements of a snapshot by qualified name (`Class.method`), in every file that has one. */
  async findElements(organizationId: string, snapshotId: string, qualifiedName: string): Promise<ReachedElement[]> {
    validateId(snapshotId, 'snapshotId', 'element');
    if (typeof qualifiedName !== 'string' || qualifiedName === '')
      throw ValidationError.forField('qualifiedName', 'must be a non-empty string', 'element');
    return this.scope.run(organizationId, (m) =>
      m.query(
        `SELECT e.id AS "elementId", e.qualified_name AS "qualifiedName", e.kind, f.path, 0 AS depth
           FROM codebase.code_elements e JOIN codebase.file_analysis f ON f.organization_id = e.organization_id AND f.id = e.file_id
          WHERE e.organization_id = $1 AND e.snapshot_id = $2 AND e.qualified_name = $3 ORDER BY f.path`,
        [organizationId, snapshotId, qualifiedName],
      ),
    );
  }

  /** Who calls the element, transitively, up to `depth` steps. */
  async callers(organizationId: string, elementId: string, options: ImpactOptions = {}): Promise<ReachedElement[]> {
    return this.reach(organizationId, elementId, options, REACH('target_element_id', 'source_element_id'));
  }

  /** What the element calls, transitively, up to `depth` steps. */
  async callees(organizationId: string, elementId: string, options: ImpactOptions = {}): Promise<ReachedElement[]> {
    return this.reach(organizationId, elementId, options, REACH('source_element_id', 'target_element_id'));
  }

  /** The files a change to `path` can reach through imports and calls, up to `depth` steps. */
  async fileImpact(organizationId: string, snapshotId: string, path: string, options: ImpactOptions = {}): Promise<ReachedFile[]> {
    validateId(snapshotId, 'snapshotId', 'impact');
    const { depth = 5 } = await validateInput(ImpactOptions, options, 'impact');
    return this.scope.run(organizationId, async (m) => {
      const [file] = await m.query(`SELECT id FROM codebase.file_analysis WHERE organization_id = $1 AND snapshot_id = $2 AND path = $3`, [
        organizationId,
        snapshotId,
        path,
      ]);
      if (!file) throw new NotFoundError('file', { snapshotId, path });
      return m.query(FILE_IMPACT, [organizationId, snapshotId, file.id, depth]);
    });
  }

  private async reach(organizationId: string, elementId: string, options: ImpactOptions, sql: string): Promise<ReachedElement[]> {
    validateId(elementId, 'elementId', 'impact');
    const { depth = 5 } = await validateInput(ImpactOptions, options, 'impact');
    return this.scope.run(organizationId, async (m) => {
      const [element] = await m.query(`SELECT id FROM codebase.code_elements WHERE organization_id = $1 AND id = $2`, [
        organizationId,
        elementId,
      ]);
      if (!element) throw new NotFoundError('element', { id: elementId });
      return m.query(sql, [organizationId, elementId, depth]);
    });
  }
}
