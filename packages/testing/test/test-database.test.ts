import { baseModule } from '@strata/base';
import { randomBytes } from 'node:crypto';
import { catalogSnapshot, createTestDatabase, dropStaleDatabases } from '../src';

describe('test database provider', () => {
  it('gives each caller its own migrated database', async () => {
    const [a, b] = [await createTestDatabase({ modules: [baseModule] }), await createTestDatabase({ modules: [baseModule] })];
    try {
      expect(a.url).not.toEqual(b.url);
      const applied = await a.query<{ n: string }>('SELECT count(*) AS n FROM base.migrations');
      expect(Number(applied[0].n)).toBe(baseModule.migrations.length);
      await a.query(`INSERT INTO base.users (email, name) VALUES ('only-in-a@example.com', 'A')`);
      expect(await b.query(`SELECT * FROM base.users WHERE email = 'only-in-a@example.com'`)).toEqual([]);
      expect(await a.query(`SELECT name FROM base.users WHERE email = 'only-in-a@example.com'`)).toEqual([{ name: 'A' }]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('migrate: false gives an empty database', async () => {
    const db = await createTestDatabase({ modules: [baseModule], migrate: false });
    try {
      expect(await db.query(`SELECT nspname FROM pg_namespace WHERE nspname = 'base'`)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('catalog snapshots see every kind of object a migration makes', async () => {
    const db = await createTestDatabase({ modules: [baseModule] });
    try {
      const before = await catalogSnapshot(db, ['base']);
      for (const kind of ['table', 'column', 'constraint', 'index', 'policy', 'function', 'trigger', 'schema']) {
        expect(before.some((line) => line.startsWith(`${kind} `))).toBe(true);
      }
      await db.query(`CREATE INDEX users_name_idx ON base.users (name)`);
      const after = await catalogSnapshot(db, ['base']);
      expect(after.filter((line) => !before.includes(line))).toEqual([expect.stringContaining('users_name_idx')]);
    } finally {
      await db.close();
    }
  });

  it('drops test databases and templates left over for more than a day, and nothing else', async () => {
    const db = await createTestDatabase({ modules: [baseModule], migrate: false });
    const suffix = randomBytes(4).toString('hex');
    const [old, oldTemplate, fresh, unrelated] = ['strata_test_old', 'strata_tpl_old', 'strata_test_new', 'unrelated'].map(
      (n) => `${n}_${suffix}`,
    );
    const mark = (name: string, at: Date) =>
      db.query(`COMMENT ON DATABASE "${name}" IS 'strata test database created ${at.toISOString()}'`);
    const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
    try {
      for (const name of [old, oldTemplate, fresh, unrelated]) await db.query(`CREATE DATABASE "${name}"`);
      await mark(old, twoDaysAgo);
      await mark(oldTemplate, twoDaysAgo);
      await db.query(`ALTER DATABASE "${oldTemplate}" IS_TEMPLATE true`);
      await mark(fresh, new Date());
      await mark(unrelated, twoDaysAgo); // not a strata_t… name: never touched

      await dropStaleDatabases(db);

      const left = await db.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1`, [`%_${suffix}`]);
      expect(left.map((r) => r.datname)).toEqual([fresh, unrelated].sort());
    } finally {
      for (const name of [fresh, unrelated]) await db.query(`DROP DATABASE IF EXISTS "${name}"`);
      await db.close();
    }
  });
});
