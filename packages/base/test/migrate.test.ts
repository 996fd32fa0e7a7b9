import { DataSourceOptions } from 'typeorm';
import { createTestDatabase, TestDatabase } from '@strata/testing';
import { ConfigurationError, MigrationRunner, baseModule, createDataSource, migrate, openDatabase } from '../src';

describe('migrate() for applications that migrate at start-up', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ modules: [baseModule], migrate: false });
  });
  afterAll(async () => db?.close());

  const latest = baseModule.migrations[baseModule.migrations.length - 1].name;
  const history = async () => (await db.query<{ name: string }>('SELECT name FROM base.migrations ORDER BY id')).map((r) => r.name);
  // Each form must reach this very database: the latest migration is taken back, and the form applies it again.
  const revertLatest = () => new MigrationRunner({ url: db.url }).down(baseModule);

  it('takes a URL, applies every pending migration once and nothing the second time', async () => {
    const lines: string[] = [];
    const [first] = await migrate(db.url, [baseModule], { log: (line) => lines.push(line) });
    expect(first).toEqual({ module: 'base', applied: baseModule.migrations.map((m) => m.name) });
    expect(lines[0]).toBe('base: applying CreateCoreSchema1795443100000');
    expect(await migrate(db.url, [baseModule])).toEqual([{ module: 'base', applied: [] }]);
    expect(await history()).toEqual(baseModule.migrations.map((m) => m.name));
  });

  it("takes the application's DataSource, initialized or not, and leaves it as it was", async () => {
    const dataSource = createDataSource({ url: db.url, poolSize: 1 });
    await revertLatest();
    expect(await migrate(dataSource, [baseModule])).toEqual([{ module: 'base', applied: [latest] }]);
    expect(dataSource.isInitialized).toBe(false);

    await dataSource.initialize();
    try {
      await revertLatest();
      expect(await migrate(dataSource, [baseModule])).toEqual([{ module: 'base', applied: [latest] }]);
      expect(await dataSource.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
    } finally {
      await dataSource.destroy();
    }
  });

  it('takes DataSource options with host, port, user and database instead of a URL', async () => {
    const url = new URL(db.url);
    const options: DataSourceOptions = {
      type: 'postgres',
      host: url.hostname,
      port: Number(url.port),
      username: decodeURIComponent(url.username),
      password: async () => decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname.slice(1)),
    };
    await revertLatest();
    expect(await migrate(options, [baseModule])).toEqual([{ module: 'base', applied: [latest] }]);
    expect(await history()).toEqual(baseModule.migrations.map((m) => m.name));
  });

  it('takes an open Database', async () => {
    const database = await openDatabase({ kind: 'server', url: db.url });
    await revertLatest();
    expect(await migrate(database, [baseModule])).toEqual([{ module: 'base', applied: [latest] }]);
  });

  it('refuses what is not PostgreSQL, before connecting', async () => {
    await expect(migrate('mysql://localhost/app', [baseModule])).rejects.toThrow(ConfigurationError);
    await expect(migrate({ type: 'mysql', host: 'localhost' }, [baseModule])).rejects.toThrow(
      /needs a PostgreSQL database, got type "mysql"/,
    );
  });
});
