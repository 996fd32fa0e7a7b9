import { EntityManager, EntityTarget, ObjectLiteral, QueryDeepPartialEntity } from 'typeorm';
import { hydrate } from '@strata/base';

/** Column values: plain entity fields, or SQL through functions (`archivedAt: () => 'now()'`). */
export type Values<T> = Partial<T> | QueryDeepPartialEntity<T>;

/** INSERT … RETURNING *: the row exactly as stored, defaults included, in one statement. */
export async function insertReturning<T extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<T>,
  values: Values<T>,
): Promise<T> {
  const result = await manager
    .createQueryBuilder()
    .insert()
    .into(entity)
    .values(values as QueryDeepPartialEntity<T>)
    .returning('*')
    .execute();
  return hydrate(manager, entity, result.raw)[0];
}

/**
 * UPDATE … WHERE … RETURNING * (updated_at is set by TypeORM): the updated row,
 * or undefined when no row matched, so a guarded update (`AND status = 'active'`)
 * is one atomic statement.
 */
export async function updateReturning<T extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<T>,
  values: Values<T>,
  where: string,
  parameters: ObjectLiteral,
): Promise<T | undefined> {
  const result = await manager
    .createQueryBuilder()
    .update(entity)
    .set(values as QueryDeepPartialEntity<T>)
    .where(where, parameters)
    .returning('*')
    .execute();
  return hydrate(manager, entity, result.raw)[0];
}
