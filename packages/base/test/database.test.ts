import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { useTestDatabase } from '@strata/testing';
import { ConfigurationError, DEFAULT_DATA_DIR, baseModule, resolveDatabaseTarget } from '../src';

const run = promisify(execFile);
const OPEN_DATABASE = join(__dirname, 'fixtures', 'open-database.js');

describe('resolveDatabaseTarget', () => {
  it('DATABASE_URL selects that server; without it, the embedded database in STRATA_DATA_DIR or the default directory', () => {
    expect(resolveDatabaseTarget({ DATABASE_URL: ' postgres://app@db/strata ' })).toEqual({
      kind: 'server',
      url: 'postgres://app@db/strata',
    });
    expect(resolveDatabaseTarget({ STRATA_DATA_DIR: '/var/lib/strata' })).toEqual({ kind: 'embedded', dataDir: '/var/lib/strata' });
    expect(resolveDatabaseTarget({ STRATA_DATA_DIR: 'memory://' })).toEqual({ kind: 'embedded', dataDir: 'memory://' });
    expect(resolveDatabaseTarget({})).toEqual({ kind: 'embedded', dataDir: join(process.cwd(), DEFAULT_DATA_DIR) });
    expect(() => resolveDatabaseTarget({ DATABASE_URL: 'mysql://app:secret@db/strata' })).toThrow(/postgres:\/\/.*app:\*\*\*@db/);
  });

  it('refuses to fall back to the embedded database in production unless STRATA_DATA_DIR asks for it', () => {
    const refusal = (() => {
      try {
        resolveDatabaseTarget({ NODE_ENV: 'production' });
      } catch (err) {
        return err;
      }
    })();
    expect(refusal).toBeInstanceOf(ConfigurationError);
    expect((refusal as Error).message).toMatch(/NODE_ENV is production but DATABASE_URL is not set/);
    expect((refusal as Error).message).toMatch(/STRATA_DATA_DIR/);
    expect(() => resolveDatabaseTarget({ NODE_ENV: 'production', DATABASE_URL: '', STRATA_DATA_DIR: ' ' })).toThrow(ConfigurationError);

    expect(resolveDatabaseTarget({ NODE_ENV: 'production', DATABASE_URL: 'postgres://app@db/strata' })).toEqual({
      kind: 'server',
      url: 'postgres://app@db/strata',
    });
    expect(resolveDatabaseTarget({ NODE_ENV: 'production', STRATA_DATA_DIR: '/var/lib/strata' })).toEqual({
      kind: 'embedded',
      dataDir: '/var/lib/strata',
    });
    expect(resolveDatabaseTarget({ NODE_ENV: 'development' })).toMatchObject({ kind: 'embedded' });
  });
});

describe('PGlite is loaded only when the embedded database is selected', () => {
  // The test database stands in for the application's server: to the child it is just a postgres:// URL.
  const db = useTestDatabase({ modules: [baseModule], migrate: false });

  async function openInChild(env: NodeJS.ProcessEnv): Promise<{ kind: string; one: number; pglite: string[] }> {
    const { DATABASE_URL: _url, STRATA_DATA_DIR: _dir, NODE_ENV: _mode, ...rest } = process.env;
    const { stdout } = await run(process.execPath, [OPEN_DATABASE], { env: { ...rest, ...env } });
    return JSON.parse(stdout);
  }

  it('an application on a server never loads it', async () => {
    const server = await openInChild({ DATABASE_URL: db.url });
    expect(server).toEqual({ kind: 'server', one: 1, pglite: [] });
  });

  it('the embedded database loads it (so the check above can see a loaded PGlite)', async () => {
    const embedded = await openInChild({ STRATA_DATA_DIR: 'memory://' });
    expect(embedded).toMatchObject({ kind: 'embedded', one: 1 });
    expect(embedded.pglite.some((file) => file.includes('@electric-sql/pglite/'))).toBe(true);
    expect(embedded.pglite.some((file) => file.includes('@electric-sql/pglite-socket/'))).toBe(true);
  });
});
