import { randomBytes } from 'node:crypto';
import { MigrationInterface, QueryRunner } from 'typeorm';
import { StrataModule, baseModule, defineModule } from '@strata/base';
import { catalogSnapshot, createTestDatabase, expectEachMigrationReverts, TestDatabase } from '../src';

/** A module whose second migration changes a column's type and whose down restores `restored`. */
function retypingModule(name: string, column: string, created: string, changed: string, restored: string): StrataModule {
  class CreateSamples1800000000201 implements MigrationInterface {
    async up(q: QueryRunner) {
      await q.query(`CREATE TABLE ${name}.samples (id int PRIMARY KEY, ${column} ${created})`);
    }
    async down(q: QueryRunner) {
      await q.query(`DROP TABLE ${name}.samples`);
    }
  }
  class RetypeSamples1800000000202 implements MigrationInterface {
    async up(q: QueryRunner) {
      await q.query(`ALTER TABLE ${name}.samples ALTER COLUMN ${column} TYPE ${changed}`);
    }
    async down(q: QueryRunner) {
      await q.query(`ALTER TABLE ${name}.samples ALTER COLUMN ${column} TYPE ${restored}`);
    }
  }
  return defineModule({ name, entities: [], migrations: [CreateSamples1800000000201, RetypeSamples1800000000202] });
}

describe('catalog snapshots', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ modules: [baseModule] });
    await db.query('CREATE EXTENSION IF NOT EXISTS vector');
  });
  afterAll(async () => db?.close());

  it('see full column types: vector(768) is not vector(1536), numeric(10,4) is not numeric(12,2)', async () => {
    await db.query(
      `CREATE SCHEMA catalog_types; CREATE TABLE catalog_types.t (embedding vector(768), amount numeric(10,4), code varchar(8))`,
    );
    const before = await catalogSnapshot(db, ['catalog_types']);
    expect(before).toEqual(
      expect.arrayContaining([
        'column catalog_types.t.embedding vector(768) null=YES',
        'column catalog_types.t.amount numeric(10,4) null=YES',
        'column catalog_types.t.code character varying(8) null=YES',
      ]),
    );
    await db.query(`ALTER TABLE catalog_types.t ALTER COLUMN embedding TYPE vector(1536), ALTER COLUMN amount TYPE numeric(12,2)`);
    const after = await catalogSnapshot(db, ['catalog_types']);
    expect(after.filter((line) => !before.includes(line))).toEqual([
      'column catalog_types.t.amount numeric(12,2) null=YES',
      'column catalog_types.t.embedding vector(1536) null=YES',
    ]);
  });

  it('make a down that restores the wrong vector dimension or numeric precision fail the round trip', async () => {
    await expect(
      expectEachMigrationReverts(db, retypingModule('catalog_vector', 'embedding', 'vector(768)', 'vector(1536)', 'vector(1024)'), {
        requires: [baseModule],
      }),
    ).rejects.toThrow(/- .*embedding vector\(768\)[\s\S]*\+ .*embedding vector\(1024\)/);
    await expect(
      expectEachMigrationReverts(db, retypingModule('catalog_numeric', 'amount', 'numeric(10,4)', 'numeric(12,4)', 'numeric(12,2)'), {
        requires: [baseModule],
      }),
    ).rejects.toThrow(/- .*amount numeric\(10,4\)[\s\S]*\+ .*amount numeric\(12,2\)/);
    // The same module with the right down passes.
    await expectEachMigrationReverts(db, retypingModule('catalog_right', 'embedding', 'vector(768)', 'vector(1536)', 'vector(768)'), {
      requires: [baseModule],
    });
  });

  it('see owners and the memberships between the roles the objects name', async () => {
    const suffix = randomBytes(4).toString('hex');
    const [owner, reader] = [`catalog_owner_${suffix}`, `catalog_reader_${suffix}`];
    const [{ me }] = await db.query<{ me: string }>('SELECT current_user AS me');
    await db.query(
      `CREATE SCHEMA catalog_roles; CREATE TABLE catalog_roles.t (id int); CREATE FUNCTION catalog_roles.f() RETURNS int LANGUAGE sql AS 'SELECT 1'`,
    );
    await db.query(`CREATE ROLE ${owner} NOLOGIN; CREATE ROLE ${reader} NOLOGIN; GRANT SELECT ON catalog_roles.t TO ${reader}`);
    try {
      const before = await catalogSnapshot(db, ['catalog_roles']);
      expect(before.find((line) => line.startsWith('table catalog_roles.t '))).toContain(`owner=${me}`);
      expect(before.find((line) => line.startsWith('schema catalog_roles '))).toContain(`owner=${me}`);

      await db.query(`ALTER TABLE catalog_roles.t OWNER TO ${owner}`);
      await db.query(`ALTER FUNCTION catalog_roles.f() OWNER TO ${owner}`);
      await db.query(`GRANT ${reader} TO ${owner}`);
      const after = await catalogSnapshot(db, ['catalog_roles']);
      const changed = after.filter((line) => !before.includes(line));
      expect(changed.filter((line) => line.startsWith('table catalog_roles.t '))).toEqual([expect.stringContaining(`owner=${owner}`)]);
      expect(changed.filter((line) => line.startsWith('function '))).toEqual([expect.stringContaining(`owner=${owner}`)]);
      expect(changed.filter((line) => line.startsWith('membership '))).toEqual([`membership ${reader} member=${owner} admin=false`]);

      // Undone exactly, the snapshot is the one from before.
      await db.query(`REVOKE ${reader} FROM ${owner}`);
      await db.query(`ALTER TABLE catalog_roles.t OWNER TO ${me}; ALTER FUNCTION catalog_roles.f() OWNER TO ${me}`);
      expect(await catalogSnapshot(db, ['catalog_roles'])).toEqual(before);
    } finally {
      await db.query(`DROP SCHEMA catalog_roles CASCADE`);
      await db.query(`DROP ROLE ${owner}; DROP ROLE ${reader}`);
    }
  });
});
