import type { Pool, PoolClient } from 'pg';
import { QueryFailedError } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { useTestDatabase } from '@strata/testing';
import { ConflictError, baseModule, createDataSource, queryPrepared, translateDatabaseError } from '../src';

describe('queryPrepared', () => {
  const db = useTestDatabase({ modules: [baseModule] });

  const connect = () => createDataSource({ url: db.url, poolSize: 1 }).initialize();

  it('prepares a statement once per connection and then only executes it', async () => {
    const dataSource = await connect();
    try {
      const text = 'SELECT $1::int * 2 AS doubled';
      for (const n of [1, 2, 3]) expect(await queryPrepared(dataSource, text, [n])).toEqual([{ doubled: n * 2 }]);
      // The pool has one connection: this runs on the one that prepared the statement.
      const prepared = await dataSource.query('SELECT name FROM pg_prepared_statements WHERE statement = $1', [text]);
      expect(prepared).toHaveLength(1);
      expect(prepared[0].name).toMatch(/^strata_prepared_\d+$/);
    } finally {
      await dataSource.destroy();
    }
  });

  it('two connections preparing the same statement never collide (the embedded database shares one session)', async () => {
    const [first, second] = await Promise.all([connect(), connect()]);
    try {
      const text = 'SELECT $1::text AS echoed';
      for (const word of ['a', 'b', 'c']) {
        expect(await queryPrepared(first, text, [`${word}1`])).toEqual([{ echoed: `${word}1` }]);
        expect(await queryPrepared(second, text, [`${word}2`])).toEqual([{ echoed: `${word}2` }]);
      }
    } finally {
      await Promise.all([first.destroy(), second.destroy()]);
    }
  });

  it('fails as DataSource.query does, so database errors translate the same way; the connection stays usable', async () => {
    const dataSource = await connect();
    try {
      const error = await queryPrepared(dataSource, 'SELECT 1 / $1::int AS q', [0]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QueryFailedError);
      expect((error as QueryFailedError & { driverError: { code: string } }).driverError.code).toBe('22012');
      expect(await queryPrepared(dataSource, 'SELECT 1 / $1::int AS q', [1])).toEqual([{ q: 1 }]);

      const insert = `INSERT INTO base.organizations (name, slug) VALUES ($1, $2) RETURNING slug`;
      expect(await queryPrepared(dataSource, insert, ['Prepared', 'prepared'])).toEqual([{ slug: 'prepared' }]);
      const duplicate = await queryPrepared(dataSource, insert, ['Again', 'prepared']).catch((e: unknown) => e);
      expect(() => translateDatabaseError(duplicate, 'organization')).toThrow(ConflictError);
    } finally {
      await dataSource.destroy();
    }
  });

  it('a connection that breaks mid-statement fails that call only: the pool drops it and the next call gets a new one', async () => {
    const dataSource = await connect();
    try {
      const pool = (dataSource.driver as PostgresDriver).master as Pool;
      // Cut the socket of the connection the call is about to use, as a network failure would.
      pool.once('acquire', (client: PoolClient) => {
        setImmediate(() => (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy());
      });
      const error = await queryPrepared(dataSource, 'SELECT pg_sleep(0.2) AS slept', []).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(QueryFailedError);
      expect(await queryPrepared(dataSource, 'SELECT $1::int AS one', [1])).toEqual([{ one: 1 }]);
    } finally {
      await dataSource.destroy();
    }
  });
});
