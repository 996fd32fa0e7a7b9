import { MigrationInterface } from 'typeorm';

/** A time-partitioned table and how base maintains it: what a migration registers (see base.partition_policies). */
export interface PartitionPolicy {
  /** Schema-qualified parent table, e.g. `tasks.task_executions`. */
  table: string;
  /** The range-partitioning column (part of the primary key). */
  column: string;
  interval: 'day' | 'week' | 'month';
  /** Partitions kept ready ahead of now. */
  premake: number;
  /** Partitions wholly older than this (a PostgreSQL interval, e.g. `'12 months'`) are retired. */
  retention?: string;
  retentionMode?: 'drop' | 'detach';
}

export type MigrationClass = new () => MigrationInterface;
// TypeORM entity classes are plain constructors.
// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export type EntityClass = Function;

export interface StrataModuleDefinition {
  /** Module name = package name suffix = PostgreSQL schema. Lower snake_case. */
  name: string;
  /** Modules whose migrations must run first (base is implied for every module but base). */
  requires?: string[];
  entities: EntityClass[];
  /**
   * Migration classes in order; each name ends with its 13-digit timestamp.
   * Partition policies are declared there, once (`createTenantTable({ partition })` or
   * `registerPartitionedTable()`), since a policy is history like any DDL:
   * base.partition_policies holds the live ones.
   */
  migrations: MigrationClass[];
}

export interface StrataModule extends Required<StrataModuleDefinition> {
  readonly kind: 'strata-module';
}

const MODULE_NAME = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Declares a Strata module. Explicit arrays (no globs) so a module's contents are
 * visible in one place and bundlers / tsc see every file.
 */
export function defineModule(definition: StrataModuleDefinition): StrataModule {
  if (!MODULE_NAME.test(definition.name)) {
    throw new Error(`Module name "${definition.name}" must be lower snake_case (it is the PostgreSQL schema name)`);
  }
  const requires = definition.name === 'base' ? [] : ['base', ...(definition.requires ?? []).filter((m) => m !== 'base')];
  for (const migration of definition.migrations) {
    if (!/\d{13}$/.test(migration.name)) {
      throw new Error(`Migration class ${migration.name} in module ${definition.name} must end with a 13-digit timestamp`);
    }
  }
  return { kind: 'strata-module', ...definition, requires };
}

export function isStrataModule(value: unknown): value is StrataModule {
  return typeof value === 'object' && value !== null && (value as StrataModule).kind === 'strata-module';
}

/** Orders modules so every module comes after the modules it requires. */
export function orderModules(modules: StrataModule[]): StrataModule[] {
  const byName = new Map(modules.map((m) => [m.name, m]));
  const ordered: StrataModule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (module: StrataModule, path: string[]): void => {
    if (state.get(module.name) === 'done') return;
    if (state.get(module.name) === 'visiting') {
      throw new Error(`Module dependency cycle: ${[...path, module.name].join(' → ')}`);
    }
    state.set(module.name, 'visiting');
    for (const dependency of module.requires) {
      const required = byName.get(dependency);
      if (!required) throw new Error(`Module ${module.name} requires module ${dependency}, which is not installed`);
      visit(required, [...path, module.name]);
    }
    state.set(module.name, 'done');
    ordered.push(module);
  };
  for (const module of modules) visit(module, []);
  return ordered;
}
