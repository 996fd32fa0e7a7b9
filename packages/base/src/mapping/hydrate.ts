import { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';

/**
 * Turns rows of a raw query (`RETURNING *`, snake_case columns) into entity
 * instances, converting values the way TypeORM's own reads do. Services use raw
 * SQL where one statement must do the work (claiming a queue, bulk inserts)
 * and still hand callers the module's entity types.
 */
export function hydrate<T extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<T>, rows: Record<string, unknown>[]): T[] {
  const metadata = manager.connection.getMetadata(entity);
  const driver = manager.connection.driver;
  return rows.map((row) => {
    const instance = metadata.create() as T;
    for (const column of metadata.columns) {
      if (!(column.databaseName in row)) continue;
      column.setEntityValue(instance, driver.prepareHydratedValue(row[column.databaseName], column));
    }
    return instance;
  });
}
