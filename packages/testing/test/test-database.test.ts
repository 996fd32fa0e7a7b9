import { baseModule } from '@strata/base';
import { catalogSnapshot, createTestDatabase } from '../src';

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
});
