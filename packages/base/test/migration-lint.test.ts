import { join } from 'node:path';
import { MigrationInterface, QueryRunner } from 'typeorm';
import { createTestDatabase, TestDatabase } from '@strata/testing';
import { defineModule, formatLint, lintMigrations } from '../src';

const workspace = join(__dirname, '..', '..', '..'); // its .squawk.toml and squawk-cli

class CreateOrders1800000000301 implements MigrationInterface {
  async up(q: QueryRunner) {
    await q.query('CREATE TABLE lint_test.orders (id bigint PRIMARY KEY, customer text NOT NULL)');
    await q.query('CREATE INDEX orders_customer_idx ON lint_test.orders (customer)'); // a new table: nothing waits on it
  }
  async down(q: QueryRunner) {
    await q.query('DROP TABLE lint_test.orders');
  }
}
class IndexOrdersBlocking1800000000302 implements MigrationInterface {
  async up(q: QueryRunner) {
    await q.query('ALTER TABLE lint_test.orders ADD COLUMN placed_at timestamptz');
    await q.query('CREATE INDEX orders_placed_at_idx ON lint_test.orders (placed_at)'); // blocks writes to a live table
  }
  async down(q: QueryRunner) {
    await q.query('DROP INDEX lint_test.orders_placed_at_idx');
    await q.query('ALTER TABLE lint_test.orders DROP COLUMN placed_at');
  }
}
class IndexOrdersConcurrently1800000000303 implements MigrationInterface {
  transaction = false;
  async up(q: QueryRunner) {
    await q.query('CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_customer_placed_at_idx ON lint_test.orders (customer, placed_at)');
  }
  async down(q: QueryRunner) {
    await q.query('DROP INDEX CONCURRENTLY lint_test.orders_customer_placed_at_idx');
  }
}
class CreateOrderNotes1800000000304 implements MigrationInterface {
  async up(q: QueryRunner) {
    await q.query('CREATE FUNCTION lint_test.note() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$');
  }
  async down(q: QueryRunner) {
    await q.query('DROP FUNCTION lint_test.note()');
  }
}

describe('migration lint (squawk)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ modules: [], migrate: false });
  });
  afterAll(async () => db?.close());

  it('lints the SQL of each migration that changes an existing table, and skips the ones that only create', async () => {
    const module = {
      ...defineModule({
        name: 'lint_test',
        entities: [],
        migrations: [
          CreateOrders1800000000301,
          IndexOrdersBlocking1800000000302,
          IndexOrdersConcurrently1800000000303,
          CreateOrderNotes1800000000304,
        ],
      }),
      requires: [],
    };
    const report = await lintMigrations(db.url, module, [module], { cwd: workspace });

    expect(report.squawk).toMatch(/^squawk \d+\.\d+\.\d+$/);
    expect(report.skipped).toEqual(['CreateOrders1800000000301', 'CreateOrderNotes1800000000304']);
    expect(report.linted.map((m) => [m.name, m.changes])).toEqual([
      ['IndexOrdersBlocking1800000000302', ['lint_test.orders']],
      ['IndexOrdersConcurrently1800000000303', ['lint_test.orders']],
    ]);
    // What squawk read is what ran, after the lock_timeout the runner sets.
    expect(report.linted[0].sql.split('\n').slice(1, 4)).toEqual([
      "SET lock_timeout = '10s'; -- the runner sets it for its session before every migration",
      'ALTER TABLE lint_test.orders ADD COLUMN placed_at timestamptz;',
      'CREATE INDEX orders_placed_at_idx ON lint_test.orders (placed_at);',
    ]);
    // The blocking index is found, on its line; the concurrent one (outside a transaction) is not.
    expect(report.findings).toEqual([
      expect.objectContaining({ migration: 'IndexOrdersBlocking1800000000302', rule: 'require-concurrent-index-creation', line: 4 }),
    ]);
    expect(formatLint(report)).toMatch(
      /✗ IndexOrdersBlocking1800000000302 \(changes lint_test\.orders\)\n\s+require-concurrent-index-creation \(line 4\)/,
    );
    // The migrations really ran: the lint is a migrate on a scratch database.
    expect(await db.query(`SELECT count(*)::int AS n FROM lint_test.migrations`)).toEqual([{ n: 4 }]);
  });
});
