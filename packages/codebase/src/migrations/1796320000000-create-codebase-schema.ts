import { MigrationInterface, QueryRunner } from 'typeorm';
import { TenantTable, constraintName, createTenantTable, dropTenantTable } from '@strata/base';

const timestamps = {
  created_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
  updated_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
};

/** A composite, tenant-consistent reference `(organization_id, column)` → `table (organization_id, id)`. */
function reference(table: string, column: string, target: string): string {
  return (
    `CONSTRAINT "${table}_organization_id_${column}_fkey" FOREIGN KEY ("organization_id", "${column}") ` +
    `REFERENCES "codebase"."${target}" ("organization_id", "id") ON DELETE CASCADE`
  );
}

function index(table: string, columns: string[]): string {
  return `CREATE INDEX "${constraintName(table, columns, 'idx')}" ON "codebase"."${table}" (${columns.map((c) => `"${c}"`).join(', ')})`;
}

const codebases: TenantTable = {
  table: 'codebase.codebases',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    name: 'character varying(255) NOT NULL',
    repository_id: 'uuid',
    settings: `jsonb NOT NULL DEFAULT '{}'`,
    ...timestamps,
  },
  constraints: [
    `CONSTRAINT "codebases_organization_id_name_key" UNIQUE ("organization_id", "name")`,
    `CONSTRAINT "codebases_name_check" CHECK ("name" <> '')`,
  ],
  audit: true,
};

const snapshots: TenantTable = {
  table: 'codebase.snapshots',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    codebase_id: 'uuid NOT NULL',
    commit_sha: 'character varying(64)',
    branch: 'character varying(255)',
    tool: 'character varying(64) NOT NULL',
    tool_version: 'character varying(32) NOT NULL',
    status: `character varying(16) NOT NULL DEFAULT 'running'`,
    started_at: 'TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now()',
    finished_at: 'TIMESTAMP WITH TIME ZONE',
    file_count: 'integer NOT NULL DEFAULT 0',
    parsed_file_count: 'integer NOT NULL DEFAULT 0',
    reused_file_count: 'integer NOT NULL DEFAULT 0',
    error_file_count: 'integer NOT NULL DEFAULT 0',
    element_count: 'integer NOT NULL DEFAULT 0',
    relation_count: 'integer NOT NULL DEFAULT 0',
    resolution_rate: 'double precision',
    error: 'text',
    ...timestamps,
  },
  constraints: [
    `CONSTRAINT "snapshots_status_check" CHECK ("status" IN ('running', 'succeeded', 'failed'))`,
    `CONSTRAINT "snapshots_finished_at_check" CHECK (("status" = 'running') = ("finished_at" IS NULL))`,
    `CONSTRAINT "snapshots_resolution_rate_check" CHECK ("resolution_rate" BETWEEN 0 AND 1)`,
    reference('snapshots', 'codebase_id', 'codebases'),
  ],
  audit: true,
};

// The analysis tables are written in bulk (thousands of rows per snapshot) and never edited: no audit trigger.
const fileAnalysis: TenantTable = {
  table: 'codebase.file_analysis',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    snapshot_id: 'uuid NOT NULL',
    path: 'text NOT NULL',
    language: 'character varying(32)',
    size_bytes: 'bigint NOT NULL',
    content_hash: 'character(64) NOT NULL',
    physical_lines: 'integer NOT NULL DEFAULT 0',
    source_lines: 'integer NOT NULL DEFAULT 0',
    comment_lines: 'integer NOT NULL DEFAULT 0',
    blank_lines: 'integer NOT NULL DEFAULT 0',
    parse_error: 'text',
    complexity: 'integer NOT NULL DEFAULT 0',
    maintainability: 'double precision',
    ...timestamps,
  },
  constraints: [
    `CONSTRAINT "file_analysis_organization_id_snapshot_id_path_key" UNIQUE ("organization_id", "snapshot_id", "path")`,
    `CONSTRAINT "file_analysis_path_check" CHECK ("path" <> '')`,
    `CONSTRAINT "file_analysis_content_hash_check" CHECK ("content_hash" ~ '^[0-9a-f]{64}$')`,
    reference('file_analysis', 'snapshot_id', 'snapshots'),
  ],
};

const codeElements: TenantTable = {
  table: 'codebase.code_elements',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    snapshot_id: 'uuid NOT NULL',
    file_id: 'uuid NOT NULL',
    parent_id: 'uuid',
    kind: 'character varying(16) NOT NULL',
    name: 'text NOT NULL',
    qualified_name: 'text NOT NULL',
    start_line: 'integer NOT NULL',
    start_column: 'integer NOT NULL',
    end_line: 'integer NOT NULL',
    end_column: 'integer NOT NULL',
    complexity: 'integer',
    parameter_count: 'integer',
    exported: 'boolean NOT NULL DEFAULT false',
    ...timestamps,
  },
  constraints: [
    `CONSTRAINT "code_elements_kind_check" CHECK ("kind" IN ('function', 'method', 'class', 'interface', 'type', 'enum', 'variable', 'module'))`,
    `CONSTRAINT "code_elements_name_check" CHECK ("name" <> '')`,
    `CONSTRAINT "code_elements_span_check" CHECK ("start_line" >= 1 AND "end_line" >= "start_line")`,
    reference('code_elements', 'snapshot_id', 'snapshots'),
    reference('code_elements', 'file_id', 'file_analysis'),
    reference('code_elements', 'parent_id', 'code_elements'),
  ],
};

const elementRelations: TenantTable = {
  table: 'codebase.element_relations',
  columns: {
    id: 'uuid NOT NULL DEFAULT gen_random_uuid()',
    snapshot_id: 'uuid NOT NULL',
    file_id: 'uuid NOT NULL',
    source_element_id: 'uuid',
    kind: 'character varying(16) NOT NULL',
    target_name: 'text NOT NULL',
    target_element_id: 'uuid',
    target_file_id: 'uuid',
    line: 'integer NOT NULL',
    ...timestamps,
  },
  constraints: [
    `CONSTRAINT "element_relations_kind_check" CHECK ("kind" IN ('calls', 'imports', 'extends', 'implements'))`,
    `CONSTRAINT "element_relations_target_name_check" CHECK ("target_name" <> '')`,
    reference('element_relations', 'snapshot_id', 'snapshots'),
    reference('element_relations', 'file_id', 'file_analysis'),
    reference('element_relations', 'source_element_id', 'code_elements'),
    reference('element_relations', 'target_element_id', 'code_elements'),
    reference('element_relations', 'target_file_id', 'file_analysis'),
  ],
};

const TABLES = [codebases, snapshots, fileAnalysis, codeElements, elementRelations];

const GROWING = ['codebase.file_analysis', 'codebase.code_elements', 'codebase.element_relations'];

const INDEXES: [string, string[]][] = [
  ['codebases', ['organization_id', 'repository_id']],
  ['snapshots', ['organization_id', 'codebase_id', 'started_at']],
  ['file_analysis', ['organization_id', 'snapshot_id', 'content_hash']],
  ['code_elements', ['organization_id', 'snapshot_id', 'qualified_name']],
  ['code_elements', ['organization_id', 'snapshot_id', 'name']],
  ['code_elements', ['organization_id', 'file_id']],
  ['code_elements', ['organization_id', 'parent_id']],
  ['element_relations', ['organization_id', 'snapshot_id', 'kind']],
  ['element_relations', ['organization_id', 'file_id']],
  ['element_relations', ['organization_id', 'source_element_id']],
  ['element_relations', ['organization_id', 'target_element_id']],
  ['element_relations', ['organization_id', 'target_file_id']],
];

/**
 * Schema `codebase` (created by the migration runner): codebases, their
 * snapshots, and per snapshot the files, code elements and relations the
 * analyzer found. Every table is a tenant table made by base's helper, and
 * every reference between them is composite on `organization_id`.
 */
export class CreateCodebaseSchema1796320000000 implements MigrationInterface {
  name = 'CreateCodebaseSchema1796320000000';

  async up(q: QueryRunner): Promise<void> {
    for (const table of TABLES) await createTenantTable(q, table);
    for (const [table, columns] of INDEXES) await q.query(index(table, columns));
    // A snapshot fills these tables in bulk and then resolves relations by joins: their plans need statistics that follow.
    for (const table of GROWING) await q.query(`SELECT base.enable_auto_analyze($1)`, [table]);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [...GROWING].reverse()) await q.query(`SELECT base.disable_auto_analyze($1)`, [table]);
    for (const [table, columns] of [...INDEXES].reverse())
      await q.query(`DROP INDEX "codebase"."${constraintName(table, columns, 'idx')}"`);
    for (const table of [...TABLES].reverse()) await dropTenantTable(q, table);
    await q.query(`REVOKE USAGE ON SCHEMA "codebase" FROM strata_app`);
  }
}
