import { createHash } from 'node:crypto';
import { DefaultNamingStrategy, NamingStrategyInterface, Table } from 'typeorm';

const MAX_IDENTIFIER = 63; // PostgreSQL's NAMEDATALEN - 1

export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/[\s-]+/g, '_')
    .toLowerCase();
}

/** English plural good enough for table names: analysis → analyses, policy → policies. */
export function pluralize(word: string): string {
  if (/(s|x|z|ch|sh)$/.test(word)) return /is$/.test(word) ? word.replace(/is$/, 'es') : `${word}es`;
  if (/[^aeiou]y$/.test(word)) return word.replace(/y$/, 'ies');
  return `${word}s`;
}

/** `<table>_<cols>_<suffix>`, shortened with a stable hash when it would pass 63 bytes. */
export function constraintName(table: string, columns: string[], suffix: string): string {
  const full = [table, ...columns, suffix].join('_');
  if (full.length <= MAX_IDENTIFIER) return full;
  const hash = createHash('sha1').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, MAX_IDENTIFIER - suffix.length - 10)}_${hash}_${suffix}`;
}

function bareTableName(tableOrName: Table | string): string {
  const name = typeof tableOrName === 'string' ? tableOrName : tableOrName.name;
  return name.split('.').pop()!.replace(/"/g, '');
}

/**
 * One naming convention for every module: plural snake_case tables, snake_case
 * columns, and constraint/index names that say what they are
 * (`tasks_project_id_fkey`, `tasks_status_priority_idx`, `users_email_key`),
 * matching what PostgreSQL itself would pick for hand-written DDL.
 */
export class StrataNamingStrategy extends DefaultNamingStrategy implements NamingStrategyInterface {
  override tableName(targetName: string, userSpecifiedName: string | undefined): string {
    return userSpecifiedName ?? pluralize(snakeCase(targetName));
  }

  override columnName(propertyName: string, customName: string | undefined, embeddedPrefixes: string[]): string {
    return snakeCase([...embeddedPrefixes, customName ?? propertyName].join('_'));
  }

  override joinColumnName(relationName: string, referencedColumnName: string): string {
    return snakeCase(`${relationName}_${referencedColumnName}`);
  }

  override primaryKeyName(tableOrName: Table | string): string {
    return constraintName(bareTableName(tableOrName), [], 'pkey');
  }

  override uniqueConstraintName(tableOrName: Table | string, columnNames: string[]): string {
    return constraintName(bareTableName(tableOrName), columnNames, 'key');
  }

  override relationConstraintName(tableOrName: Table | string, columnNames: string[]): string {
    return constraintName(bareTableName(tableOrName), columnNames, 'key');
  }

  override foreignKeyName(tableOrName: Table | string, columnNames: string[]): string {
    return constraintName(bareTableName(tableOrName), columnNames, 'fkey');
  }

  override indexName(tableOrName: Table | string, columnNames: string[]): string {
    return constraintName(bareTableName(tableOrName), columnNames, 'idx');
  }

  override checkConstraintName(tableOrName: Table | string, expression: string, isEnum?: boolean): string {
    // Name a check after the first column it mentions; a hash keeps two checks on one column apart.
    const column = /"?([a-z_][a-z0-9_]*)"?/.exec(expression)?.[1] ?? 'expr';
    const hash = createHash('sha1').update(expression).digest('hex').slice(0, 6);
    return constraintName(bareTableName(tableOrName), [column, isEnum ? 'enum' : hash], 'check');
  }

  override exclusionConstraintName(tableOrName: Table | string, expression: string): string {
    const hash = createHash('sha1').update(expression).digest('hex').slice(0, 6);
    return constraintName(bareTableName(tableOrName), [hash], 'excl');
  }

  override defaultConstraintName(tableOrName: Table | string, columnName: string): string {
    return constraintName(bareTableName(tableOrName), [columnName], 'default');
  }
}
